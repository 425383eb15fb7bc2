"""Every API route, called by every kind of token holder.

The matrix must name every route the API has, and every method of it: a new route
without a row fails `test_every_api_route_is_in_the_matrix`. Each principal holds a
token with the submit scope (a read token's refusals are in test_auth.py); "anonymous"
sends none. The outsider is owner, researcher and checker of another workspace.
"""

import pytest
from django.urls import URLResolver, get_resolver

from api.main import api
from jobs.models import Job, ReleaseRequest
from privacy import services as privacy_services
from privacy.models import PrivateQuestion
from tests.api.conftest import ROOT, ApiClient, make_token

PRINCIPALS = ["anonymous", "outsider", "owner", "researcher", "checker"]


def expect(anonymous, outsider, owner, researcher, checker):
    return dict(zip(PRINCIPALS, [anonymous, outsider, owner, researcher, checker], strict=True))


W = "/workspaces/{slug}"
J = W + "/jobs/{job_id}"
DRY_RUN = {"script": "print(1)", "datasets": ["admissions"], "mode": "dry_run"}
RELEASE = {"outputs": ["by_ward"], "justification": "Table 1."}
P = W + "/datasets/{name}/privacy"
Q = W + "/questions/{question_id}"
QUESTION = {"statistic": "count", "by": ["ward"], "epsilon": 0.1}
SIGN_IN = 302  # to the portal's sign-in page

# name: (method, path as the OpenAPI schema writes it, body, status per principal)
# fmt: off
MATRIX = {
    "me": ("get", "/me", None, expect(401, 200, 200, 200, 200)),
    "workspaces": ("get", "/workspaces", None, expect(401, 200, 200, 200, 200)),
    "datasets": ("get", W + "/datasets", None, expect(401, 404, 403, 200, 200)),
    "sample": ("get", W + "/datasets/{name}/sample.csv", None, expect(401, 404, 403, 200, 200)),
    "jobs": ("get", W + "/jobs", None, expect(401, 404, 403, 200, 200)),
    "jobs#submit": ("post", W + "/jobs", DRY_RUN, expect(401, 404, 403, 201, 403)),
    "job": ("get", J, None, expect(401, 404, 403, 200, 200)),
    "job_wait": ("get", J + "/wait", None, expect(401, 404, 403, 200, 200)),
    "output": ("get", J + "/outputs/{output_id}", None, expect(401, 404, 403, 200, 200)),
    # a real run of the researcher's (the job_id here is its)
    "release_new": ("post", J + "/release", RELEASE, expect(401, 404, 403, 201, 403)),
    "release": ("get", W + "/releases/{release_id}", None, expect(401, 404, 403, 200, 200)),
    # Differential privacy: checkers see budgets and answers, but neither preview nor ask.
    "privacy": ("get", P, None, expect(401, 404, 403, 200, 200)),
    "privacy_accuracy": ("get", P + "/accuracy", None, expect(401, 404, 403, 200, 403)),
    "question_new": ("post", P + "/questions", QUESTION, expect(401, 404, 403, 201, 403)),
    "question": ("get", Q, None, expect(401, 404, 403, 200, 200)),
    "question_wait": ("get", Q + "/wait", None, expect(401, 404, 403, 200, 200)),
    # The portal's pages under the API's root: a token opens neither.
    "openapi-view": ("get", "/docs", None, expect(*[SIGN_IN] * 5)),
    "openapi-json": ("get", "/openapi.json", None, expect(*[SIGN_IN] * 5)),
    "api-root": ("get", "/", None, expect(*[404] * 5)),
}
# fmt: on
PORTAL_PAGES = {"openapi-view", "openapi-json", "api-root"}


def api_url_names(patterns=None, inside=False):
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            names |= api_url_names(pattern.url_patterns, inside or pattern.namespace == "api")
        elif inside:
            names.add(pattern.name)
    return names


def test_every_api_route_is_in_the_matrix():
    assert api_url_names() == {name.split("#")[0] for name in MATRIX}


def test_every_method_of_every_route_is_in_the_matrix():
    schema = api.get_openapi_schema()
    operations = {
        (method, path.removeprefix(ROOT))
        for path, methods in schema["paths"].items()
        for method in methods
    }
    listed = {
        (method, path)
        for name, (method, path, _, _) in MATRIX.items()
        if name.split("#")[0] not in PORTAL_PAGES
    }
    assert operations == listed


CASES = [(name, principal) for name in MATRIX for principal in PRINCIPALS]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "principal"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_api_matrix(
    request, django_capture_on_commit_callbacks, name, principal, workspace, owner, researcher,
    checker, outsider, ready_version, finished_job,
):  # fmt: skip
    method, path, body, expected = MATRIX[name]
    ctx = {
        "slug": workspace.slug,
        "name": ready_version.dataset.name,
        "job_id": finished_job.pk,
        "output_id": finished_job.outputs.get().pk,
    }
    if name == "release_new":
        ctx["job_id"] = request.getfixturevalue("real_job").pk
    if "{release_id}" in path:
        ctx["release_id"] = request.getfixturevalue("release_request").pk
    if "/privacy" in path or "{question_id}" in path:
        budget = request.getfixturevalue("privacy_budget")
    if "{question_id}" in path:
        ctx["question_id"] = answered_question(budget, request.getfixturevalue("researcher")).pk
    if name == "privacy_accuracy":
        path += "?statistic=count&by=ward&epsilon=0.5"
    client = (
        ApiClient()
        if principal == "anonymous"
        else ApiClient(make_token(request.getfixturevalue(principal)))
    )
    before = made()

    with django_capture_on_commit_callbacks():  # no task or e-mail is sent
        url = ROOT + path.format(**ctx)
        response = (
            client.get(url) if method == "get" else client.post(url, body, "application/json")
        )

    assert response.status_code == expected[principal], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"detail"}
    if method == "post" and response.status_code != 201:
        assert made() == before


def made():
    """What a refused POST must not have made: jobs, release requests, spends."""
    return (Job.objects.count(), ReleaseRequest.objects.count(), PrivateQuestion.objects.count())


def answered_question(budget, researcher):
    """A question of the researcher's, answered in-process (no worker: the test's
    on_commit callbacks never run), so that /wait answers at once."""
    question = privacy_services.ask_question(
        version=budget.version,
        by=researcher,
        question=privacy_services.question_of(statistic="count", epsilon="0.1", by=["ward"]),
    )
    return privacy_services.answer_question(question_id=question.pk)
