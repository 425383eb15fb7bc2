"""A run's files on the worker's host: in memory, locked while its worker lives, and
swept once it is gone."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs import workdirs
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def memory_root(settings, tmp_path_factory):
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="tre-test-root-", dir="/dev/shm"))
    settings.TRE_JOB_DIR = str(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_dev_shm_is_memory_and_the_test_directory_is_not(tmp_path):
    assert workdirs.file_system_type(Path("/dev/shm")) in workdirs.MEMORY_FILE_SYSTEMS
    if workdirs.file_system_type(tmp_path) in workdirs.MEMORY_FILE_SYSTEMS:
        pytest.skip("this machine's temporary directory is in memory too")
    assert workdirs.file_system_type(tmp_path) != ""


def test_a_run_directory_on_a_disk_is_refused(settings, tmp_path):
    if workdirs.file_system_type(tmp_path) in workdirs.MEMORY_FILE_SYSTEMS:
        pytest.skip("this machine's temporary directory is in memory")
    settings.TRE_JOB_DIR = str(tmp_path)
    with pytest.raises(workdirs.NotInMemory, match="set TRE_JOB_DIR to a tmpfs"):
        workdirs.RunDirectory(7)


def test_a_run_directory_lives_in_memory_and_goes_with_its_run(memory_root):
    with workdirs.RunDirectory(7) as path:
        assert path.parent == memory_root
        assert path.name.startswith("tre-job-7-")
        (path / "output").mkdir()
        # Its worker lives: a sweep leaves it alone.
        assert workdirs.sweep(roots=[memory_root]) == 0
        assert path.exists()
    assert list(memory_root.iterdir()) == []


HOLDER = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tre.settings")
django.setup()
from jobs import workdirs
directory = workdirs.RunDirectory(int(sys.argv[1]))
(directory.path / "result.csv").write_text("a,b\\n1,2\\n")
print(directory.path, flush=True)
time.sleep(600)
"""


def test_what_a_killed_worker_left_is_swept_and_audited(memory_root):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, "42"],
        env={**os.environ, "TRE_JOB_DIR": str(memory_root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        left = Path(holder.stdout.readline().strip())
        assert left.exists()
        assert workdirs.sweep(roots=[memory_root]) == 0  # alive: its lock is held
        holder.kill()  # SIGKILL: no clean-up ran
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert left.exists()
    assert workdirs.sweep(roots=[memory_root]) == 1
    assert not left.exists()
    event = AuditEvent.objects.get(action="job.leftovers_removed")
    assert (event.target_type, event.target_id) == ("jobs.job", "42")
    assert event.details["files"] == 2  # the lock and the result
    assert "result" not in str(event.details)  # counts only, never names


def test_an_unlocked_directory_of_an_earlier_release_goes_after_a_minute(memory_root):
    fresh = memory_root / "tre-job-5-abcdef"
    old = memory_root / "tre-job-6-abcdef"
    for path in (fresh, old):
        (path / "inputs").mkdir(parents=True)
        (path / "inputs" / "admissions.parquet").write_bytes(b"PAR1")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert workdirs.sweep(roots=[memory_root]) == 1
    assert fresh.exists()
    assert not old.exists()


def test_a_link_planted_in_the_root_is_not_followed(memory_root, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (memory_root / "tre-job-9-link").symlink_to(precious)
    workdirs.sweep(roots=[memory_root])
    assert (precious / "keep.txt").exists()
