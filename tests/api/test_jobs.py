"""Jobs through the API: list, submit, the job's body (what the job page shows, and for
a real run nothing more), and the long-poll.

Jobs are submitted through the real service here, with the queued task not sent (as
tests/jobs/conftest.py's `queued`); a run through a real worker is tested end to end
separately.
"""

import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs import channels, live
from jobs.models import Job
from tests.api.conftest import ROOT, ApiClient, make_token
from tests.factories import job_output
from tre.models import AuditEvent
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

JOBS = ROOT + "/workspaces/cardiac/jobs"
DRY_RUN = {"script": "print('hello')", "datasets": ["admissions"], "mode": "dry_run"}


@pytest.fixture
def researcher_api(researcher):
    return ApiClient(make_token(researcher))


@pytest.fixture
def submit(researcher_api, django_capture_on_commit_callbacks):
    def post(body):
        with django_capture_on_commit_callbacks():  # the task is not sent
            return researcher_api.post_json(JOBS, body)

    return post


# --- list ------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_limited(researcher_api, finished_job, real_job):
    listed = researcher_api.get(JOBS).json()
    assert [job["id"] for job in listed] == [real_job.pk, finished_job.pk]
    assert listed[1] == {
        "id": finished_job.pk,
        "title": "",
        "mode": "dry_run",
        "state": "finished",
        "state_label": "Finished",
        "has_ended": True,
        "submitted_by": "rae",
        "submitted_at": listed[1]["submitted_at"],
        "runtime": None,
    }
    assert [job["id"] for job in researcher_api.get(JOBS + "?limit=1").json()] == [real_job.pk]


