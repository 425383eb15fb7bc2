"""The sandbox escape suite: each test is a script a researcher could submit.

Network probes aim at loopback addresses only. Every escape must be contained, the test
process (standing in for the worker) must survive, and the run must end in a clear state.
Every test runs twice: in a sandbox started for its job ("cold", `sandbox.run`) and in
one started before its job was known ("warm", `sandbox.WarmSandbox`, issue 15).
"""

import contextlib
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from jobs import sandbox
from jobs.sandbox import Limits

pytestmark = pytest.mark.sandbox

FAST = Limits(
    cpu_seconds=20,
    wall_seconds=30,
    memory_bytes=2 * 1024**3,
    log_bytes=64 * 1024,
    output_bytes=50 * 1024**2,
    file_bytes=20 * 1024**2,
    processes=32,
)


@pytest.fixture(params=["cold", "warm"])
def job_dirs(tmp_path, request):
    """The one host directory a run has: its output (and for a warm start, the
    read-only directories its inputs and script are linked in)."""
    if request.param == "warm":
        return {"start": "warm", "directory": tmp_path, "output": tmp_path / "output"}
    output = tmp_path / "output"
    output.mkdir()
    return {"start": "cold", "output": output}


INPUT = b"not really parquet"


def run(job_dirs, code: str, limits: Limits = FAST, **extra):
    with sandbox.memory_file("input") as data:
        data.write(INPUT)
        if job_dirs["start"] == "warm":
            warm = sandbox.WarmSandbox(directory=job_dirs["directory"], limits=limits)
            return warm.run(
                script=textwrap.dedent(code), inputs={"admissions.parquet": data}, **extra
            )
        return sandbox.run(
            script=textwrap.dedent(code),
            inputs={"admissions.parquet": data},
            output=job_dirs["output"],
            limits=limits,
            **extra,
        )


def test_a_plain_script_runs_and_reports_its_usage(job_dirs):
    result = run(job_dirs, "import pandas; print('hello from the sandbox')")
    assert result.state == "finished"
    assert result.stdout.strip() == "hello from the sandbox"
    assert result.cpu_seconds > 0
    assert result.max_rss_bytes > 10 * 1024**2


def test_the_environment_is_cleared(job_dirs, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "worker-secret-key-value")
    monkeypatch.setenv("TRE_MASTER_KEY", "master-key-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    result = run(job_dirs, "import os; print(sorted(os.environ.items()))")
    assert result.state == "finished"
    for secret in ("worker-secret-key-value", "master-key-value", "postgres://"):
        assert secret not in result.stdout


@pytest.mark.parametrize(
    ("host", "port"), [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("127.0.0.1", 8000), ("::1", 5432)]
)
def test_no_socket_reaches_the_database_redis_or_the_portal(job_dirs, host, port):
    result = run(
        job_dirs,
        f"""
        import socket
        try:
            socket.create_connection(({host!r}, {port}), timeout=3)
            print("CONNECTED")
        except OSError as error:
            print("refused:", type(error).__name__)
    """,
    )
    assert result.state == "finished"
    assert "CONNECTED" not in result.stdout


def test_the_network_has_no_interface_but_its_own_loopback(job_dirs):
    result = run(job_dirs, "import socket; print(socket.if_nameindex())")
    assert result.stdout.strip() in ("[(1, 'lo')]", "[]")


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/passwd", "/root/.bashrc", "/var/lib/postgresql", "/etc/redis/redis.conf"],
)
def test_host_files_are_not_there(job_dirs, path):
    result = run(
        job_dirs,
        f"""
        try:
            print(open({path!r}).read()[:50])
        except OSError as error:
            print("refused:", type(error).__name__)
    """,
    )
    assert "refused:" in result.stdout


def test_no_process_in_the_sandbox_carries_the_workers_environment(job_dirs, monkeypatch):
    monkeypatch.setenv("TRE_MASTER_KEY", "master-key-value")
    result = run(
        job_dirs,
        """
        import os
        for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
            print(pid, open(f"/proc/{pid}/environ", "rb").read())
    """,
    )
    assert result.state == "finished"
    assert "master-key-value" not in result.stdout
    assert "PYTEST" not in result.stdout


