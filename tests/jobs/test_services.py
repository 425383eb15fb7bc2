"""Researchers' actions on jobs: submit (and its quota), cancel, re-run."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from jobs import runtime, services
from jobs.models import Job
from tests.jobs.conftest import submit
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_real_runs_beyond_the_daily_quota_are_refused(queued, workspace, researcher):
    workspace.real_runs_per_day = 2
    workspace.save()
    queued(mode=Job.Mode.REAL)
    queued(mode=Job.Mode.REAL)
    with pytest.raises(ValidationError, match="all 2 of your real-data runs"):
        queued(mode=Job.Mode.REAL)
    assert AuditEvent.objects.filter(action="job.quota_refused").count() == 1
    queued()  # dry runs are not limited
    assert Job.objects.filter(mode=Job.Mode.REAL).count() == 2


def test_cancelling_a_queued_job_stops_it_before_it_starts(queued, researcher):
    job = services.cancel_job(job=queued(), by=researcher)
    assert job.status == Job.Status.CANCELLED
    assert runtime.run_job(job_id=job.pk) is None


def test_rerun_submits_a_copy(queued, researcher, django_capture_on_commit_callbacks):
    job = runtime.run_job(job_id=queued().pk)
    with django_capture_on_commit_callbacks():
        again = services.rerun_job(job=job, by=researcher)
    assert again.rerun_of == job
    assert again.script == job.script
    assert list(again.dataset_versions.all()) == list(job.dataset_versions.all())


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "empty"),
        ("def broken(:\n", "Line 1"),
        ("x" * (1024**2 + 1), "may be at most 1,048,576 bytes"),
        ("x = 1\ny = '\0'\n", r"NUL byte \(at line 2\); Python can't run it"),
        ("-" * 100_000 + "1", "nested too deeply"),
    ],
)
def test_bad_scripts_are_refused_at_submission(
    workspace, researcher, ready_version, script, message
):
    with pytest.raises(ValidationError, match=message):
        submit(workspace, researcher, ready_version, script=script)
    assert not Job.objects.exists()


@pytest.mark.parametrize("member", ["checker", "owner", "outsider"])
def test_only_researchers_submit(request, workspace, ready_version, member):
    with pytest.raises(PermissionDenied):
        submit(workspace, request.getfixturevalue(member), ready_version)


def test_a_dataset_of_another_workspace_cannot_be_used(other_workspace, outsider, ready_version):
    with pytest.raises(PermissionDenied):
        submit(other_workspace, outsider, ready_version)


def test_only_the_submitter_cancels_or_reruns_a_job(queued, workspace):
    from tests.factories import MembershipFactory, UserFactory

    other = UserFactory(username="ola")
    MembershipFactory(workspace=workspace, user=other, roles=["researcher"])
    job = queued()
    with pytest.raises(PermissionDenied, match="job's submitter, or an owner"):
        services.cancel_job(job=job, by=other)
    with pytest.raises(PermissionDenied, match="submitted the job"):
        services.rerun_job(job=job, by=other)
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED


def test_an_owner_may_stop_anyones_job_and_it_is_audited_as_such(queued, owner):
    job = services.cancel_job(job=queued(), by=owner)
    assert job.status == Job.Status.CANCELLED
    event = AuditEvent.objects.get(action="job.stopped_by_owner")
    assert event.actor == owner


def test_a_rerun_records_what_it_reruns_in_the_same_transaction(queued, researcher):
    job = queued()
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FINISHED)

    new = services.rerun_job(job=job, by=researcher)
    assert new.rerun_of == job
    event = AuditEvent.objects.filter(action="job.submitted").latest("pk")
    assert event.details["rerun_of"] == job.pk
