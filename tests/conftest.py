import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory, make_data_steward
from tre.permissions import Role

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache, as with an empty database: allauth keeps its
    per-address rate limits and spent codes there, and every test signs in from 127.0.0.1."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def client():
    """pytest-django's client, whose force_login leaves a session signed in with a second
    factor (tests.auth); tests of signing in itself use the real pages."""
    from tests.auth import SignedInClient

    return SignedInClient()


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Cardiac study", slug="cardiac")


@pytest.fixture
def other_workspace(db):
    return WorkspaceFactory(name="Oncology study", slug="oncology")


def _member(workspace, username, *roles):
    user = UserFactory(username=username)
    MembershipFactory(workspace=workspace, user=user, roles=[role.value for role in roles])
    return user


@pytest.fixture
def owner(workspace):
    return _member(workspace, "olu", Role.OWNER)


@pytest.fixture
def researcher(workspace):
    return _member(workspace, "rae", Role.RESEARCHER)


@pytest.fixture
def checker(workspace):
    """The workspace's output checker, who is also a data steward of the site (uploads
    its datasets); tests of a checker who is not one make their own."""
    return make_data_steward(_member(workspace, "chen", Role.OUTPUT_CHECKER))


@pytest.fixture
def outsider(other_workspace):
    """A member of another workspace: a real user with real roles, just not here."""
    return _member(other_workspace, "otto", Role.OWNER, Role.RESEARCHER, Role.OUTPUT_CHECKER)


@pytest.fixture
def site_admin(db):
    return get_user_model().objects.create_superuser(
        "ada", "ada@example.org", "correct-horse-battery-staple"
    )


# --- a real broker and a real worker -------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def redis_url():
    """REDIS_URL when set (CI's server), else an embedded Redis for this session.

    Autouse, so the Celery app points at it before any test sends a task: the app keeps
    the connections it made first."""
    from tre import celery_app
    from tre.embedded_redis import embedded_redis

    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with embedded_redis() as url:
        celery_app.conf.update(broker_url=url, result_backend=url)
        yield url