def test_the_project_its_settings_keys_and_database_are_not_there(job_dirs):
    project = Path(__file__).resolve().parents[2]
    result = run(
        job_dirs,
        f"""
        import os
        for path in [{str(project / "tre" / "settings.py")!r}, {str(project / "var")!r},
                     {str(project / "manage.py")!r}, {str(project / ".env")!r}]:
            print(path, os.path.exists(path))
        print(sorted(os.listdir({str(project)!r})))
    """,
    )
    assert result.state == "finished"
    assert " True" not in result.stdout
    assert "'tre'" not in result.stdout
    assert "'manage.py'" not in result.stdout


def test_other_jobs_files_are_not_there(job_dirs, tmp_path_factory):
    other = tmp_path_factory.mktemp("other-job")
    (other / "secret.csv").write_text("someone else's data")
    result = run(
        job_dirs,
        f"""
        import os
        print(os.path.exists({str(other)!r}), os.path.exists("/tmp/secret.csv"))
    """,
    )
    assert result.stdout.strip() == "False False"


def test_the_worker_processes_are_not_visible(job_dirs):
    result = run(
        job_dirs, "import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
    )
    pids = eval(result.stdout)  # noqa: S307 (our own test's output)
    assert max(pids) < 10  # a fresh PID namespace: only the sandbox's own processes


@pytest.mark.parametrize(
    "target",
    [
        "/usr/evil",
        "/inputs/admissions.parquet",
        "/inputs/another.parquet",
        "/sdk/tre_sdk.py",
        "/job/script.py",
        "/job/another.py",
        # The sandbox's own root is memory with no size limit: writable, it would let a
        # script fill the host's memory past every limit.
        "/evil",
    ],
)
def test_nothing_outside_the_output_directory_and_tmp_is_writable(job_dirs, target):
    result = run(
        job_dirs,
        f"""
        try:
            open({target!r}, "w").write("x")
            print("WROTE")
        except OSError as error:
            print("refused:", type(error).__name__)
        print(open("/inputs/admissions.parquet", "rb").read() == {INPUT!r})
    """,
    )
    assert "WROTE" not in result.stdout
    assert result.stdout.split()[-1] == "True"


def test_the_inputs_and_the_script_are_in_memory_not_bound_from_the_host(job_dirs):
    result = run(
        job_dirs,
        """
        import os
        for line in open("/proc/self/mountinfo"):
            if " /inputs/" in line or " /job/" in line:
                print(line.split(" - ")[1].split()[0])
        for path in ("/inputs/admissions.parquet", "/job/script.py"):
            print(os.path.realpath(path).split(" ")[0])
    """,
    )
    assert result.state == "finished", result.stderr
    if job_dirs["start"] == "cold":  # copied by bwrap into the sandbox's own memory
        assert result.stdout.split() == [
            "tmpfs", "tmpfs", "/inputs/admissions.parquet", "/job/script.py",
        ]  # fmt: skip
    else:  # the worker's memory files themselves, read-only, linked from outside
        assert result.stdout.split() == ["/memfd:tre-input", "/memfd:tre-script"]


def test_a_fork_bomb_is_contained(job_dirs):
    result = run(
        job_dirs,
        """
        import os
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
                children += 1
        except OSError as error:
            print("stopped after", children, type(error).__name__)
    """,
        limits=Limits(**{**FAST.__dict__, "wall_seconds": 10}),
    )
    assert "stopped after" in result.stdout
    children = int(result.stdout.split()[2])
    assert children < FAST.processes + 5
    assert result.state in ("finished", "timed_out")


def test_allocating_10_gb_fails_inside_the_sandbox(job_dirs):
    result = run(
        job_dirs,
        """
        try:
            block = bytearray(10 * 1024**3)
            print("ALLOCATED")
        except MemoryError:
            print("MemoryError")
    """,
    )
    assert result.stdout.strip() == "MemoryError"


def test_an_endless_loop_meets_the_wall_clock(job_dirs):
    result = run(
        job_dirs, "while True: pass", limits=Limits(**{**FAST.__dict__, "wall_seconds": 3})
    )
    assert result.state == "timed_out"
    assert "wall-clock" in result.reasons[0]
    assert result.wall_seconds < 10


