"""Jobs through the real broker to real worker processes, and a worker killed mid-job."""

import os
import signal
import subprocess
import sys
import time

import pytest

from jobs import runtime, services
from jobs.models import Job
from tests.conftest import ROOT, database_url_for_worker
from tests.factories import admissions_csv, upload_of
from tests.integration.conftest import wait_for_status
from workspaces import services as workspace_services
from workspaces.services.datasets import suggested_decisions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def version(celery_worker_process, workspace, checker):
    version = workspace_services.ingest_dataset(
        workspace=workspace, upload=upload_of(admissions_csv(300)), by=checker, name="admissions"
    )
    version = workspace_services.decide_columns(
        version=version, decisions=suggested_decisions(version), by=checker
    )
    wait_for_status(version.synthetic_sample, {"ready"})
    return version


@pytest.mark.parametrize("mode", [Job.Mode.DRY_RUN, Job.Mode.REAL])
def test_a_submitted_job_runs_on_a_worker_from_its_queue(
    celery_worker_process, version, workspace, researcher, mode
):
    job = services.submit_job(
        workspace=workspace,
        script="import tre_sdk\nprint(len(tre_sdk.load_dataset('admissions')))",
        dataset_versions=[version],
        mode=mode,
        by=researcher,
    )
    job = wait_for_status(job, Job.ENDED)
    assert job.status == Job.Status.FINISHED, job.status_reason
    expected = "300" if mode == Job.Mode.REAL else str(version.synthetic_sample.row_count)
    if mode == Job.Mode.REAL:  # the log is an output for the airlock, never on the page
        assert job.log == ""
        assert job.outputs.get(type="log").size_bytes > 0
    else:
        assert job.log == expected
    log = celery_worker_process.wait_for_log(f"'job': {job.pk}")
    assert f"'job': {job.pk}, 'status': 'finished'" in log


def test_a_worker_killed_mid_job_leaves_a_failed_job_not_a_running_one(
    version,
    workspace,
    researcher,
    redis_url,
    worker_data_dir,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url_for_worker(),
           "TRE_DATA_DIR": str(worker_data_dir)}  # fmt: skip
    log_path = tmp_path / "doomed-worker.log"
    with open(log_path, "w") as log:
        doomed = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tre", "worker", "--concurrency", "1",
             "--queues", "doomed", "--without-mingle", "--without-gossip",
             "--hostname", f"doomed-{os.getpid()}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # Made directly rather than submitted, so that only the doomed worker gets it
        # (in a transactional test, submit_job's on-commit send would reach the others).
        job = Job.objects.create(
            workspace=workspace, script="import time\ntime.sleep(120)", mode=Job.Mode.REAL,
            submitted_by=researcher,
        )  # fmt: skip
        job.dataset_versions.set([version])
        from jobs.tasks import run_job_task

        run_job_task.apply_async((job.pk,), queue="doomed")
        wait_for_status(job, {Job.Status.RUNNING}, seconds=60)
        # The whole worker at once, pool processes too, as the OOM killer or a
        # `docker kill` would; the sandbox dies with its parent.
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()

    time.sleep(2)
    assert runtime.reap_stale_jobs(stale_after=1) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "stopped" in job.status_reason
    # Delivered again (say the broker re-queued it), it is not run a second time.
    assert runtime.run_job(job_id=job.pk) is None
