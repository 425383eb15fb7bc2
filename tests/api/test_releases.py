"""Release requests through the API: made and submitted through jobs.airlock by the
run's researcher only, outputs chosen by what the job page shows; followed by their
researcher and the checkers. Nobody releases anything here: that is the checkers' in the
portal, and never of their own request."""

import pytest

from jobs.models import Job, ReleaseRequest
from tests.api.conftest import ROOT, ApiClient, make_token
from tests.factories import MembershipFactory, UserFactory
from tre.models import AuditEvent
from tre.permissions import REVIEW_RELEASE, may

pytestmark = pytest.mark.django_db

JOBS = ROOT + "/workspaces/cardiac/jobs"
RELEASES = ROOT + "/workspaces/cardiac/releases"


@pytest.fixture
def ask(researcher, django_capture_on_commit_callbacks):
    client = ApiClient(make_token(researcher))

    def post(job, outputs, justification="Table 1 of the paper.", client=client):
        with django_capture_on_commit_callbacks():  # no e-mail is sent
            return client.post_json(
                f"{JOBS}/{job.pk}/release", {"outputs": outputs, "justification": justification}
            )

    return post


def test_a_request_is_made_and_submitted(ask, researcher, real_job):
    hidden = real_job.outputs.get(position=2)
    response = ask(real_job, ["by_ward", hidden.pk])
    assert response.status_code == 201
    release = ReleaseRequest.objects.get()
    assert response.json() == {
        "id": release.pk,
        "job": real_job.pk,
        "status": "submitted",
        "status_label": "Submitted",
        "items": [
            {"output": "by_ward", "state": "pending"},
            {"output": "output 2", "state": "pending"},
        ],
    }
    assert (release.requested_by, release.description, release.round) == (
        researcher,
        "Table 1 of the paper.",
        1,
    )
    assert [(item.what_it_is, item.why_needed) for item in release.items.order_by("pk")] == [
        ("by_ward", "Table 1 of the paper."),
        ("output 2", "Table 1 of the paper."),
    ]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"release.created", "release.submitted"} <= actions


def test_outputs_by_the_name_the_job_shows_or_by_id(ask, real_job):
    hidden = real_job.outputs.get(position=2)
    assert ask(real_job, ["output 2"]).status_code == 201
    ReleaseRequest.objects.get().items.all().delete()
    assert ask(real_job, [str(hidden.pk)]).status_code == 201


def test_a_hidden_name_is_not_confirmed(ask, real_job):
    """Choosing by the name only the checkers see would tell the researcher it exists."""
    by_hidden_name = ask(real_job, ["smith_john_1970"])
    by_made_up_name = ask(real_job, ["jones_mary_1980"])
    assert by_hidden_name.status_code == by_made_up_name.status_code == 400
    assert by_hidden_name.json()["detail"] == by_made_up_name.json()["detail"].replace(
        "jones_mary_1980", "smith_john_1970"
    )
    assert not ReleaseRequest.objects.exists()


@pytest.mark.parametrize(
    ("outputs", "justification", "starts"),
    [
        ([], "why", "Choose at least one output."),
        (["by_ward"], "  ", "justification: Say what this release is for."),
        ([987654], "why", "outputs: job #"),
    ],
)
def test_bad_requests_are_refused_and_leave_nothing(ask, real_job, outputs, justification, starts):
    response = ask(real_job, outputs, justification)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(starts)
    assert not ReleaseRequest.objects.exists()


def test_a_dry_run_has_nothing_to_release(ask, finished_job):
    response = ask(finished_job, ["by_ward"])
    assert response.status_code == 400
    assert "Dry-run outputs" in response.json()["detail"]


def test_a_run_not_shown_as_ended_is_answered_as_a_running_one(
    ask, unrevealed_real_job, ready_version, researcher
):
    running = Job.objects.create(
        workspace=ready_version.dataset.workspace, submitted_by=researcher, mode="real",
        script="...", status=Job.Status.RUNNING,
    )  # fmt: skip
    answers = [ask(job, ["by_ward"]) for job in (unrevealed_real_job, running)]
    assert [answer.status_code for answer in answers] == [400, 400]
    assert (
        answers[0].json()
        == answers[1].json()
        == {"detail": "Only the outputs of a run that has ended can be released."}
    )
    assert not ReleaseRequest.objects.exists()


