import pytest

from tests.conftest import use_data_dir


@pytest.fixture(autouse=True)
def private_storage(settings, worker_data_dir):
    """Share dataset storage and the master key with the worker process."""
    from tre import vault

    yield use_data_dir(settings, worker_data_dir)
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()


def wait_for_status(instance, statuses, seconds: float = 90):
    """Poll the database until `instance.status` is one of `statuses` (a worker's doing)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        instance.refresh_from_db()
        if instance.status in statuses:
            return instance
        time.sleep(0.2)
    raise AssertionError(f"{instance} still {instance.status} after {seconds} s")


@pytest.fixture
def worker_version(celery_worker_process, workspace, checker):
    """A version of 300 made-up admissions, decided, whose synthetic sample the worker
    process built."""
    from tests.factories import admissions_csv, upload_of
    from workspaces import services
    from workspaces.services.datasets import suggested_decisions

    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(admissions_csv(300)), by=checker, name="admissions"
    )
    version = services.decide_columns(
        version=version, decisions=suggested_decisions(version), by=checker
    )
    wait_for_status(version.synthetic_sample, {"ready"})
    return version
