"""The worker's side, in-process: claim, the real sandbox, outputs, logs, the reaper."""

import time

import pytest

from jobs import runtime
from jobs.models import Job, JobOutput
from tre import vault
from tre.models import AuditEvent
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_a_dry_run_reads_the_synthetic_sample_and_shows_everything(queued, ready_version):
    job = runtime.run_job(job_id=queued().pk)

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
    job = runtime.run_job(job_id=queued(mode=Job.Mode.REAL).pk)

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
    job = runtime.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.FAILED
    assert (job.failure_type, job.failure_line) == ("ValueError", 6)
    assert job.log == ""
    assert job.status_reason == "The script failed"
    assert job.exit_code == 1  # kept for the admins; never shown for a real run


def test_a_real_run_over_the_output_limit_keeps_nothing_but_its_log(queued, workspace):
    workspace.job_limits = {"output_bytes": 1024**2}
    workspace.save()
    script = "open('big.csv', 'w').write('x' * 5 * 1024**2)\nprint('wrote')\n"
    job = runtime.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
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
    job = runtime.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)
    labels = {output.shown_name for output in job.outputs.all()}
    assert {"counts", "full_log", "rows"} < labels
    hidden = labels - {"counts", "full_log", "rows"}
    assert len(hidden) == 2
    assert all(label.startswith("output ") for label in hidden)


def test_a_job_runs_at_most_once(queued):
    job = queued(mode=Job.Mode.REAL)
    assert runtime.run_job(job_id=job.pk).status == Job.Status.FINISHED
    assert runtime.run_job(job_id=job.pk) is None  # a second delivery claims nothing
    assert AuditEvent.objects.filter(action="job.ended", target_id=str(job.pk)).count() == 1


def test_a_crashing_script_fails_with_its_reason(queued):
    job = runtime.run_job(job_id=queued(script="import sys; sys.exit(3)").pk)
    assert job.status == Job.Status.FAILED
    assert job.exit_code == 3
    assert "exited with code 3" in job.status_reason


def test_an_endless_script_times_out(queued, workspace):
    workspace.job_limits = {"wall_seconds": 2}
    workspace.save()
    job = runtime.run_job(job_id=queued(script="while True: pass").pk)
    assert job.status == Job.Status.TIMED_OUT
    assert "wall-clock" in job.status_reason


def test_cancelling_a_running_job_stops_it(queued, researcher):
    job = queued(script="import time\nwhile True: time.sleep(0.1)")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    job = runtime.run_job(job_id=job.pk)
    assert job.status == Job.Status.CANCELLED


def lost_with_its_worker(queued, mode):
    """A running job whose worker stopped writing heartbeats five minutes ago, reaped."""
    from django.utils import timezone

    job = queued(mode=mode)
    runtime.claim(job.pk)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert runtime.reap_stale_jobs(stale_after=60) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    return job


def test_the_reaper_fails_a_job_whose_worker_died(queued):
    job = lost_with_its_worker(queued, Job.Mode.REAL)
    assert "not run again" in job.status_reason
    assert "at most once" in job.status_reason
    assert runtime.run_job(job_id=job.pk) is None


def test_a_dry_run_lost_with_its_worker_says_a_re_run_is_safe(queued):
    job = lost_with_its_worker(queued, Job.Mode.DRY_RUN)
    assert "re-running it is safe" in job.status_reason


