"""Web and workers on other machines: they share nothing but the database, Redis and S3.

Three "hosts" on this one: the test process is the portal, and two Celery worker
processes each have a data directory, a temporary directory and a job directory of
their own. The object store is a real S3-speaking server (moto, in its own process on a
loopback port), not a mock. All three have the same settings as a deployment would give
them (TRE_DATASET_STORAGE=s3, TRE_S3_*, the same TRE_MASTER_KEY and TRE_AUDIT_KEY).

A dataset's files, its synthetic sample and every job's outputs must travel through the
bucket, encrypted, and nothing of them may stay in any host's own directories.
"""

import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

# Imported at the top, not skipped when missing: CI installs the test extras.
import boto3
import pytest

from jobs.models import Job
from jobs.tasks import run_job_task
from tests.conftest import ROOT, WorkerProcess, database_url_for_worker
from tests.factories import marked_csv, upload_of
from tests.integration.conftest import wait_for_status
from tre import celery_app, crypto, vault
from workspaces import services as workspace_services
from workspaces.models import EncryptedFile, SyntheticSample
from workspaces.services import datasets as dataset_services
from workspaces.services.datasets import suggested_decisions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BUCKET = "tre-datasets"
# A value of the real data in a kept column: in the decided data file and in what the
# real runs copy into their outputs, so plaintext anywhere in the bucket would show it.
MARKER = "QZOBJECT"


# Copies the rows into an output on purpose (the airlock would refuse it, but the
# worker stores it all the same): the worst plaintext a run can hand to storage.
SCRIPT = """\
import tre_sdk
rows = tre_sdk.load_dataset("admissions")
rows.to_csv("/output/rows.csv", index=False)
tre_sdk.save_table("by_ward", tre_sdk.crosstab(rows, "ward"))
print(len(rows))
"""


@dataclass
class ObjectStore:
    url: str
    client: object

    def objects(self) -> dict[str, bytes]:
        """Every object in the bucket, by key, with its bytes."""
        found = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                body = self.client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"]
                found[item["Key"]] = body.read()
        return found


def stop(popen: subprocess.Popen) -> None:
    """Stop a process started in its own session, and whatever it started."""
    if popen.poll() is None:
        os.killpg(popen.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=20)
    # Pool processes or a sandbox outliving their parent, whatever happened to it.
    with suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGKILL)
    popen.wait(timeout=10)


