"""Ingest, identifier decisions and synthesis of a 1,000,000-row x 10-column CSV.

    .venv/bin/python bench/ingest.py [--rows 1000000]

Generates the CSV once (bench/results/, ignored by git), then in a fresh process runs the
real services against a throwaway database and dataset store: ingest (validation, type
inference, identifier scan, profiling, Parquet, encryption), the steward's decisions
(the scan's suggestions), and the synthetic sample (10,000 rows). Prints seconds and the
process's peak resident memory above its baseline before the ingest began.

Targets (bench/README.md): ingest under 15 s with peak memory under 500 MB; synthesis of
a 10,000-row sample under 10 s.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def generate(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    age = rng.integers(18, 95, rows)
    frame = pd.DataFrame(
        {
            "patient_id": np.arange(rows) + 1_000_000,
            "age": age,
            "sex": rng.choice(["F", "M"], rows),
            "ward": rng.choice([f"ward_{i}" for i in range(30)], rows),
            "admitted": pd.to_datetime("2015-01-01")
            + pd.to_timedelta(rng.integers(0, 3000, rows), unit="D"),
            "length_of_stay": np.round(rng.gamma(2, 3, rows) + age / 30, 2),
            "systolic_bp": np.round(rng.normal(120, 15, rows) + age * 0.2, 1),
            "readmitted": rng.random(rows) < 0.15,
            "cost": np.round(rng.lognormal(8, 1, rows), 2),
            "postcode": [f"SW{a % 20 + 1} {a % 9 + 1}AB" for a in rng.integers(0, 10_000, rows)],
        }
    )
    frame.loc[rng.random(rows) < 0.05, "systolic_bp"] = np.nan
    frame.to_csv(path, index=False)


class PeakMemory:
    """Samples this process's resident memory every 20 ms; ru_maxrss covers its whole life."""

    def __init__(self):
        self.peak = self.baseline = self._rss()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def stop(self) -> int:
        self._running = False
        self._thread.join()
        return self.peak - self.baseline


def run(path: Path) -> None:
    data_dir = tempfile.mkdtemp(prefix="tre-bench-")
    os.environ.update(TRE_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="tre.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from tests.factories import make_data_steward
    from tre.permissions import Role
    from workspaces import services
    from workspaces.models import Membership, Workspace
    from workspaces.services.datasets import Upload, suggested_decisions

    creation = connection.creation
    test_db = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        steward = make_data_steward(get_user_model().objects.create_user("steward"))
        workspace = Workspace.objects.create(name="Bench", slug="bench")
        Membership.objects.create(workspace=workspace, user=steward, roles=[Role.OUTPUT_CHECKER])
        upload = Upload(open_binary=lambda: path.open("rb"), size_bytes=path.stat().st_size)

        memory = PeakMemory()
        started = time.perf_counter()
        version = services.ingest_dataset(
            workspace=workspace, upload=upload, by=steward, name="bench"
        )
        ingest_seconds = time.perf_counter() - started
        ingest_memory = memory.stop()

        memory = PeakMemory()
        started = time.perf_counter()
        version = services.decide_columns(
            version=version, decisions=suggested_decisions(version), by=steward
        )
        decide_seconds = time.perf_counter() - started
        decide_memory = memory.stop()

        sample = version.synthetic_sample
        sample.requested_rows = 10_000
        sample.save()
        memory = PeakMemory()
        started = time.perf_counter()
        sample = services.build_synthetic_sample(sample=sample)
        synthesis_seconds = time.perf_counter() - started
        synthesis_memory = memory.stop()

        mb = 1024**2
        print(
            f"file: {path.stat().st_size / mb:,.0f} MB, {version.row_count:,} rows, "
            f"{len(version.staged_schema)} columns; database: {connection.vendor}"
        )
        print(f"flagged: {[f['column'] + ' (' + f['kind'] + ')' for f in version.findings]}")
        print(f"ingest:    {ingest_seconds:6.2f} s, peak memory +{ingest_memory / mb:,.0f} MB")
        print(f"decisions: {decide_seconds:6.2f} s, peak memory +{decide_memory / mb:,.0f} MB")
        print(
            f"synthesis: {synthesis_seconds:6.2f} s, peak memory +{synthesis_memory / mb:,.0f}"
            f" MB ({sample.row_count:,} rows, status {sample.status}, exact copies "
            f"{sample.report.get('exact_copy_share')})"
        )
        print(
            f"process peak (ru_maxrss): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
        )
    finally:
        creation.destroy_test_db(test_db, verbosity=0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"admissions-{args.rows}.csv"
    if not path.exists():
        print(f"generating {path} ...")
        generate(path, args.rows)
    # A fresh process, so the generator's memory does not count against the ingest.
    subprocess.run([sys.executable, __file__, "--run", str(path)], check=True)


if __name__ == "__main__":
    main()
