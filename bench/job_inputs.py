"""A real run's input handed over in memory (today) against a decrypted file on disk
(before issue 17), for a 1,000,000-row table.

    .venv/bin/python bench/job_inputs.py [--rows 1000000] [--repeats 5]

No Django and no encryption: both paths start from the decrypted Parquet bytes in the
worker's memory, which is where `vault.open_encrypted` leaves them.

- in memory: the bytes go into a memory file (memfd), which bwrap copies into the
  sandbox's own in-memory root (`--ro-bind-data`): measured as a sandboxed trivial script
  with the input, less the same script without it;
- on disk (before): the table read and written again as a Parquet file in the system's
  temporary directory, bind-mounted read-only (free), and removed after the run.
"""

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from jobs import sandbox  # noqa: E402

READ_IT = (
    "import pyarrow.parquet as pq\nprint(pq.read_table('/inputs/admissions.parquet').num_rows)\n"
)


def admissions(rows: int) -> bytes:
    rng = np.random.default_rng(7)
    table = pa.table({
        "patient_id": np.arange(rows),
        "age": rng.integers(18, 95, rows),
        "ward": pa.array(rng.choice(["cardiology", "renal", "oncology", "surgery"], rows)),
        "stay_days": rng.gamma(2, 3, rows).round(1),
        "readmitted": rng.random(rows) < 0.12,
        "postcode": pa.array([f"SW{i % 20} {i % 9}AB" for i in range(rows)]),
    })  # fmt: skip
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def timed(action, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = admissions(args.rows)
    limits = sandbox.Limits()
    sandbox.check_available()
    with tempfile.TemporaryDirectory(dir="/dev/shm") as directory:
        output = Path(directory) / "output"
        output.mkdir()

        def run(script, with_input):
            inputs = {}
            if with_input:
                handle = sandbox.memory_file("input")
                handle.write(data)
                inputs["admissions.parquet"] = handle
            result = sandbox.run(script=script, inputs=inputs, output=output, limits=limits)
            for handle in inputs.values():
                handle.close()
            if result.state != "finished":
                sys.exit(f"the script did not finish: {result.stderr[-500:]}")
            return result

        bare = timed(lambda: run("pass\n", False), args.repeats)
        memory = timed(lambda: run("pass\n", True), args.repeats)
        reading = timed(lambda: run(READ_IT, True), args.repeats)

    def on_disk():
        table = pq.read_table(io.BytesIO(data))
        place = Path(tempfile.mkdtemp(prefix="tre-bench-inputs-"))
        pq.write_table(table, place / "admissions.parquet")
        shutil.rmtree(place)

    disk = timed(on_disk, args.repeats)
    print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB of Parquet; medians of {args.repeats}")
    print(f"sandboxed trivial script, no input:   {bare * 1000:7.1f} ms")
    print(f"  with the input in memory:           {memory * 1000:7.1f} ms "
          f"(hand-over {(memory - bare) * 1000:.1f} ms)")  # fmt: skip
    print(f"  reading the whole input (pyarrow):  {reading * 1000:7.1f} ms")
    print(f"before: decrypted file written to disk: {disk * 1000:5.1f} ms")


if __name__ == "__main__":
    main()