@pytest.fixture
def object_store(tmp_path):
    """A moto S3 server on a free loopback port (it picks one and says which), with an
    empty bucket."""
    log_path = tmp_path / "moto.log"
    with open(log_path, "w") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "--host", "127.0.0.1", "--port", "0"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (
            found := re.search(r"Running on (http://127\.0\.0\.1:\d+)", log_path.read_text())
        ):
            if popen.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The moto server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        url = found.group(1)
        client = boto3.client(
            "s3", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        client.create_bucket(Bucket=BUCKET)
        yield ObjectStore(url=url, client=client)
    finally:
        stop(popen)


@dataclass
class Host:
    """One machine's own directories, where nothing of the data may stay; a worker host
    also has its job directory (in memory), its queue and its worker process."""

    name: str
    root: Path
    job_dir: Path | None = None
    queue: str = ""
    worker: WorkerProcess | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def temp_dir(self) -> Path:
        return self.root / "tmp"

    def files(self) -> list[str]:
        """Every file the host keeps, but the lock of a sandbox waiting for its next job
        (a worker's warm sandbox: an empty directory of job 0, and its lock)."""
        places = [self.root, *([self.job_dir] if self.job_dir else [])]
        return sorted(
            str(path)
            for place in places
            for path in place.rglob("*")
            if not path.is_dir()
            and not (path.name == ".lock" and path.parent.name.startswith("tre-job-0-"))
        )


def make_host(name: str, parent: Path) -> Host:
    host = Host(name=name, root=parent / name)
    host.data_dir.mkdir(parents=True)
    host.temp_dir.mkdir()
    return host


@pytest.fixture
def shared_settings(object_store, monkeypatch):
    """What every host's environment holds alike: the storage and the keys."""
    keys = {
        "TRE_MASTER_KEY": vault.generate_master_key(),
        "TRE_AUDIT_KEY": vault.generate_master_key(),
    }
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()
    yield {
        **keys,
        "TRE_DATASET_STORAGE": "s3",
        "TRE_S3_BUCKET": BUCKET,
        "TRE_S3_ENDPOINT_URL": object_store.url,
        "TRE_S3_REGION": "us-east-1",
        "TRE_S3_ACCESS_KEY_ID": "testing",
        "TRE_S3_SECRET_ACCESS_KEY": "testing",
    }
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()


def host_environment(host: Host, shared: dict) -> dict:
    return {
        **shared,
        "DATABASE_URL": database_url_for_worker(),
        "TRE_DATA_DIR": str(host.data_dir),
        "TRE_TEMP_DIR": str(host.temp_dir),
        "TMPDIR": str(host.temp_dir),
    }


@pytest.fixture
def web_host(settings, shared_settings, tmp_path, monkeypatch):
    """This process as the portal's host: its settings as tre/settings.py makes them from
    that host's environment (S3 for the "datasets" storage)."""
    host = make_host("web", tmp_path)
    for name, value in host_environment(host, shared_settings).items():
        monkeypatch.setenv(name, value)
    computed = runpy.run_path(str(ROOT / "tre" / "settings.py"))
    assert computed["STORAGES"]["datasets"]["BACKEND"] == "storages.backends.s3.S3Storage"
    # Django drops its storage instances when STORAGES changes (setting_changed), and
    # tre.vault looks the storage up on every call: nothing keeps the local backend.
    for name in ("STORAGES", "TRE_TEMP_DIR", "TRE_MASTER_KEY_FILE", "TRE_AUDIT_KEY_FILE"):
        setattr(settings, name, computed[name])
    return host


@pytest.fixture
def worker_hosts(shared_settings, redis_url, tmp_path):
    """Two worker hosts, each a `celery worker` process on a queue of its own (that the
    session's worker, on local storage, never reads)."""
    hosts = []
    with ExitStack() as cleanup:
        for name in ("host-a", "host-b"):
            host = make_host(name, tmp_path)
            host.job_dir = Path(tempfile.mkdtemp(prefix=f"tre-test-{name}-", dir="/dev/shm"))
            cleanup.callback(shutil.rmtree, host.job_dir, ignore_errors=True)
            host.queue = f"{name}-{os.getpid()}"
            log_path = tmp_path / f"{name}.log"
            env = {
                **os.environ,
                **host_environment(host, shared_settings),
                "REDIS_URL": redis_url,
                "DJANGO_SETTINGS_MODULE": "tre.settings",
                "TRE_JOB_DIR": str(host.job_dir),
            }
            with open(log_path, "w") as log:
                popen = subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "tre", "worker", "--loglevel", "INFO",
                     "--concurrency", "2", "--queues", host.queue, "--without-mingle",
                     "--without-gossip", "--hostname", f"{host.queue}@%h"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            cleanup.callback(stop, popen)
            host.worker = WorkerProcess(popen, log_path)
            hosts.append(host)
        deadline = time.monotonic() + 60
        for host in hosts:
            while "ready." not in host.worker.log():
                if host.worker.popen.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{host.name}'s worker did not start:\n{host.worker.log()[-3000:]}")
                time.sleep(0.2)
        yield hosts
        with celery_app.connection_for_write(redis_url) as connection:
            for host in hosts:
                connection.default_channel.queue_purge(host.queue)


def test_jobs_on_two_worker_hosts_keep_every_file_in_the_object_store(
    object_store, web_host, worker_hosts, workspace, checker, researcher, monkeypatch
):
    host_a, host_b = worker_hosts
    # The decision queues the sample's build on commit, to the default queue, which the
    # session's worker reads: sent to host A's queue instead, by the same task name.
    monkeypatch.setattr(
        dataset_services, "queue_synthesis",
        lambda sample_id: celery_app.send_task(
            "workspaces.tasks.build_synthetic_sample_task", args=(sample_id,), queue=host_a.queue
        ),
    )  # fmt: skip

    # The steward uploads and decides on the portal's host.
    version = workspace_services.ingest_dataset(
        workspace=workspace, upload=upload_of(marked_csv(MARKER)), by=checker, name="admissions"
    )
    decisions = {**suggested_decisions(version), "code": {"action": "keep"}}
    version = workspace_services.decide_columns(version=version, decisions=decisions, by=checker)
    sample = wait_for_status(version.synthetic_sample, {"ready", "failed"}, seconds=60)
    assert sample.status == SyntheticSample.Status.READY, host_a.worker.log()[-3000:]

    # A dry run and a real run on each worker host: host B's dry run reads the sample
    # host A wrote, and both read the data file the portal wrote.
    jobs = {}
    for host, mode in [(host_a, Job.Mode.REAL), (host_b, Job.Mode.DRY_RUN),
                       (host_a, Job.Mode.DRY_RUN), (host_b, Job.Mode.REAL)]:  # fmt: skip
        # Made directly rather than submitted: submit_job's on-commit send goes to the
        # shared dry_runs and real_runs queues, which the session's worker reads.
        job = Job.objects.create(
            workspace=workspace, script=SCRIPT, mode=mode, submitted_by=researcher
        )
        job.dataset_versions.set([version])
        run_job_task.apply_async((job.pk,), queue=host.queue)
        jobs[job.pk] = host
    for job_id, host in jobs.items():
        job = wait_for_status(Job.objects.get(pk=job_id), Job.ENDED, seconds=60)
        assert job.status == Job.Status.FINISHED, (job.status_reason, host.worker.log()[-3000:])
        assert {"rows.csv", "by_ward.csv"} <= set(job.outputs.values_list("filename", flat=True))

    # Each worker did its own share, and said so in its log (ids and statuses only).
    assert f"'sample': {sample.pk}, 'status': 'ready'" in host_a.worker.wait_for_log(
        f"'sample': {sample.pk}"
    )
    for job_id, host in jobs.items():
        finished = f"'job': {job_id}, 'status': 'finished'"
        assert finished in host.worker.wait_for_log(finished)
        other = host_b if host is host_a else host_a
        assert f"'job': {job_id}," not in other.worker.log()

    # Every stored file is an object in the bucket, and every object is a stored file:
    # the upload's staged copy was removed once decided.
    version.refresh_from_db()
    sample.refresh_from_db()
    stored = {
        f"datasets/{name}" for name in EncryptedFile.objects.values_list("storage_name", flat=True)
    }
    objects = object_store.objects()
    assert set(objects) == stored
    outputs = [output for job_id in jobs for output in Job.objects.get(pk=job_id).outputs.all()]
    files = [version.data_file, sample.file, *(output.file for output in outputs)]
    assert {f"datasets/{file.storage_name}" for file in files} == stored
    assert len(outputs) >= 2 * len(jobs)

    # Encrypted: each object is the sealed format, and no plaintext of the data shows.
    plaintext = [MARKER.encode(), b"readmitted", b"length_of_stay", b"cardiology"]
    for key, content in objects.items():
        assert content.startswith(crypto.MAGIC), key
        assert [text for text in plaintext if text in content] == [], key
    # The control: the real runs' copies do hold the marker, read back on the portal's
    # host through the store with the shared master key.
    real_copies = [output for output in outputs
                   if output.filename == "rows.csv" and output.job.is_real]  # fmt: skip
    assert len(real_copies) == 2
    for output in real_copies:
        with vault.open_encrypted(output.file) as reader:
            assert MARKER.encode() in reader.read()

    # No host keeps a file of its own: no dataset, sample, output, key or scratch file.
    assert web_host.files() == []
    for host in worker_hosts:
        assert host.files() == []
