import pytest


@pytest.fixture(autouse=True)
def private_storage(settings, worker_data_dir):
    """Share dataset storage and the master key with the worker process."""
    from workspaces import vault

    settings.STORAGES = {
        **settings.STORAGES,
        "datasets": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(worker_data_dir / "datasets")},
        },
    }
    settings.TRE_MASTER_KEY_FILE = str(worker_data_dir / "master.key")
    vault.master_key.cache_clear()
    yield worker_data_dir / "datasets"
    vault.master_key.cache_clear()
