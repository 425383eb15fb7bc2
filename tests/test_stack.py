"""The compose stack, built and tested for real: deploy/smoke.py builds every image of
docker-compose.yml, starts the stack and takes a study through it over HTTP (sign in
with a second factor, upload, dry run, real run, release by two checkers, download).

It needs a Docker daemon and Docker Compose v2, and takes minutes; without a daemon
(CI's machine has the client only) it is skipped at once.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.stack


def docker_daemon_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.timeout(3600)
def test_the_compose_stack_passes_its_smoke_test():
    if not docker_daemon_answers():
        pytest.skip(
            "no Docker daemon: the compose stack's smoke test is skipped; "
            "python3 deploy/smoke.py runs it by hand"
        )
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "smoke.py")], timeout=3500)
    assert result.returncode == 0, "deploy/smoke.py failed: see its output above"
