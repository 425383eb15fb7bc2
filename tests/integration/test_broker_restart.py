"""A broker that restarts and forgets its queue loses no submitted job.

Its own embedded Redis and its own worker (with the beat that runs the reaper), so the
machine's Redis is never touched.
"""

import os
import subprocess
import sys
import time

import pytest
from celery import Celery

from jobs.models import Job
from tests.conftest import ROOT, database_url_for_worker
from tre.embedded_redis import embedded_redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_job_queued_before_a_broker_restart_still_runs(
    ready_version, workspace, researcher, worker_data_dir, tmp_path
):
    # Made directly rather than submitted: submit_job would also send it to the session's
    # broker, where another worker could run it and prove nothing about a restart.
    job = Job.objects.create(
        workspace=workspace,
        script="print('survived')",
        mode=Job.Mode.DRY_RUN,
        submitted_by=researcher,
    )
    job.dataset_versions.set([ready_version])

    with embedded_redis() as first_broker:
        # Not the current app: the rest of the session keeps sending to its own broker.
        sender = Celery(broker=first_broker, set_as_current=False)
        sender.send_task("jobs.tasks.run_job_task", args=[job.pk], queue="dry_runs")
        sender.close()
    # That broker is gone, and its queue with it (it kept nothing on disk).

    with embedded_redis() as second_broker:
        env = {**os.environ, "REDIS_URL": second_broker,
               "DATABASE_URL": database_url_for_worker(), "TRE_DATA_DIR": str(worker_data_dir),
               "TRE_REAPER_INTERVAL": "1", "TRE_JOB_HEARTBEAT_TIMEOUT": "2"}  # fmt: skip
        log_path = tmp_path / "worker.log"
        with open(log_path, "w") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tre", "worker", "--beat",
                 "--schedule", str(tmp_path / "beat-schedule"), "--concurrency", "1",
                 "--queues", "default,dry_runs,real_runs", "--without-mingle",
                 "--without-gossip", "--hostname", f"restart-{os.getpid()}@%h"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                job.refresh_from_db()
                if job.has_ended:
                    break
                time.sleep(0.3)
        finally:
            worker.terminate()
            worker.wait(timeout=30)

    assert job.status == Job.Status.FINISHED, log_path.read_text()[-3000:]
    assert job.log == "survived"