@pytest.mark.parametrize("who", ["colleague", "checker", "owner"])
def test_only_the_runs_researcher_asks(request, ask, workspace, real_job, who):
    if who == "colleague":
        user = UserFactory(username="cole")
        MembershipFactory(workspace=workspace, user=user, roles=["researcher"])
    else:
        user = request.getfixturevalue(who)
    response = ask(real_job, ["by_ward"], client=ApiClient(make_token(user)))
    assert response.status_code == 403
    assert not ReleaseRequest.objects.exists()


def test_another_workspaces_job_is_a_404(ask, outsider, other_workspace):
    foreign = Job.objects.create(
        workspace=other_workspace, submitted_by=outsider, mode="real", script="...",
        status=Job.Status.FINISHED,
    )  # fmt: skip
    assert ask(foreign, ["by_ward"]).status_code == 404


# --- following a request ---------------------------------------------------------------


def test_the_requester_follows_the_request(researcher, release_request):
    response = ApiClient(make_token(researcher, "read")).get(f"{RELEASES}/{release_request.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": release_request.pk,
        "job": release_request.job_id,
        "status": "submitted",
        "status_label": "Submitted",
        "items": [{"output": "by_ward", "state": "pending"}],
    }
    assert AuditEvent.objects.filter(action="release.viewed", actor=researcher).exists()


def test_a_checker_sees_each_outputs_own_name(checker, researcher, release_request):
    item = release_request.items.get()
    item.output.label = "output 1"
    item.output.save()
    as_checker = ApiClient(make_token(checker, "read")).get(f"{RELEASES}/{release_request.pk}")
    as_researcher = ApiClient(make_token(researcher, "read")).get(
        f"{RELEASES}/{release_request.pk}"
    )
    assert as_checker.json()["items"] == [{"output": "by_ward", "state": "pending"}]
    assert as_researcher.json()["items"] == [{"output": "output 1", "state": "pending"}]


@pytest.mark.parametrize(("who", "status"), [("owner", 403), ("colleague", 403), ("outsider", 404)])
def test_others_do_not_see_the_request(request, workspace, release_request, who, status):
    if who == "colleague":
        user = UserFactory(username="cole")
        MembershipFactory(workspace=workspace, user=user, roles=["researcher"])
    else:
        user = request.getfixturevalue(who)
    response = ApiClient(make_token(user, "read")).get(f"{RELEASES}/{release_request.pk}")
    assert response.status_code == status


def test_another_workspaces_request_is_a_404(outsider, researcher, release_request):
    response = ApiClient(make_token(outsider, "read")).get(
        f"{ROOT}/workspaces/oncology/releases/{release_request.pk}"
    )
    assert response.status_code == 404


# --- nobody releases through the API ---------------------------------------------------


@pytest.mark.parametrize("who", ["researcher", "checker", "owner"])
@pytest.mark.parametrize("action", ["release", "vote", "submit_review", "approve", ""])
def test_no_route_reviews_or_releases_a_request(request, release_request, who, action):
    client = ApiClient(make_token(request.getfixturevalue(who)))
    response = client.post_json(f"{RELEASES}/{release_request.pk}/{action}".rstrip("/"), {})
    assert response.status_code in (404, 405)
    release_request.refresh_from_db()
    assert release_request.status == "submitted"
    assert not release_request.job.outputs.filter(released_at__isnull=False).exists()


def test_a_requester_who_became_a_checker_still_cannot_release_it(ask, researcher, real_job):
    """Made through the API as through the portal: its maker never reviews it, even once
    they are an output checker of the workspace (roles changed after they asked)."""
    from workspaces.models import Membership

    assert ask(real_job, ["by_ward"]).status_code == 201
    release = ReleaseRequest.objects.get()
    membership = Membership.objects.get(user=researcher, workspace=real_job.workspace)
    membership.roles = ["output_checker"]
    membership.save()
    assert not may(researcher, REVIEW_RELEASE, release)
    client = ApiClient(make_token(researcher))
    for action in ("release", "vote", "submit_review"):
        response = client.post_json(f"{RELEASES}/{release.pk}/{action}", {})
        assert response.status_code in (404, 405)
    release.refresh_from_db()
    assert release.status == "submitted"