@pytest.mark.parametrize("limit", ["0", "101", "many"])
def test_a_limit_out_of_range_names_the_field(researcher_api, ready_version, limit):
    response = researcher_api.get(f"{JOBS}?limit={limit}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("limit:")


def test_the_list_shows_a_real_run_as_the_list_page_does(researcher_api, unrevealed_real_job):
    [row] = researcher_api.get(JOBS).json()
    assert (row["state"], row["has_ended"], row["runtime"]) == ("in_progress", False, None)


# --- submit ----------------------------------------------------------------------------


def test_a_dry_run_is_submitted_through_the_service(submit, researcher, ready_version):
    response = submit({**DRY_RUN, "title": "first look"})
    assert response.status_code == 201
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert (job.mode, job.status, job.title, job.submitted_by) == (
        "dry_run",
        "queued",
        "first look",
        researcher,
    )
    assert list(job.dataset_versions.all()) == [ready_version]
    assert body["state"] == "queued"
    assert body["datasets"] == ["admissions@1"]
    assert body["fingerprint"] == live.current_fingerprint(job)
    assert AuditEvent.objects.filter(action="job.submitted", target_id=str(job.pk)).exists()


def test_a_dataset_by_version_number(submit, ready_version):
    response = submit({**DRY_RUN, "datasets": ["admissions@1"]})
    assert response.status_code == 201


def test_a_real_run_is_submitted_and_shown_in_progress(submit, ready_version):
    response = submit({**DRY_RUN, "mode": "real"})
    assert response.status_code == 201
    body = response.json()
    assert (body["mode"], body["state"], body["log"], body["outputs"]) == (
        "real",
        "in_progress",
        None,
        [],
    )


@pytest.mark.parametrize(
    ("change", "status", "starts"),
    [
        ({"script": ""}, 400, "script: The script is empty."),
        ({"script": "def broken(:\n"}, 400, "script: Line 1:"),
        ({"datasets": []}, 400, "datasets: Choose at least one dataset."),
        ({"datasets": ["nothing"]}, 400, "datasets: this workspace has no dataset"),
        ({"datasets": ["admissions@7"]}, 400, "datasets: admissions has no version '7'"),
        ({"datasets": ["admissions@x"]}, 400, "datasets: admissions has no version 'x'"),
        ({"datasets": ["admissions", "admissions@1"]}, 400, "datasets: Choose one version"),
        ({"mode": "live"}, 422, "mode:"),
        ({"script": None}, 422, "script:"),
        ({"datasets": "admissions"}, 422, "datasets:"),
    ],
)
def test_bad_input_is_refused_naming_the_field(submit, ready_version, change, status, starts):
    before = Job.objects.count()
    response = submit({**DRY_RUN, **change})
    assert response.status_code == status, response.content
    assert response.json()["detail"].startswith(starts)
    assert Job.objects.count() == before


def test_a_missing_field_is_named(submit, ready_version):
    response = submit({"datasets": ["admissions"], "mode": "dry_run"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("script:")


def test_a_body_that_is_not_json_is_refused(researcher_api, ready_version):
    response = researcher_api.post(JOBS, "script=print(1)", content_type="text/plain")
    assert response.status_code in (400, 422)
    assert set(response.json()) == {"detail"}


def test_a_script_over_the_limit_is_refused(submit, ready_version, settings):
    settings.TRE_MAX_SCRIPT_BYTES = 100
    response = submit({**DRY_RUN, "script": "x = 1\n" * 50})
    assert response.status_code == 400
    assert "TRE_MAX_SCRIPT_BYTES" in response.json()["detail"]


@pytest.mark.parametrize("who", ["checker", "owner"])
def test_only_researchers_submit(request, ready_version, django_capture_on_commit_callbacks, who):
    client = ApiClient(make_token(request.getfixturevalue(who)))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post_json(JOBS, DRY_RUN)
    assert response.status_code == 403
    assert "submit jobs" in response.json()["detail"]
    assert not Job.objects.exists()
    assert callbacks == []


def test_a_refused_real_run_is_refused_by_the_quota(submit, workspace, ready_version):
    workspace.real_runs_per_day = 1
    workspace.save()
    assert submit({**DRY_RUN, "mode": "real"}).status_code == 201
    response = submit({**DRY_RUN, "mode": "real"})
    assert response.status_code == 400
    assert "real-data runs" in response.json()["detail"]
    assert AuditEvent.objects.filter(action="job.quota_refused").count() == 1


# --- the job's body --------------------------------------------------------------------


def test_a_dry_run_shows_everything(researcher_api, finished_job):
    body = researcher_api.get(f"{JOBS}/{finished_job.pk}").json()
    [output] = finished_job.outputs.all()
    assert body["log"] == "hello"
    assert body["outputs"] == [
        {
            "id": output.pk,
            "name": "by_ward",
            "type": "table",
            "kind": "frequency",
            "size_bytes": output.size_bytes,
            "sha256": output.sha256,
            "download": f"{JOBS}/{finished_job.pk}/outputs/{output.pk}",
            "verdict": None,
            "released": None,
        }
    ]


def test_a_dry_runs_log_output_is_its_log_not_an_output(researcher_api, finished_job):
    job_output(finished_job, "full_log", b"hello", type="log", filename="log.txt")
    body = researcher_api.get(f"{JOBS}/{finished_job.pk}").json()
    assert [output["name"] for output in body["outputs"]] == ["by_ward"]


def test_another_workspaces_job_is_a_404(researcher, outsider, other_workspace, finished_job):
    foreign = Job.objects.create(
        workspace=other_workspace, submitted_by=outsider, mode="dry_run", script="print(2)"
    )
    client = ApiClient(make_token(researcher, "read"))
    for path in (f"{JOBS}/{foreign.pk}", f"{JOBS}/{foreign.pk}/wait", f"{JOBS}/999999"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    # ...and through its own workspace, where the researcher is nobody.
    assert client.get(f"{ROOT}/workspaces/oncology/jobs/{foreign.pk}").status_code == 404


# A real run whose sandbox said a lot: every value below came out of it or was measured
# while it ran, and none of it may reach a researcher before release.
SANDBOX_SAID = {
    "exit_code": 173,
    "wall_seconds": 12.3456,
    "cpu_seconds": 7.891,
    "max_rss_bytes": 123456789,
    "output_bytes": 98765,
    "log": "secret log: Smith, John, 1970-01-01",
    "failure_type": "ValueError",
    "failure_line": 1,
    "status_reason": "The script failed.",
}


@pytest.fixture
def talkative_real_job(real_job):
    submitted = timezone.now() - timedelta(minutes=10)
    started = submitted + timedelta(seconds=3.21)
    Job.objects.filter(pk=real_job.pk).update(
        status=Job.Status.FAILED,
        created_at=submitted,
        started_at=started,
        finished_at=started + timedelta(seconds=12.3456),
        **SANDBOX_SAID,
    )
    real_job.refresh_from_db()
    return real_job


def test_a_real_runs_body_holds_only_what_the_job_page_shows(researcher_api, talkative_real_job):
    job = talkative_real_job
    response = researcher_api.get(f"{JOBS}/{job.pk}")
    body = response.json()
    view = channels.job_view(job, timezone.now())
    assert view["has_ended"]
    # What the live part shows, value for value (jobs.channels)...
    for key in set(body) & set(view):
        assert body[key] == view[key], key
    # ...and besides it only the page's header, its fingerprint and its (empty) log.
    assert set(body) - set(view) == {
        "id", "title", "mode", "submitted_at", "datasets", "fingerprint", "log", "outputs",
    }  # fmt: skip
    assert body["log"] is None
    assert body["started_at"] is None
    assert body["runtime"] == "10 s to 1 min"
    assert (body["failure_type"], body["failure_line"]) == ("ValueError", 1)
    # Nothing the sandbox said, in any field (but the ids, the submission time and the
    # fingerprint's hex digits, which may hold any digits by chance).
    said = json.dumps({key: value for key, value in body.items()
                       if key not in ("id", "submitted_at", "fingerprint")})  # fmt: skip
    for secret in [
        "173", "12.34", "7.89", "123456789", "98765", "secret log", "Smith",
        job.started_at.isoformat()[:19], job.finished_at.isoformat()[:19],
    ]:  # fmt: skip
        assert secret not in said, secret


def test_a_real_runs_outputs_show_as_on_the_job_page(researcher_api, real_job):
    body = researcher_api.get(f"{JOBS}/{real_job.pk}").json()
    named, hidden = real_job.outputs.order_by("position")
    assert body["outputs"] == [
        {
            "id": named.pk,
            "name": "by_ward",
            "type": "table",
            "kind": None,
            "size_bytes": None,
            "sha256": None,
            "download": None,
            "verdict": {"status": "review", "rules": ["min-cell-count"]},
            "released": False,
        },
        {
            "id": hidden.pk,
            "name": "output 2",
            "type": "table",
            "kind": None,
            "size_bytes": None,
            "sha256": None,
            "download": None,
            "verdict": {"status": "pass", "rules": []},
            "released": False,
        },
    ]
    for output in body["outputs"]:
        assert output["verdict"] == channels.verdict_for_researcher(
            real_job.outputs.get(pk=output["id"]).verdict
        )
    text = json.dumps(body)
    for secret in ["smith_john_1970", "written by the script", "cell (A, 3)", hidden.sha256]:
        assert secret not in text


def test_a_released_output_gets_its_checksum_and_link(researcher_api, real_job):
    real_job.outputs.filter(name="by_ward").update(released_at=timezone.now())
    output = researcher_api.get(f"{JOBS}/{real_job.pk}").json()["outputs"][0]
    stored = real_job.outputs.get(name="by_ward")
    assert output["released"] is True
    assert output["sha256"] == stored.sha256
    assert output["download"] == f"{JOBS}/{real_job.pk}/outputs/{stored.pk}"
    assert output["size_bytes"] is None  # the job page does not show it either


def test_a_real_run_ended_but_not_yet_shown_looks_like_a_running_one(
    researcher_api, unrevealed_real_job, ready_version, researcher
):
    running = Job.objects.create(
        workspace=ready_version.dataset.workspace, submitted_by=researcher, mode="real",
        script="...", status=Job.Status.RUNNING, started_at=timezone.now(),
    )  # fmt: skip
    running.dataset_versions.set([ready_version])
    shown = [
        researcher_api.get(f"{JOBS}/{job.pk}").json() for job in (unrevealed_real_job, running)
    ]
    for body in shown:
        body.pop("id")
        body.pop("submitted_at")
    assert shown[0] == shown[1]
    assert shown[0]["state"] == "in_progress"
    assert shown[0]["outputs"] == []


def test_the_fingerprint_is_the_job_pages(client, researcher, researcher_api, real_job):
    body = researcher_api.get(f"{JOBS}/{real_job.pk}").json()
    client.force_login(researcher)
    fragment = client.get(f"/workspaces/cardiac/jobs/{real_job.pk}/status/").content.decode()
    assert body["fingerprint"] == live.current_fingerprint(real_job)
    assert f"shown={body['fingerprint']}" in fragment or body["has_ended"]


# --- the long-poll ---------------------------------------------------------------------


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr(live, "WAIT_SECONDS", 0.3)


@pytest.fixture
def queued_job(submit, ready_version):
    return Job.objects.get(pk=submit(DRY_RUN).json()["id"])


def test_wait_answers_at_once_when_the_job_differs(researcher_api, queued_job, short_wait):
    began = time.monotonic()
    body = researcher_api.get(f"{JOBS}/{queued_job.pk}/wait?shown=stale").json()
    assert time.monotonic() - began < 0.3
    assert body["fingerprint"] == live.current_fingerprint(queued_job)


def test_wait_holds_while_nothing_changes(researcher_api, queued_job, short_wait):
    shown = live.current_fingerprint(queued_job)
    began = time.monotonic()
    body = researcher_api.get(f"{JOBS}/{queued_job.pk}/wait?shown={shown}").json()
    assert time.monotonic() - began >= 0.3
    assert body["fingerprint"] == shown
    assert body["state"] == "queued"


def test_wait_answers_an_ended_job_at_once(researcher_api, finished_job):
    shown = live.current_fingerprint(finished_job)
    began = time.monotonic()
    body = researcher_api.get(f"{JOBS}/{finished_job.pk}/wait?shown={shown}").json()
    assert time.monotonic() - began < 1
    assert body["has_ended"] is True


def test_wait_on_a_real_run_ended_but_not_shown_keeps_it_in_progress(
    researcher_api, unrevealed_real_job, short_wait
):
    job = unrevealed_real_job
    shown = researcher_api.get(f"{JOBS}/{job.pk}").json()["fingerprint"]
    body = researcher_api.get(f"{JOBS}/{job.pk}/wait?shown={shown}").json()
    assert (body["state"], body["fingerprint"]) == ("in_progress", shown)


def test_rights_lost_while_waiting_are_a_404(
    researcher_api, researcher, queued_job, short_wait, monkeypatch
):
    wait = live.wait_for_change

    def removed_while_waiting(job, shown, **kwargs):
        Membership.objects.filter(user=researcher).delete()
        wait(job, shown, **kwargs)

    monkeypatch.setattr(live, "wait_for_change", removed_while_waiting)
    response = researcher_api.get(f"{JOBS}/{queued_job.pk}/wait?shown=x")
    assert response.status_code == 404


def test_a_token_revoked_while_waiting_gets_no_answer(
    researcher, queued_job, short_wait, monkeypatch
):
    from accounts import tokens

    token, plaintext = tokens.create_token(user=researcher, by=researcher, name="t", scope="read")
    wait = live.wait_for_change

    def revoked_while_waiting(job, shown, **kwargs):
        tokens.revoke_token(token=token, by=researcher)
        wait(job, shown, **kwargs)

    monkeypatch.setattr(live, "wait_for_change", revoked_while_waiting)
    response = ApiClient(plaintext).get(f"{JOBS}/{queued_job.pk}/wait?shown=x")
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_request_waits(researcher, finished_job, monkeypatch):
    seen = []
    wait = live.wait_for_change

    def watched(job, shown, **kwargs):
        seen.append(connection.in_atomic_block)
        wait(job, shown, **kwargs)

    monkeypatch.setattr(live, "wait_for_change", watched)
    response = ApiClient(make_token(researcher, "read")).get(f"{JOBS}/{finished_job.pk}/wait")
    assert response.status_code == 200
    assert seen == [False]
