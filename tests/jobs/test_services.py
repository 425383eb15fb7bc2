"""Jobs end to end in-process: submit, the worker's run in the real sandbox, outputs, logs."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from jobs import services
from jobs.models import Job, JobOutput
from tre.models import AuditEvent
from workspaces import vault

pytestmark = pytest.mark.django_db

SCRIPT = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
tre_sdk.save_table("by_ward", by_ward, kind="frequency", description="per ward")
tre_sdk.save_metric("rows", len(admissions))
print("rows:", len(admissions))
"""


def submit(workspace, by, version, script=SCRIPT, mode=Job.Mode.DRY_RUN, callbacks=None):
    return services.submit_job(
        workspace=workspace, script=script, dataset_versions=[version], mode=mode, by=by
    )


@pytest.fixture
def queued(ready_version, researcher, workspace, django_capture_on_commit_callbacks):
    def make(**kwargs):
        with django_capture_on_commit_callbacks():  # the task is not sent: we run it here
            return submit(workspace, researcher, ready_version, **kwargs)

    return make


def test_a_dry_run_reads_the_synthetic_sample_and_shows_everything(queued, ready_version):
    job = services.run_job(job_id=queued().pk)

    assert job.status == Job.Status.FINISHED, job.status_reason
    assert job.log == f"rows: {ready_version.synthetic_sample.row_count}"
    assert job.cpu_seconds > 0
    outputs = {output.name: output for output in job.outputs.all()}
    assert set(outputs) == {"by_ward", "rows"}
    assert outputs["by_ward"].type == "table"
    assert outputs["by_ward"].kind == "frequency"
    with vault.open_encrypted(outputs["rows"].file) as reader:
        assert reader.read() == f'{{"value": {ready_version.synthetic_sample.row_count}}}'.encode()


def test_a_real_run_reads_the_real_data_and_hides_the_log(queued, ready_version):
    job = services.run_job(job_id=queued(mode=Job.Mode.REAL).pk)

    assert job.status == Job.Status.FINISHED
    assert job.log == ""  # a real run's log is only an output, for the airlock
    full_log = job.outputs.get(type=JobOutput.Type.LOG)
    with vault.open_encrypted(full_log.file) as reader:
        assert reader.read() == f"rows: {ready_version.row_count}".encode()


def test_a_real_runs_traceback_keeps_only_types_and_line_numbers(queued):
    script = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
ward = admissions["ward"].iloc[0]
print("first ward is", ward)
raise ValueError(f"bad ward {ward}")
"""
    job = services.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.FAILED
    assert (job.failure_type, job.failure_line) == ("ValueError", 6)
    assert job.log == ""
    assert job.status_reason == "The script failed"
    assert job.exit_code == 1  # kept for the admins; never shown for a real run


def test_a_real_run_over_the_output_limit_keeps_nothing_but_its_log(queued, workspace):
    workspace.job_limits = {"output_bytes": 1024**2}
    workspace.save()
    script = "open('big.csv', 'w').write('x' * 5 * 1024**2)\nprint('wrote')\n"
    job = services.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.LIMIT_EXCEEDED
    assert job.limit == "output_bytes"
    assert [output.type for output in job.outputs.all()] == [JobOutput.Type.LOG]


def test_a_real_runs_outputs_show_only_names_written_in_the_script(queued):
    script = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
ward = str(admissions["ward"].iloc[0])
tre_sdk.save_metric("rows", len(admissions), description=ward)
tre_sdk.save_metric("w_" + ward, 1)
open("counts.txt", "w").write("x")
open(ward + ".txt", "w").write("x")
"""
    job = services.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
    labels = {output.shown_name for output in job.outputs.all()}
    assert {"counts", "full_log", "rows"} < labels
    hidden = labels - {"counts", "full_log", "rows"}
    assert len(hidden) == 2
    assert all(label.startswith("output ") for label in hidden)


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


def test_a_job_runs_at_most_once(queued):
    job = queued(mode=Job.Mode.REAL)
    assert services.run_job(job_id=job.pk).status == Job.Status.FINISHED
    assert services.run_job(job_id=job.pk) is None  # a second delivery claims nothing
    assert AuditEvent.objects.filter(action="job.ended", target_id=str(job.pk)).count() == 1


def test_a_crashing_script_fails_with_its_reason(queued):
    job = services.run_job(job_id=queued(script="import sys; sys.exit(3)").pk)
    assert job.status == Job.Status.FAILED
    assert job.exit_code == 3
    assert "exited with code 3" in job.status_reason


def test_an_endless_script_times_out(queued, workspace):
    workspace.job_limits = {"wall_seconds": 2}
    workspace.save()
    job = services.run_job(job_id=queued(script="while True: pass").pk)
    assert job.status == Job.Status.TIMED_OUT
    assert "wall-clock" in job.status_reason


def test_cancelling_a_queued_job_stops_it_before_it_starts(queued, researcher):
    job = services.cancel_job(job=queued(), by=researcher)
    assert job.status == Job.Status.CANCELLED
    assert services.run_job(job_id=job.pk) is None


def test_cancelling_a_running_job_stops_it(queued, researcher):
    job = queued(script="import time\nwhile True: time.sleep(0.1)")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job = services.run_job(job_id=job.pk)
    assert job.status == Job.Status.CANCELLED


def test_the_reaper_fails_a_job_whose_worker_died(queued):
    from django.utils import timezone

    job = queued(mode=Job.Mode.REAL)
    services.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert services.reap_stale_jobs(stale_after=60) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "not run again" in job.status_reason
    assert services.run_job(job_id=job.pk) is None


def test_rerun_submits_a_copy(queued, researcher, django_capture_on_commit_callbacks):
    job = services.run_job(job_id=queued().pk)
    with django_capture_on_commit_callbacks():
        again = services.rerun_job(job=job, by=researcher)
    assert again.rerun_of == job
    assert again.script == job.script
    assert list(again.dataset_versions.all()) == list(job.dataset_versions.all())


@pytest.mark.parametrize(
    ("script", "message"),
    [("", "empty"), ("def broken(:\n", "Line 1"), ("x" * 300_000, "larger than")],
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


def test_a_sandbox_that_cannot_be_made_refuses_the_job(queued, monkeypatch):
    from jobs import sandbox

    def unavailable():
        raise sandbox.SandboxUnavailable("no user namespaces here")

    # Says so: this test is about the refusal, on a machine where the sandbox does work.
    monkeypatch.setattr(sandbox, "check_available", unavailable)
    job = services.run_job(job_id=queued(mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.FAILED
    assert "refuses to run scripts" in job.status_reason
    assert not job.outputs.exists()
