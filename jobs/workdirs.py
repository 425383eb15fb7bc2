"""Where a run's files live on the worker's host: in memory, and never past the run.

A run's inputs and script never have a name on any file system (`jobs.sandbox` hands them
to bwrap as memory files). What the run writes, /output, is a directory of the host's,
since the worker reads it after the sandbox has gone: it lives in a memory file system
(`/dev/shm`, or `TRE_JOB_DIR` if that is one), and a worker refuses to run a job where it
would land on a disk.

A run's directory holds a lock for as long as its worker lives: the kernel drops it when
the process dies, SIGKILL included. `sweep` removes every directory whose lock is free,
at a worker's start and every minute after (jobs.tasks), and audits what it removed.
"""

import contextlib
import fcntl
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from jobs.sandbox import count_output
from tre import audit

logger = logging.getLogger(__name__)

DEFAULT_ROOT = Path("/dev/shm")  # noqa: S108 (a memory file system, checked below)
MEMORY_FILE_SYSTEMS = {"tmpfs", "ramfs"}
PREFIX = "tre-job-"
# Made under this name, locked, then renamed: a sweep never sees a run's directory
# before its lock is held.
NEW_PREFIX = ".tre-job-new-"
LOCK_NAME = ".lock"
# A directory without a lock (an older release's, or one whose maker died before locking
# it) is taken for abandoned only after this long.
UNLOCKED_GRACE_SECONDS = 60
RUN_DIRECTORY = re.compile(rf"^{PREFIX}(\d+)-")


class NotInMemory(RuntimeError):
    """The job root is on a disk: a run's outputs would be written there in plaintext."""


def job_root() -> Path:
    return Path(settings.TRE_JOB_DIR) if settings.TRE_JOB_DIR else DEFAULT_ROOT


def file_system_type(path: Path) -> str:
    """The type of the file system `path` is on (the deepest mount point above it)."""
    path = Path(os.path.realpath(path))
    best, best_type = "", ""
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            before, _, after = line.partition(" - ")
            mount_point = before.split()[4].replace("\\040", " ")
            inside = path == Path(mount_point) or Path(mount_point) in path.parents
            if inside and len(mount_point) >= len(best):
                best, best_type = mount_point, after.split()[0]
    return best_type


class RunDirectory:
    """A run's private directory in memory, locked while its worker lives."""

    def __init__(self, job_id: int):
        root = job_root()
        kind = file_system_type(root)
        if kind not in MEMORY_FILE_SYSTEMS:
            raise NotInMemory(
                f"{root} is on a {kind or 'unknown'} file system, not in memory "
                "(set TRE_JOB_DIR to a tmpfs)"
            )
        staging = Path(tempfile.mkdtemp(prefix=NEW_PREFIX, dir=root))
        self._lock = os.open(staging / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.path = root / f"{PREFIX}{job_id}-{staging.name.removeprefix(NEW_PREFIX)}"
        staging.rename(self.path)

    def claim(self, job_id: int) -> Path:
        """Name it for `job_id` (a directory made before its job was known, for a warm
        sandbox): a sweep and its audit then say whose leftovers it removed. Mounts of it
        follow it (they hold the directory, not its name)."""
        renamed = self.path.with_name(
            f"{PREFIX}{job_id}-{self.path.name.removeprefix(PREFIX).split('-', 1)[1]}"
        )
        self.path.rename(renamed)
        self.path = renamed
        return renamed

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc_info):
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def _abandoned(directory: Path) -> bool:
    try:
        lock = os.open(directory / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return time.time() - directory.stat().st_mtime > UNLOCKED_GRACE_SECONDS
        return False
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its worker holds it: a live run
    finally:
        os.close(lock)  # closing drops a lock we took
    return True


def sweep(*, roots: list[Path] | None = None) -> int:
    """Remove what runs of this host left behind when their worker died; returns how
    many directories it removed. Besides the job root it looks in the system's
    temporary directory, where runs of earlier releases kept their decrypted inputs."""
    roots = roots if roots is not None else [job_root(), Path(tempfile.gettempdir())]
    removed = 0
    for root in dict.fromkeys(roots):
        with contextlib.suppress(OSError):
            candidates = [p for p in root.iterdir() if p.name.startswith((PREFIX, NEW_PREFIX))]
        for directory in candidates if root.is_dir() else []:
            if not directory.is_dir() or directory.is_symlink() or not _abandoned(directory):
                continue
            left = count_output(directory)
            shutil.rmtree(directory, ignore_errors=True)
            if directory.exists():
                continue
            removed += 1
            match = RUN_DIRECTORY.match(directory.name)
            # Counts only: the names of what a run wrote come from the data.
            audit.record(
                action="job.leftovers_removed",
                target_type="jobs.job",
                target_id=match.group(1) if match else "",
                target_label=f"job {match.group(1)}" if match else "an unnamed run",
                details={
                    "host": socket.gethostname(),
                    "files": left.files,
                    "bytes": left.total_bytes,
                },
            )
            logger.warning(
                "Removed what a dead run left on this host: %s (%d files, %d bytes)",
                directory.name, left.files, left.total_bytes,
            )  # fmt: skip
    return removed


def keep_sweeping(*, every: float) -> threading.Event:
    """Sweep now, then every `every` seconds in a daemon thread, until the returned event
    is set. For a worker's main process: its pool's runs come and go, the host stays."""
    stop = threading.Event()

    def loop():
        while True:
            try:
                sweep()
            except Exception:  # a failed sweep must not end the loop; the next one retries
                logger.exception("Sweeping the job directories failed")
            finally:
                close_old_connections()
            if stop.wait(every):
                return

    threading.Thread(target=loop, name="tre-job-sweeper", daemon=True).start()
    return stop