def test_an_endless_computation_meets_the_cpu_limit(job_dirs):
    result = run(job_dirs, "while True: pass", limits=Limits(**{**FAST.__dict__, "cpu_seconds": 2}))
    assert result.state == "timed_out"
    assert "CPU" in result.reasons[0]


def test_filling_the_disk_is_stopped(job_dirs):
    result = run(
        job_dirs,
        """
        import os
        block = b"x" * (1024 * 1024)
        for number in range(100_000):
            with open(f"fill-{number}.bin", "wb") as handle:
                for _ in range(10):
                    handle.write(block)
    """,
    )
    assert result.state == "limit_exceeded"
    # What it wrote before the watch (every 10 to 50 ms) saw it: 10 MB files written at
    # memory speed, on a loaded two-core machine (a warm start writes from its first
    # millisecond). The limit itself holds on the files at the end: nothing is kept.
    assert result.output_bytes < FAST.output_bytes + 300 * 1024**2


def test_one_huge_file_meets_the_file_size_limit(job_dirs):
    result = run(
        job_dirs,
        """
        with open("huge.bin", "wb") as handle:
            while True:
                handle.write(b"x" * 1024 * 1024)
    """,
    )
    assert result.state == "limit_exceeded"
    assert os.path.getsize(job_dirs["output"] / "huge.bin") <= FAST.file_bytes


def test_a_million_lines_are_capped(job_dirs):
    result = run(job_dirs, "for n in range(1_000_000): print('line', n)")
    assert result.state == "finished"
    assert result.log_truncated
    assert len(result.stdout.encode()) <= FAST.log_bytes


def test_a_crash_is_a_failure_with_its_traceback(job_dirs):
    result = run(job_dirs, "def f():\n    raise ValueError('boom')\nf()\n")
    assert result.state == "failed"
    assert result.exit_code == 1
    assert "ValueError" in result.stderr
    assert 'File "/job/script.py", line 2' in result.stderr


def test_a_figure_is_drawn_without_complaints(job_dirs):
    result = run(
        job_dirs,
        """
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot([1, 2, 3])
        plt.savefig("plot.png")
    """,
    )
    assert result.state == "finished", result.stderr
    assert result.stderr == ""
    assert (job_dirs["output"] / "plot.png").stat().st_size > 1000


def pids_roots():
    return [root for root in sandbox.CGROUP_PIDS_ROOTS if (root / "cgroup.procs").exists()]


def test_no_cgroup_of_this_worker_is_left_behind(job_dirs):
    # Only this process's: other workers on the host (a CI run beside this one, say) have
    # their own, which are not ours to count or remove.
    run(job_dirs, "import os\nfor _ in range(5):\n    os.fork() or os._exit(0)\n")
    for root in pids_roots():
        assert list(root.glob(f"tre-sandbox-{os.getpid()}-*")) == []


def test_the_sweep_removes_only_cgroups_of_workers_that_are_gone():
    roots = [root for root in pids_roots() if os.access(root, os.W_OK)]
    if not roots:
        pytest.skip("this user may not create cgroups")
    root = roots[0]
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = root / f"tre-sandbox-{dead.pid}-{'0' * 12}"
    live = root / f"tre-sandbox-1-{'1' * 12}"  # pid 1 always lives
    try:
        orphan.mkdir()
        live.mkdir()
        sandbox._sweep(root)
        assert not orphan.exists()
        assert live.exists()
    finally:
        for path in (orphan, live):
            with contextlib.suppress(OSError):
                path.rmdir()


# --- nothing the sandbox writes is taken at its word (issue 16) ----------------------


def test_cpu_and_memory_are_measured_from_outside_including_child_processes(job_dirs):
    result = run(
        job_dirs,
        """
        import os, time
        if os.fork() == 0:
            block = bytearray(200 * 1024**2)
            for at in range(0, len(block), 4096):
                block[at] = 1
            start = time.process_time()
            while time.process_time() - start < 1.0:
                pass
            os._exit(0)
        os.wait()
    """,
    )
    assert result.state == "finished", result.stderr
    assert result.cpu_seconds >= 0.9
    assert result.max_rss_bytes >= 200 * 1024**2


