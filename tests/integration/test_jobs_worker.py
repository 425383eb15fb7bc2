"""Jobs through the real broker to real worker processes, and a worker killed mid-job."""

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from jobs import runtime, services, workdirs
from jobs.models import Job
from tests.conftest import ROOT, database_url_for_worker
from tests.factories import marked_csv, upload_of
from tests.integration.conftest import wait_for_status
from tre.models import AuditEvent
from workspaces import services as workspace_services
from workspaces.services.datasets import suggested_decisions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def version(worker_version):
    return worker_version


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


# A value of the real data that appears nowhere else: not in the synthetic sample (each is
# unique, so rare, so never copied), not in the profile, not in the code.
MARKER = "QZLEAK"


def files_holding_the_marker(since: Path, *, memory_too: bool) -> list[str]:
    """Every file written after `since` was, anywhere on this host, that holds a value of
    the marked column: as bytes, or once decoded if it is a Parquet file (compressed pages
    need not show the bytes). Disks only unless `memory_too`."""
    import pyarrow.parquet as pq

    from jobs.workdirs import MEMORY_FILE_SYSTEMS, file_system_type

    # find(1) walks the whole file system in seconds; reading only what changed since.
    written = subprocess.run(
        ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev/pts",
         ")", "-prune", "-o", "-type", "f", "-newer", str(since), "-print0"],
        capture_output=True, check=False,
    ).stdout.split(b"\0")  # fmt: skip
    found = []
    for raw in filter(None, written):
        path = os.fsdecode(raw)
        if not memory_too and file_system_type(Path(path)) in MEMORY_FILE_SYSTEMS:
            continue
        try:
            with open(path, "rb") as handle:
                content = handle.read(1 << 30)
        except OSError:
            continue
        if MARKER.encode() in content:
            found.append(path)
        elif content.startswith(b"PAR1"):
            with contextlib.suppress(Exception):
                if MARKER in str(pq.read_table(io.BytesIO(content)).to_pylist()):
                    found.append(path)
    return found


def test_a_worker_killed_mid_job_leaves_no_plaintext_and_a_failed_job(
    celery_worker_process,
    workspace,
    checker,
    researcher,
    redis_url,
    worker_data_dir,
    tmp_path,
):
    started = tmp_path / "started"
    started.touch()
    version = workspace_services.ingest_dataset(
        workspace=workspace, upload=upload_of(marked_csv(MARKER)), by=checker, name="admissions"
    )
    decisions = {**suggested_decisions(version), "code": {"action": "keep"}}
    version = workspace_services.decide_columns(version=version, decisions=decisions, by=checker)
    wait_for_status(version.synthetic_sample, {"ready"})
    job_root = Path(tempfile.mkdtemp(prefix="tre-test-jobs-", dir="/dev/shm"))
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url_for_worker(),
           "TRE_DATA_DIR": str(worker_data_dir), "TRE_JOB_DIR": str(job_root)}  # fmt: skip
    log_path = tmp_path / "doomed-worker.log"
    with open(log_path, "w") as log:
        doomed = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tre", "worker", "--concurrency", "1",
             "--queues", "doomed", "--without-mingle", "--without-gossip",
             "--hostname", f"doomed-{os.getpid()}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    # The worst a script can do: copy the real rows into its output, then keep running.
    script = (
        "import tre_sdk, time\n"
        "tre_sdk.load_dataset('admissions').to_csv('/output/copy.csv')\n"
        "open('/output/ready', 'w').close()\n"
        "time.sleep(120)\n"
    )
    try:
        # Made directly rather than submitted, so that only the doomed worker gets it
        # (in a transactional test, submit_job's on-commit send would reach the others).
        job = Job.objects.create(
            workspace=workspace, script=script, mode=Job.Mode.REAL, submitted_by=researcher
        )
        job.dataset_versions.set([version])
        from jobs.tasks import run_job_task

        run_job_task.apply_async((job.pk,), queue="doomed")
        wait_for_status(job, {Job.Status.RUNNING}, seconds=60)
        deadline = time.monotonic() + 60
        while not list(job_root.glob("tre-job-*/output/ready")):
            assert time.monotonic() < deadline, "the script never got going"
            time.sleep(0.2)
        # The whole worker at once, pool processes too, as the OOM killer or a
        # `docker kill` would; the sandbox dies with its parent.
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()

    try:
        # The input never had a name on any file system, and what the script copied
        # lives in memory: no disk holds a value of the real data.
        assert files_holding_the_marker(started, memory_too=False) == []
        # The dead run's output is still in memory, until this host's sweep: then nothing
        # anywhere holds it, and the removal is audited.
        # The control: the search does find the script's copy where it is, in memory.
        assert [Path(path).name for path in files_holding_the_marker(
            started, memory_too=True)] == ["copy.csv"]  # fmt: skip
        leftover = [path.name for path in job_root.iterdir()]
        assert [name for name in leftover if name.startswith(f"tre-job-{job.pk}-")] != []
        # Besides the run's, at most the directory of a sandbox that was still warming up
        # for a later job (job 0: no job, no file but its lock).
        others = [name for name in leftover if not name.startswith(f"tre-job-{job.pk}-")]
        assert all(name.startswith("tre-job-0-") for name in others)
        assert len(leftover) == 1 + len(others) <= 2
        assert workdirs.sweep(roots=[job_root]) == len(leftover)
        assert list(job_root.iterdir()) == []
        assert files_holding_the_marker(started, memory_too=True) == []
        removal = AuditEvent.objects.get(action="job.leftovers_removed", target_id=str(job.pk))
        assert removal.target_id == str(job.pk)
        assert removal.details["files"] >= 2
    finally:
        shutil.rmtree(job_root, ignore_errors=True)

    time.sleep(2)
    assert runtime.reap_stale_jobs(stale_after=1) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "at most once" in job.status_reason
    # Delivered again (say the broker re-queued it), it is not run a second time.
    assert runtime.run_job(job_id=job.pk) is None
