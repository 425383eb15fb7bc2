import pytest

from tests.conftest import use_data_dir


@pytest.fixture(autouse=True)
def private_storage(settings, worker_data_dir):
    """Share dataset storage and the master key with the worker process."""
    from workspaces import vault

    yield use_data_dir(settings, worker_data_dir)
    vault.master_key.cache_clear()