@pytest.mark.parametrize("forged", ['{"cpu_seconds": 39.0, "max_rss_bytes": 39}', "garbage{"])
def test_a_forged_usage_file_changes_nothing(job_dirs, forged):
    result = run(
        job_dirs,
        f"""
        import os
        for name in (".tre-usage.json", "usage.json"):
            with open(name, "w") as handle:
                handle.write({forged!r})
        os._exit(0)
    """,
    )
    assert result.state == "finished"
    assert result.cpu_seconds is not None
    assert result.cpu_seconds < 5
    assert result.max_rss_bytes != 39


def test_a_warm_sandbox_runs_one_job_only(tmp_path):
    warm = sandbox.WarmSandbox(directory=tmp_path, limits=FAST)
    assert warm.is_alive()
    first = warm.run(script="print('one')", inputs={})
    assert first.stdout == "one\n"
    assert not warm.is_alive()
    with pytest.raises(RuntimeError, match="one job only"):
        warm.run(script="print('two')", inputs={})


def test_what_a_warm_sandbox_printed_while_warming_up_is_not_the_runs(tmp_path):
    warm = sandbox.WarmSandbox(directory=tmp_path, limits=FAST)
    assert warm.wait_ready(timeout=30)
    result = warm.run(
        script="import sys; print('mine'); print('mine too', file=sys.stderr)", inputs={}
    )
    assert (result.stdout, result.stderr) == ("mine\n", "mine too\n")
    assert result.cpu_seconds < 1.0  # the imports while it waited are not the run's


def test_an_unused_warm_sandbox_closes_and_leaves_no_process(tmp_path):
    warm = sandbox.WarmSandbox(directory=tmp_path, limits=FAST)
    pid = warm._running.process.pid
    warm.close()
    assert not warm.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_writing_past_the_output_limit_faster_than_the_watch_still_fails(job_dirs):
    limits = Limits(**{**FAST.__dict__, "output_bytes": 1024**2})
    result = run(job_dirs, "open('big.bin', 'wb').write(b'x' * 5 * 1024**2)", limits=limits)
    assert result.state == "limit_exceeded"
    assert result.limit == "output_bytes"
    assert result.output_bytes > limits.output_bytes


def test_more_output_files_than_the_limit_fail_the_run(job_dirs):
    limits = Limits(**{**FAST.__dict__, "output_files": 3})
    result = run(
        job_dirs, "for n in range(4):\n    open(f'out{n}.txt', 'w').write('x')\n", limits=limits
    )
    assert result.state == "limit_exceeded"
    assert result.limit == "output_files"
    assert result.output_files == 4


def test_the_manifest_does_not_count_as_an_output_file(job_dirs):
    limits = Limits(**{**FAST.__dict__, "output_files": 1})
    result = run(
        job_dirs,
        "open('.tre-manifest.json', 'w').write('{}')\nopen('a.txt', 'w').write('x')\n",
        limits=limits,
    )
    assert result.state == "finished"
    assert result.output_files == 1


def test_the_sweep_leaves_a_cgroup_another_run_just_made(tmp_path):
    # Another worker's run makes its cgroup, then moves its process in: in between the
    # cgroup is empty, and sweeping it then failed that run (seen with 40 jobs at once).
    fresh, old = tmp_path / "tre-sandbox-fresh", tmp_path / "tre-sandbox-old"
    fresh.mkdir()
    old.mkdir()
    long_ago = time.time() - sandbox.SWEEP_AFTER_SECONDS - 5
    os.utime(old, (long_ago, long_ago))
    sandbox._sweep(tmp_path)
    assert fresh.exists()
    assert not old.exists()


@pytest.mark.parametrize("target", ["1", "os.getppid()", "child"])
def test_no_process_can_be_traced_so_none_can_be_stopped(job_dirs, target):
    # Tracing the sandbox's init stopped it: the run then hung until the wall clock.
    started = time.monotonic()
    result = run(
        job_dirs,
        f"""
        import ctypes, os, time
        libc = ctypes.CDLL(None, use_errno=True)
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        target = {target}
        answer = libc.ptrace(16, target, 0, 0)  # PTRACE_ATTACH
        print(answer, ctypes.get_errno())
        os.kill(child, 9)
    """,
    )
    assert result.state == "finished", result.stderr
    assert result.stdout.split() == ["-1", "1"]  # EPERM
    assert time.monotonic() - started < 10