def database_url_for_worker() -> str:
    """The URL of the test database this session created, for a worker process."""
    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict["USER"] or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    return (
        f"postgres://{auth}{settings_dict['HOST'] or '127.0.0.1'}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )


class WorkerProcess:
    def __init__(self, popen, log_path):
        self.popen = popen
        self.log_path = log_path

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")

    def wait_for_log(self, text: str, seconds: float = 10) -> str:
        """The log once it holds `text` (the worker logs just after storing a result)."""
        deadline = time.monotonic() + seconds
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return log


@pytest.fixture(scope="session")
def worker_data_dir(tmp_path_factory):
    """The data directory (dataset storage, master key) the worker process uses; tests
    that hand it work point their own settings there too (see tests/integration)."""
    return tmp_path_factory.mktemp("worker-data")


@pytest.fixture(scope="session")
def celery_worker_process(
    redis_url, django_db_setup, django_db_blocker, tmp_path_factory, worker_data_dir
):
    """A real `celery worker` process on the real broker and the session's test database."""
    from tre import celery_app

    # Tasks left on a shared broker by an earlier run name ids of another database.
    with celery_app.connection_for_write(redis_url) as connection:
        for queue in ("default", "dry_runs", "real_runs"):
            connection.default_channel.queue_purge(queue)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url_for_worker(),
        "DJANGO_SETTINGS_MODULE": "tre.settings",
        "TRE_DATA_DIR": str(worker_data_dir),
        # Cold starts: the red team times when a real run is shown as ended from this
        # process, and on a two-core machine the worker's warm-ups (two interpreters
        # importing scikit-learn after every job) starved its poller by most of a second.
        # The workers the object-store and killed-worker tests start run warm.
        "TRE_WARM_SANDBOX": "0",
    }
    with open(log_path, "w") as log:
        popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tre",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--queues",
                "default,dry_runs,real_runs",
                "--pool",
                "prefork",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"tests-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(popen, log_path)
    deadline = time.monotonic() + 60
    while "ready." not in worker.log():
        if popen.poll() is not None or time.monotonic() > deadline:
            popen.kill()
            pytest.fail(f"The Celery worker did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.2)
    yield worker
    popen.terminate()
    try:
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        popen.kill()


def use_data_dir(settings, directory):
    """Point dataset storage and the master key file at `directory`."""
    from tre import vault

    settings.STORAGES = {
        **settings.STORAGES,
        "datasets": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(directory / "datasets")},
        },
    }
    settings.TRE_MASTER_KEY_FILE = str(directory / "master.key")
    settings.TRE_AUDIT_KEY_FILE = str(directory / "audit.key")
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()
    return directory / "datasets"


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Each test's dataset files and master key in its own temporary directory."""
    from tre import vault

    yield use_data_dir(settings, tmp_path)
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def flush_past_the_audit_triggers():
    """A transactional test ends by emptying every table (TRUNCATE on PostgreSQL, DELETE
    on SQLite), which the audit table's triggers refuse. The runner lifts them for the
    flush by DDL, as only an owner of the table can, and they are back before the next
    test (tre.audit_rewrite.triggers_lifted)."""
    from django.test import TransactionTestCase

    from tre.audit_rewrite import triggers_lifted

    flush = TransactionTestCase._fixture_teardown

    def flush_with_triggers_lifted(self):
        with triggers_lifted():
            flush(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", flush_with_triggers_lifted)
        yield


@pytest.fixture
def ready_version(workspace, checker, django_capture_on_commit_callbacks):
    """A decided dataset version with a built synthetic sample (built in-process here;
    tests/integration builds one on a real worker)."""
    from tests.factories import admissions_csv, upload_of
    from workspaces import services
    from workspaces.services.datasets import suggested_decisions

    with django_capture_on_commit_callbacks():  # the queued task is not sent
        version = services.ingest_dataset(
            workspace=workspace,
            upload=upload_of(admissions_csv(60)),
            by=checker,
            name="admissions",
        )
        version = services.decide_columns(
            version=version, decisions=suggested_decisions(version), by=checker
        )
    services.build_synthetic_sample(sample=version.synthetic_sample)
    version.refresh_from_db()
    return version


@pytest.fixture
def privacy_budget(ready_version, checker):
    """The demo's privacy budget (ε 1 here) on the ready version."""
    from privacy import services
    from tre.demo import PRIVACY_COLUMNS

    return services.set_budget(
        version=ready_version, by=checker, epsilon=1, columns=PRIVACY_COLUMNS
    )


@pytest.fixture
def finished_job(ready_version, researcher):
    """A finished dry run with one table output, made directly (no sandbox run): for
    tests of who may see what; tests/jobs run real ones."""
    from jobs.models import Job
    from tests.factories import job_output

    job = Job.objects.create(
        workspace=ready_version.dataset.workspace,
        submitted_by=researcher,
        mode=Job.Mode.DRY_RUN,
        script="print('hello')",
        status=Job.Status.FINISHED,
        log="hello",
    )
    job.dataset_versions.set([ready_version])
    job_output(job, "by_ward")
    return job


@pytest.fixture
def release_request(ready_version, researcher, django_capture_on_commit_callbacks):
    """A submitted release request for the table of a finished real-data run."""
    from jobs import airlock
    from jobs.models import Job
    from tests.factories import job_output

    job = Job.objects.create(
        workspace=ready_version.dataset.workspace,
        submitted_by=researcher,
        mode=Job.Mode.REAL,
        script="print('hello')",
        status=Job.Status.FINISHED,
    )
    job.dataset_versions.set([ready_version])
    output = job_output(job, "by_ward")
    request = airlock.create_request(
        job=job, description="table 1", items=[(output, "counts", "paper")], by=researcher
    )
    with django_capture_on_commit_callbacks():
        return airlock.submit_request(request=request, by=researcher)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness buys nothing in tests and costs seconds per user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_warm_sandbox(settings):
    """Runs in this process start cold unless a test says otherwise (tests/jobs/
    test_runtime.py runs them warm too): a warm sandbox kept between tests would carry a
    job directory made under one test's settings into the next."""
    from jobs import runtime

    settings.TRE_WARM_SANDBOX = False
    yield
    runtime.close_warm()