def test_a_worker_whose_job_directory_is_on_a_disk_refuses_the_job(queued, settings, tmp_path):
    on_disk = tmp_path / "jobs"  # a disk here (see tests/jobs/test_workdirs.py)
    on_disk.mkdir()
    settings.TRE_JOB_DIR = str(on_disk)
    job = runtime.run_job(job_id=queued(mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.FAILED
    assert "would write the run's files to a disk" in job.status_reason
    assert not job.outputs.exists()
    assert list(on_disk.iterdir()) == []


def test_a_sandbox_that_cannot_be_made_refuses_the_job(queued, monkeypatch):
    from jobs import sandbox

    def unavailable():
        raise sandbox.SandboxUnavailable("no user namespaces here")

    # Says so: this test is about the refusal, on a machine where the sandbox does work.
    monkeypatch.setattr(sandbox, "check_available", unavailable)
    job = runtime.run_job(job_id=queued(mode=Job.Mode.REAL).pk)
    assert job.status == Job.Status.FAILED
    assert "refuses to run scripts" in job.status_reason
    assert not job.outputs.exists()


def test_two_tables_of_one_run_a_person_apart_both_fail_differencing(queued):
    # Issue 12: each table alone may pass; their difference counts one person.
    script = """
import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
admissions["ward"].value_counts().to_csv("/output/everyone.csv")
admissions.iloc[1:]["ward"].value_counts().to_csv("/output/all_but_one.csv")
"""
    job = runtime.run_job(job_id=queued(script=script, mode=Job.Mode.REAL).pk)

    assert job.status == Job.Status.FINISHED, job.status_reason
    verdicts = {output.name: output.verdict for output in job.outputs.all()}
    for name, other in (("everyone", "all_but_one"), ("all_but_one", "everyone")):
        differencing = [r for r in verdicts[name]["reasons"] if r["rule"] == "differencing"]
        assert verdicts[name]["status"] == "fail"
        assert f'"{other}.csv"' in differencing[0]["message"]


# --- warm starts (issue 15) -----------------------------------------------------------


def wait_for_warm(seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not runtime._warm and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(runtime._warm)


@pytest.fixture
def warm(settings):
    settings.TRE_WARM_SANDBOX = True
    runtime.prepare_warm(runtime.limits_for(Workspace.objects.get(slug="cardiac")))
    assert runtime._warm, "no warm sandbox was started"
    assert runtime._warm[0].sandbox.wait_ready(timeout=60)
    return runtime._warm[0]


def test_a_dry_run_in_a_warm_sandbox_gives_what_a_cold_one_gives(queued, ready_version, warm):
    job = runtime.run_job(job_id=queued().pk)

    assert job.status == Job.Status.FINISHED, job.status_reason
    assert job.log == f"rows: {ready_version.synthetic_sample.row_count}"
    assert {output.name for output in job.outputs.all()} == {"by_ward", "rows"}
    assert not warm.sandbox.is_alive()  # used once, never again
    assert not warm.directory.path.exists()
    # The next one is started once the worker has been idle a moment: a new sandbox in
    # a new directory.
    assert wait_for_warm()
    assert runtime._warm[0].sandbox is not warm.sandbox
    assert runtime._warm[0].directory.path != warm.directory.path


def test_a_real_run_in_a_warm_sandbox_keeps_its_log_for_the_airlock(queued, ready_version, warm):
    job = runtime.run_job(job_id=queued(mode=Job.Mode.REAL).pk)

    assert job.status == Job.Status.FINISHED
    assert job.log == ""
    full_log = job.outputs.get(type=JobOutput.Type.LOG)
    with vault.open_encrypted(full_log.file) as reader:
        assert reader.read() == f"rows: {ready_version.row_count}".encode()


def test_a_warm_sandbox_with_other_limits_is_put_away_not_used(queued, warm, workspace):
    workspace.job_limits = {"cpu_seconds": 7}
    workspace.save(update_fields=["job_limits"])

    job = runtime.run_job(job_id=queued().pk)

    assert job.status == Job.Status.FINISHED, job.status_reason
    deadline = time.monotonic() + 10  # put away in the background
    while warm.directory.path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not warm.sandbox.is_alive()
    assert not warm.directory.path.exists()
    assert wait_for_warm()
    assert runtime._warm[0].sandbox.limits.cpu_seconds == 7  # the next, for these limits


def test_no_sandbox_is_warmed_while_a_run_goes_on(queued, settings):
    settings.TRE_WARM_SANDBOX = True
    runtime._take_warm(runtime.limits_for(Workspace.objects.get(slug="cardiac")), busy=True)

    runtime.prepare_warm()

    assert runtime._warm == []
