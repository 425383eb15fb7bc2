# The worker process's storage and master key, as for tests/integration.
from tests.integration.conftest import private_storage  # noqa: F401
