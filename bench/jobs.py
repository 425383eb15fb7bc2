"""Sandbox overhead, submit-to-finished latency, and jobs per minute with 1, 2 and 4
worker processes.

    .venv/bin/python bench/jobs.py [--jobs 200] [--workers 1,2,4]

Runs against a throwaway SQLite database and data directory (or DATABASE_URL), an
embedded Redis (or REDIS_URL), and a real Celery worker (two pool processes for the
latencies; this machine has two cores).

Targets (bench/README.md): sandbox overhead under 50 ms; submit to finished under 1.5 s
for a trivial script and under 3 s for one that loads a 10,000-row dataset with pandas
and saves a table. The latencies pause `--pause` seconds before each run, as a
researcher reading a result does; the worker warms a sandbox meanwhile unless the
environment says TRE_WARM_SANDBOX=0 (run it both ways to compare). `--workers ""` skips
the bursts.
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL = "pass\n"
PANDAS = """import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
tre_sdk.save_table("by_ward", admissions.groupby("ward").size().rename("n").reset_index(),
                   kind="frequency")
"""


def median_ms(samples):
    return statistics.median(samples) * 1000


def sandbox_overhead(repeats: int) -> None:
    from jobs import sandbox

    bare = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    boxed = []
    with tempfile.TemporaryDirectory(dir="/dev/shm") as directory:
        output = Path(directory) / "output"
        output.mkdir()
        sandbox.check_available()
        for _ in range(repeats):
            started = time.perf_counter()
            result = sandbox.run(script=TRIVIAL, inputs={}, output=output,
                                 limits=sandbox.Limits())  # fmt: skip
            boxed.append(time.perf_counter() - started)
            if result.state != "finished":
                sys.exit(f"the trivial script did not finish: {result}")
    print(f"bare `python -c pass`: median {median_ms(bare):.1f} ms")
    print(f"sandboxed trivial script: median {median_ms(boxed):.1f} ms "
          f"(overhead {median_ms(boxed) - median_ms(bare):.1f} ms, "
          f"ratio {statistics.median(boxed) / statistics.median(bare):.2f})")  # fmt: skip


def setup():
    from django.contrib.auth import get_user_model

    from tests.factories import admissions_csv, make_data_steward, upload_of
    from tre.permissions import Role
    from workspaces import services
    from workspaces.models import Membership, Workspace
    from workspaces.services.datasets import suggested_decisions

    user_model = get_user_model()
    researcher = user_model.objects.create_user("researcher")
    steward = make_data_steward(user_model.objects.create_user("steward"))
    workspace = Workspace.objects.create(name="Bench", slug="bench", real_runs_per_day=10_000)
    Membership.objects.create(workspace=workspace, user=researcher, roles=[Role.RESEARCHER])
    Membership.objects.create(workspace=workspace, user=steward, roles=[Role.OUTPUT_CHECKER])
    version = services.ingest_dataset(workspace=workspace, by=steward, name="admissions",
                                      upload=upload_of(admissions_csv(10_000)))  # fmt: skip
    version = services.decide_columns(version=version, by=steward,
                                      decisions=suggested_decisions(version))  # fmt: skip
    services.build_synthetic_sample(sample=version.synthetic_sample)
    return workspace, researcher, version


def latencies(workspace, researcher, version, pause: float) -> None:
    from jobs.models import Job
    from jobs.services import submit_job

    def run_one(script, mode):
        # A researcher reads a result before the next run: the worker is idle meanwhile
        # (and warms its next sandbox, unless TRE_WARM_SANDBOX=0).
        time.sleep(pause)
        started = time.perf_counter()
        job = submit_job(workspace=workspace, script=script, dataset_versions=[version],
                         mode=mode, by=researcher)  # fmt: skip
        while not Job.objects.get(pk=job.pk).has_ended:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        done = Job.objects.get(pk=job.pk)
        if done.status != "finished":
            sys.exit(f"job {job.pk} did not finish")
        # Where the time went: waiting for a worker, in the sandbox, the rest of the run.
        parts.append(
            (
                (done.started_at - done.created_at).total_seconds(),
                done.wall_seconds,
                (done.finished_at - done.started_at).total_seconds() - done.wall_seconds,
            )
        )
        return elapsed

    parts = []
    run_one(TRIVIAL, Job.Mode.DRY_RUN)  # warm the worker's pool processes
    for label, script in [("trivial script", TRIVIAL), ("10,000-row pandas + table", PANDAS)]:
        for mode in (Job.Mode.DRY_RUN, Job.Mode.REAL):
            parts.clear()
            samples = [run_one(script, mode) for _ in range(5)]
            queued, boxed, rest = (median_ms(list(column)) for column in zip(*parts, strict=True))
            print(f"submit to finished, {label}, {mode}: median {median_ms(samples):.0f} ms "
                  f"(min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f}; "
                  f"queued {queued:.0f}, sandbox {boxed:.0f}, the rest {rest:.0f})")  # fmt: skip


def throughput(workspace, researcher, version, jobs: int, processes: int) -> None:
    """A burst of `jobs` trivial dry runs submitted at once; every one must finish."""
    from jobs.models import Job
    from jobs.services import submit_job

    started = time.perf_counter()
    submitted = [
        submit_job(workspace=workspace, script=TRIVIAL, dataset_versions=[version],
                   mode=Job.Mode.DRY_RUN, by=researcher).pk
        for _ in range(jobs)
    ]  # fmt: skip
    # Until every job has ended, however: a failed one must not keep the bench waiting.
    while Job.objects.filter(pk__in=submitted).exclude(status__in=Job.ENDED).exists():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    failed = Job.objects.filter(pk__in=submitted).exclude(status="finished")
    reasons = sorted({job.status_reason for job in failed})
    print(
        f"throughput: {jobs} trivial jobs in {elapsed:.1f} s with {processes} worker "
        f"process(es): {jobs / elapsed * 60:.0f} jobs per minute; "
        f"{failed.count()} did not finish {reasons}"
    )


@contextlib.contextmanager
def worker(processes: int):
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tre", "worker", "--concurrency", str(processes),
         "--queues", "default,dry_runs,real_runs", "--loglevel", "WARNING",
         "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=dict(os.environ),
    )  # fmt: skip
    try:
        time.sleep(3 + processes)
        yield
    finally:
        process.terminate()
        process.wait(timeout=60)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4", help="pool processes to try, in turn")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--pause", type=float, default=3.0, help="seconds between two runs of the latencies"
    )
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="tre-bench-jobs-")
    os.environ.update(TRE_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="tre.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir}/bench.sqlite3")
    sys.path.insert(0, str(ROOT))
    from tre.embedded_redis import embedded_redis

    with contextlib.ExitStack() as stack:
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = stack.enter_context(embedded_redis())
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        sandbox_overhead(args.repeats)
        context = setup()
        with worker(2):
            latencies(*context, args.pause)
        for processes in [int(n) for n in args.workers.split(",") if n]:
            with worker(processes):
                throughput(*context, args.jobs, processes)


if __name__ == "__main__":
    main()
