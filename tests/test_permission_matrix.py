"""Every portal URL, walked as every kind of visitor.

The matrix must name every URL the project routes (the admin and the JSON API aside,
which have a row each): a new page without a row here fails
`test_every_url_is_in_the_matrix`. Each visitor signs in as a person does, with a
password and a code from their authenticator app.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from jobs.models import Job, ReleaseRequest, SupportingFile, Vote
from privacy.models import PrivacyBudget, PrivateQuestion
from tests.auth import sign_in
from workspaces.models import Dataset, DatasetVersion, Membership, SyntheticSample

PRINCIPALS = ["anonymous", "outsider", "site_admin", "owner", "researcher", "checker"]

OK, REDIRECT, LOGIN, FORBIDDEN, NOT_FOUND = "ok", "redirect", "login", "forbidden", "not found"
# Short aliases keep the matrix readable: NO is a 403, HIDDEN a 404.
NO, HIDDEN = FORBIDDEN, NOT_FOUND


def expect(anonymous, outsider, site_admin, owner, researcher, checker):
    return dict(
        zip(PRINCIPALS, [anonymous, outsider, site_admin, owner, researcher, checker], strict=True)
    )


def csv_file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("wards.csv", b"ward,beds\ncardiology,12\nrenal,8\n")


A = "/accounts"
F = A + "/2fa"
W = "/workspaces/cardiac"
D = W + "/datasets/{dataset}"
V = D + "/v{version}"
J = W + "/jobs/{job}"
R = W + "/releases/{release}"
ERASE = {"reason": "test", "confirm": "on"}

# name: (method, path with {placeholders}, POST data or a function of ctx, outcome per principal)
# fmt: off
MATRIX = {
    "home": ("get", "/", None, expect(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    "health": ("get", "/health/", None, expect(OK, OK, OK, OK, OK, OK)),
    # --- signing in, and one's own account (allauth): everyone's own, nobody else's -------
    "account_login": ("get", A + "/login/", None,
                      expect(OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    "account_logout": ("post", A + "/logout/", None,
                       expect(REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    "account_signup": ("get", A + "/signup/", None, expect(OK, *[REDIRECT] * 5)),  # closed
    "account_inactive": ("get", A + "/inactive/", None, expect(*[OK] * 6)),
    "account_reauthenticate": ("get", A + "/reauthenticate/", None, expect(LOGIN, *[OK] * 5)),
    "account_request_reauthentication_code": ("get", A + "/reauthenticate/code/", None,
                                              expect(LOGIN, *[REDIRECT] * 5)),
    "account_confirm_reauthentication_code": ("get", A + "/reauthenticate/code/confirm/",
                                              None, expect(LOGIN, *[REDIRECT] * 5)),
    "account_confirm_login_code": ("get", A + "/login/code/confirm/", None,
                                   expect(*[REDIRECT] * 6)),
    "account_email": ("get", A + "/email/", None, expect(LOGIN, *[OK] * 5)),
    "account_email_verification_sent": ("get", A + "/confirm-email/", None,
                                        expect(*[OK] * 6)),
    "account_confirm_email": ("get", A + "/confirm-email/not-a-key/", None,
                              expect(*[OK] * 6)),
    "account_change_password": ("get", A + "/password/change/", None,
                                expect(LOGIN, *[OK] * 5)),
    "account_set_password": ("get", A + "/password/set/", None,
                             expect(LOGIN, *[REDIRECT] * 5)),
    "account_reset_password": ("get", A + "/password/reset/", None, expect(*[OK] * 6)),
    "account_reset_password_done": ("get", A + "/password/reset/done/", None,
                                    expect(*[OK] * 6)),
    "account_reset_password_from_key": ("get", A + "/password/reset/key/1-not-a-key/", None,
                                        expect(*[OK] * 6)),
    "account_reset_password_from_key_done": ("get", A + "/password/reset/key/done/", None,
                                             expect(*[OK] * 6)),
    "accounts:second_factor": ("get", A + "/second-factor/", None,
                               expect(LOGIN, *[REDIRECT] * 5)),  # all have one already
    # API tokens: everyone manages their own; someone else's is not there to revoke.
    "accounts:tokens": ("get", A + "/tokens/", None, expect(LOGIN, *[OK] * 5)),
    "accounts:token_revoke": ("post", A + "/tokens/{token}/revoke/", None,
                              expect(LOGIN, *[HIDDEN] * 5)),
    "mfa_index": ("get", F + "/", None, expect(LOGIN, *[OK] * 5)),
    "mfa_authenticate": ("get", F + "/authenticate/", None, expect(*[REDIRECT] * 6)),
    "mfa_reauthenticate": ("get", F + "/reauthenticate/", None, expect(LOGIN, *[OK] * 5)),
    "mfa_activate_totp": ("get", F + "/totp/activate/", None,
                          expect(LOGIN, *[REDIRECT] * 5)),  # active already
    "mfa_deactivate_totp": ("get", F + "/totp/deactivate/", None, expect(LOGIN, *[OK] * 5)),
    "mfa_view_recovery_codes": ("get", F + "/recovery-codes/", None,
                                expect(LOGIN, *[OK] * 5)),
    "mfa_generate_recovery_codes": ("get", F + "/recovery-codes/generate/", None,
                                    expect(LOGIN, *[OK] * 5)),
    "mfa_download_recovery_codes": ("get", F + "/recovery-codes/download/", None,
                                    expect(LOGIN, *[OK] * 5)),
    "mfa_list_webauthn": ("get", F + "/webauthn/", None, expect(LOGIN, *[OK] * 5)),
    "mfa_add_webauthn": ("get", F + "/webauthn/add/", None, expect(LOGIN, *[OK] * 5)),
    "mfa_reauthenticate_webauthn": ("get", F + "/webauthn/reauthenticate/", None,
                                    expect(LOGIN, *[REDIRECT] * 5)),  # none has a key
    # Someone else's security key: nobody may rename or remove it.
    "mfa_edit_webauthn": ("get", F + "/webauthn/keys/{key}/edit/", None,
                          expect(LOGIN, *[HIDDEN] * 5)),
    "mfa_remove_webauthn": ("post", F + "/webauthn/keys/{key}/remove/", None,
                            expect(LOGIN, *[HIDDEN] * 5)),
    "workspaces:list": ("get", "/workspaces/", None, expect(LOGIN, OK, OK, OK, OK, OK)),
    "workspaces:detail": ("get", W + "/", None, expect(LOGIN, HIDDEN, HIDDEN, OK, OK, OK)),
    # --- members: owners manage them -------------------------------------------------------
    "workspaces:members": ("get", W + "/members/", None,
                           expect(LOGIN, HIDDEN, HIDDEN, OK, NO, NO)),
    "workspaces:members#add": (
        "post", W + "/members/", lambda ctx: {"user": "newcomer", "roles": ["researcher"]},
        expect(LOGIN, HIDDEN, HIDDEN, REDIRECT, NO, NO)),
    "workspaces:member_roles": (
        "post", W + "/members/{target}/roles/",
        lambda ctx: {f"member-{ctx['target']}-roles": ["owner", "researcher"]},
        expect(LOGIN, HIDDEN, HIDDEN, REDIRECT, NO, NO)),
    "workspaces:member_remove": ("post", W + "/members/{target}/remove/", None,
                                 expect(LOGIN, HIDDEN, HIDDEN, REDIRECT, NO, NO)),
    # --- datasets: stewards manage them; researchers and stewards see them ----------------
    "workspaces:dataset_new": ("get", W + "/datasets/new/", None,
                               expect(LOGIN, HIDDEN, HIDDEN, NO, NO, OK)),
    "workspaces:dataset_new#upload": (
        "post", W + "/datasets/new/",
        lambda ctx: {"file": csv_file(), "name": "uploaded", "classification": "internal",
                     "encoding": "utf-8"},
        expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:dataset": ("get", D + "/", None,
                           expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "workspaces:version_new": (
        "post", D + "/versions/new/", lambda ctx: {"file": csv_file(), "encoding": "utf-8"},
        expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:dataset_settings": (
        "post", D + "/settings/", lambda ctx: {"classification": "restricted"},
        expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:dataset_erase": ("post", D + "/erase/", lambda ctx: ERASE,
                                 expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:dataset_version": ("get", V + "/", None,
                                   expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "workspaces:version_decide": ("post", V + "/decide/", lambda ctx: {},
                                  expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:version_erase": ("post", V + "/erase/", lambda ctx: ERASE,
                                 expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:sample_rebuild": ("post", V + "/synthetic/rebuild/", lambda ctx: {},
                                  expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "workspaces:sample_browse": ("get", V + "/synthetic/", None,
                                 expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "workspaces:sample_status": ("get", V + "/synthetic/status/", None,
                                 expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "workspaces:sample_download": ("get", V + "/synthetic.csv", None,
                                   expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    # --- differential privacy: researchers ask, stewards set budgets, both see spends ---
    "privacy:version": ("get", V + "/privacy/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "privacy:accuracy": ("get", V + "/privacy/accuracy/?statistic=count&epsilon=0.5", None,
                         expect(LOGIN, HIDDEN, HIDDEN, NO, OK, NO)),
    "privacy:ask": ("post", V + "/privacy/ask/",
                    lambda ctx: {"statistic": "count", "epsilon": "0.1", "by_first": "ward"},
                    expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    "privacy:budget": ("post", V + "/privacy/budget/",
                       lambda ctx: {"epsilon": "2", "delta": "0", "rows_per_person": "1"},
                       expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "privacy:question": ("get", W + "/questions/{question}/", None,
                         expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "privacy:question_wait": ("get", W + "/questions/{question}/wait/", None,
                              expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    # --- jobs: researchers submit them; researchers and stewards follow them ------------
    "jobs:list": ("get", W + "/jobs/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:new": ("get", W + "/jobs/new/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, NO)),
    "jobs:new#submit": (
        "post", W + "/jobs/new/",
        lambda ctx: {"script": "print(1)", "dataset_versions": [ctx["version_id"]],
                     "run_dry": "1"},
        expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    "jobs:detail": ("get", J + "/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:status": ("get", J + "/status/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:status_wait": ("get", J + "/status/wait/", None,
                         expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:cancel": ("post", J + "/cancel/", lambda ctx: {},
                    expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    "jobs:rerun": ("post", J + "/rerun/", lambda ctx: {},
                   expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    "jobs:output": ("get", J + "/outputs/{output}/", None,
                    expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    # --- the airlock: researchers ask, checkers (never the requester) review ------------
    "jobs:release_new": ("get", W + "/jobs/{real_job}/release/", None,
                         expect(LOGIN, HIDDEN, HIDDEN, NO, OK, NO)),
    "jobs:release_list": ("get", W + "/releases/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:release_request": ("get", R + "/", None, expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:release_item": ("get", R + "/items/{item}/", None,
                          expect(LOGIN, HIDDEN, HIDDEN, NO, NO, OK)),
    "jobs:release_supporting_file": ("get", R + "/supporting/{supporting}/", None,
                                     expect(LOGIN, HIDDEN, HIDDEN, NO, OK, OK)),
    "jobs:release_supporting": (
        "post", R + "/supporting/", lambda ctx: {"file": csv_file()},
        expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    "jobs:release_action": ("post", R + "/vote/",
                            lambda ctx: {"item": ctx["item"], "decision": "approve"},
                            expect(LOGIN, HIDDEN, HIDDEN, NO, NO, REDIRECT)),
    "jobs:release_action#withdraw": ("post", R + "/withdraw/", lambda ctx: {},
                                     expect(LOGIN, HIDDEN, HIDDEN, NO, REDIRECT, NO)),
    # The checker here is also the site's data steward: site staff, in the admin.
    # To the admin's sign-in page, which is the portal's (tests/accounts/test_lockout.py).
    "admin": ("get", "/admin/", None, expect(REDIRECT, REDIRECT, OK, REDIRECT, REDIRECT, OK)),
    # The JSON API's docs page, behind the portal's sign-in; its token routes have their
    # own matrix (tests/api/test_api_matrix.py).
    "api": ("get", "/api/v1/docs", None, expect(LOGIN, *[OK] * 5)),
}
# fmt: on


def routed_names(patterns=None, namespace=""):
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in ("admin", "api"):
                # Listed once: the JSON API has its own matrix (tests/api/test_api_matrix.py).
                names.add(pattern.namespace)
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= routed_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_is_in_the_matrix():
    listed = {name.split("#")[0] for name in MATRIX}
    assert routed_names() == listed


def outcome_of(response, path) -> str:
    if response.status_code == 200:
        return OK
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return NOT_FOUND
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/accounts/login/") and "next=" in location:
            return LOGIN
        return REDIRECT
    raise AssertionError(f"{path}: unexpected status {response.status_code}")


CASES = [(name, principal) for name in MATRIX for principal in PRINCIPALS]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "principal"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_matrix(
    request, client, name, principal, workspace, owner, researcher, checker, outsider, site_admin
):
    from tests.factories import UserFactory

    ctx = {"target": Membership.objects.get(user=researcher, workspace=workspace).pk}
    UserFactory(username="newcomer")
    method, path, data, expected = MATRIX[name]
    if "{dataset}" in path or name.startswith("jobs:"):
        version = request.getfixturevalue("ready_version")
        ctx.update(dataset=version.dataset_id, version=version.number, version_id=version.pk)
    if "{release}" in path or "{real_job}" in path:
        release = request.getfixturevalue("release_request")
        ctx.update(release=release.pk, item=release.items.get().pk, real_job=release.job_id)
    if "{supporting}" in path:
        from jobs import airlock

        supporting = airlock.add_supporting_file(
            request=release, name="codebook.txt", content=b"ward: the ward", by=researcher
        )
        ctx.update(supporting=supporting.pk)
    if "{job}" in path:
        job = request.getfixturevalue("finished_job")
        ctx.update(job=job.pk, output=job.outputs.get().pk)
    if "/privacy/" in path or "{question}" in path:
        budget = request.getfixturevalue("privacy_budget")
        ctx.update(question=answered_question(budget, researcher).pk)
    if "{key}" in path:
        ctx.update(key=someone_elses_security_key().pk)
    if "{token}" in path:
        ctx.update(token=someone_elses_api_token().pk)
    if principal != "anonymous":
        sign_in(client, request.getfixturevalue(principal))
    before = state_of_everything()

    path = path.format(**ctx)
    response = getattr(client, method)(path, data(ctx) if data else None)

    assert outcome_of(response, path) == expected[principal]
    if method == "post" and expected[principal] != REDIRECT:
        assert state_of_everything() == before, "a refused change changed something"


def answered_question(budget, researcher):
    """A question spent and answered here, in-process (no task is sent in these tests)."""
    from privacy import services

    question = services.ask_question(
        version=budget.version, by=researcher,
        question=services.question_of(statistic="count", epsilon="0.1", by=["ward"]),
    )  # fmt: skip
    return services.answer_question(question_id=question.pk)


def someone_elses_security_key():
    from allauth.mfa.models import Authenticator

    from tests.factories import UserFactory

    return Authenticator.objects.create(
        user=UserFactory(username="keyholder"),
        type=Authenticator.Type.WEBAUTHN,
        data={"name": "their key", "credential": {}},
    )


def someone_elses_api_token():
    from accounts.tokens import create_token
    from tests.factories import UserFactory

    holder = UserFactory(username="tokenholder")
    return create_token(user=holder, by=holder, name="their token", scope="submit")[0]


def state_of_everything():
    from allauth.mfa.models import Authenticator

    from accounts.models import ApiToken

    return (
        sorted(Authenticator.objects.values_list("pk", "type")),
        sorted(ApiToken.objects.values_list("pk", "revoked_at")),
        sorted(Membership.objects.values_list("pk", "roles")),
        sorted(Dataset.objects.values_list("pk", "classification", "erased_at")),
        sorted(DatasetVersion.objects.values_list("pk", "status")),
        SyntheticSample.objects.count(),
        sorted(Job.objects.values_list("pk", "status", "cancel_requested")),
        sorted(ReleaseRequest.objects.values_list("pk", "status")),
        Vote.objects.count(),
        SupportingFile.objects.count(),
        sorted(PrivacyBudget.objects.values_list("pk", "epsilon", "rows_per_person")),
        sorted(PrivateQuestion.objects.values_list("pk", "status", "epsilon")),
    )


def strip_csrf(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", content)


@pytest.mark.django_db
def test_a_hidden_workspace_looks_exactly_like_a_missing_one(client, workspace, outsider):
    client.force_login(outsider)
    hidden = client.get(f"/workspaces/{workspace.slug}/")
    missing = client.get("/workspaces/no-such-workspace/")
    assert hidden.status_code == missing.status_code == 404
    # Equal but for the CSRF token, which Django masks afresh on every render.
    assert strip_csrf(hidden.content) == strip_csrf(missing.content)


@pytest.mark.django_db
def test_a_member_of_one_workspace_cannot_touch_memberships_of_another(
    client, workspace, other_workspace, owner, outsider
):
    # The owner of "cardiac" aims at a membership of "oncology" through their own workspace.
    foreign = Membership.objects.get(user=outsider, workspace=other_workspace)
    client.force_login(owner)
    response = client.post(f"/workspaces/{workspace.slug}/members/{foreign.pk}/remove/")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


# --- object rules: actions done to one job, request or version ---------------------------
# Every (action, model) pair that tre.permissions gives an object rule is listed here,
# with whom it lets through: `test_every_object_rule_is_in_the_matrix` keeps it complete.
# Principals: the job's submitter and request's maker ("submitter"), another researcher of
# the workspace ("colleague"), an owner, an output checker (also the site's data steward),
# an output checker who is not a steward ("plain_checker").
RULE_PRINCIPALS = ["submitter", "colleague", "owner", "checker", "plain_checker"]
Y, N = True, False
# fmt: off
OBJECT_RULES = {
    ("submit_jobs", "Job"): (Y, N, N, N, N),  # re-run: one's own job
    ("cancel_job", "Job"): (Y, N, Y, N, N),  # an owner may stop any
    ("request_release", "Job"): (Y, N, N, N, N),
    ("request_release", "ReleaseRequest"): (Y, N, N, N, N),
    ("view_release", "ReleaseRequest"): (Y, N, N, Y, Y),
    ("review_release", "ReleaseRequest"): (N, N, N, Y, Y),
    ("view_datasets", "DatasetVersion"): (N, N, N, Y, N),  # one awaiting decisions
}
# fmt: on


def test_every_object_rule_is_in_the_matrix():
    from tre.permissions import ACTIONS

    declared = {(name, model) for name, action in ACTIONS.items() for model in action.rules}
    assert declared == set(OBJECT_RULES)


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "model"), list(OBJECT_RULES))
def test_object_rules(action, model, workspace, owner, researcher, checker, release_request,
                      ready_version):  # fmt: skip
    from tests.factories import MembershipFactory, UserFactory
    from tre.permissions import may

    colleague = UserFactory(username="cole")
    MembershipFactory(workspace=workspace, user=colleague, roles=["researcher"])
    plain_checker = UserFactory(username="pia")
    MembershipFactory(workspace=workspace, user=plain_checker, roles=["output_checker"])
    awaiting = DatasetVersion(dataset=ready_version.dataset, number=99, status="awaiting_decisions")
    target = {
        "Job": release_request.job,
        "ReleaseRequest": release_request,
        "DatasetVersion": awaiting,
    }[model]
    people = dict(zip(RULE_PRINCIPALS, [researcher, colleague, owner, checker, plain_checker],
                      strict=True))  # fmt: skip
    got = tuple(may(people[name], action, target) for name in RULE_PRINCIPALS)
    assert got == OBJECT_RULES[(action, model)]
