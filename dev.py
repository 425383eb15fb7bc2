#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine that has only python3.

    python3 dev.py demo    set up, then run the portal with a demo at http://127.0.0.1:8000
    python3 dev.py test    set up, then run the whole test suite (what CI runs)
    python3 dev.py code USER
                           the second-factor code a demo user's authenticator app shows now

Both create a virtual environment in .venv and install the project into it (again
only when pyproject.toml changed). Without DATABASE_URL the portal uses SQLite in
var/; without REDIS_URL an embedded Redis server is started, and stopped on exit.
This file uses the standard library only: it runs before anything is installed.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*command, **kwargs) -> None:
    subprocess.run([str(part) for part in command], check=True, **kwargs)


def ensure_pip(python: Path) -> None:
    """Debian's python3 lacks ensurepip unless python3-venv is installed: fetch pip from PyPI."""
    if subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        return
    say("bootstrapping pip from PyPI (this python has no ensurepip)")
    with urllib.request.urlopen("https://pypi.org/pypi/pip/json", timeout=60) as response:
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as response:
            path.write_bytes(response.read())
        if hashlib.sha256(path.read_bytes()).hexdigest() != wheel["digests"]["sha256"]:
            sys.exit("The pip wheel from PyPI failed its checksum; not installing it.")
        run(python, f"{path}/pip", "install", "--quiet", path)


def ensure_venv(extra: str) -> None:
    if not VENV_PYTHON.exists():
        say(f"creating a virtual environment in {VENV}")
        if subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True).returncode:
            shutil.rmtree(VENV, ignore_errors=True)
            run(sys.executable, "-m", "venv", "--without-pip", VENV)
    ensure_pip(VENV_PYTHON)
    # The CLI's pyproject.toml too: a venv made before it existed, or before it changed,
    # gets it (re)installed.
    pyprojects = b"".join(
        (ROOT / path).read_bytes() for path in ("pyproject.toml", "cli/pyproject.toml")
    )
    wanted = hashlib.sha256(pyprojects + extra.encode()).hexdigest()
    stamp = VENV / f".installed-{extra or 'base'}"
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing the project and its dependencies into .venv")
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extra}]" if extra else "."
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--editable", target, cwd=ROOT)
    # The researchers' command-line client (cli/), a package of its own: `tre` in .venv/bin.
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--editable", "cli", cwd=ROOT)
    stamp.write_text(wanted)


def manage(*args, env=None) -> None:
    run(VENV_PYTHON, ROOT / "manage.py", *args, cwd=ROOT, env=env)


def demo() -> int:
    from contextlib import ExitStack

    from tre.embedded_redis import embedded_redis

    env = dict(os.environ)
    children: list[subprocess.Popen] = []
    # Ctrl-C, and a plain `kill` too, stop everything this command started (SIGINT is
    # re-armed in case a parent shell started us with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with ExitStack() as stack:
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(
                embedded_redis(str(ROOT / "var" / "redis"), persist=True)
            )
            say("started an embedded Redis server (set REDIS_URL to use your own)")
        say("database: " + ("DATABASE_URL" if env.get("DATABASE_URL") else "SQLite in var/"))
        manage("migrate", "--no-input", env=env)
        manage("seed_demo", env=env)
        address = env.get("TRE_DEMO_ADDRESS", "127.0.0.1:8000")
        try:
            children.append(
                subprocess.Popen(
                    [
                        VENV_PYTHON,
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
                        # The embedded beat runs the reaper of jobs whose worker died.
                        "--beat",
                        "--schedule",
                        str(ROOT / "var" / "celerybeat-schedule"),
                    ],
                    cwd=ROOT,
                    env=env,
                )
            )
            children.append(
                subprocess.Popen(
                    [VENV_PYTHON, ROOT / "manage.py", "runserver", address, "--noreload"],
                    cwd=ROOT,
                    env=env,
                )
            )
            say(f"the portal runs at http://{address}/ (Ctrl-C stops everything)")
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            say("a process stopped on its own; stopping the rest")
            return 1
        except KeyboardInterrupt:
            say("stopping")
            return 0
        finally:
            # Children got the terminal's Ctrl-C too; a second one must not cut the
            # clean-up short and leave a worker or the embedded Redis behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()


def ensure_chromium() -> None:
    """Browser tests drive Debian's Chromium; install it with apt where we may."""
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing Chromium from Debian's packages for the browser tests")
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=apt_env).returncode:
            run("apt-get", "update", "-q", env=apt_env)
            run("apt-get", "install", "-y", "-q", "chromium", env=apt_env)
    else:
        say(
            f"no {CHROMIUM}: the browser tests will be skipped "
            "(as root, this command installs it: apt-get install chromium)"
        )


def test(pytest_args: list[str]) -> int:
    ensure_chromium()
    say("lint: ruff check and ruff format --check")
    for lint in (["check", "."], ["format", "--check", "."]):
        if returncode := subprocess.run([VENV_PYTHON, "-m", "ruff", *lint], cwd=ROOT).returncode:
            return returncode
    say(
        "tests: pytest ("
        + ("PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite")
        + ", "
        + ("Redis at REDIS_URL" if os.environ.get("REDIS_URL") else "embedded Redis")
        + ")"
    )
    return subprocess.run([VENV_PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["demo", "test", "code"])
    parser.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    os.chdir(ROOT)
    if not args.in_venv:
        ensure_venv("test" if args.command == "test" else "")
        # Go on in the virtual environment, where Django and friends are importable.
        # Extra arguments pass through to pytest: python3 dev.py test -k audit
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), __file__, args.command, "--in-venv", *rest])
    sys.path.insert(0, str(ROOT))
    # Everything this command and its children write (var/: the database, keys, the
    # embedded Redis, the beat schedule) is the owner's alone.
    os.umask(0o077)
    if args.command == "code":
        if len(rest) != 1:
            sys.exit("usage: python3 dev.py code USER   (a demo user: admin, owner, researcher…)")
        return subprocess.run([VENV_PYTHON, ROOT / "manage.py", "totp_code", rest[0]]).returncode
    return demo() if args.command == "demo" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
