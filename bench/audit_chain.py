"""How fast the audit trail appends and verifies.

    .venv/bin/python bench/audit_chain.py [--entries 5000]

Uses a throwaway database: Django's test database beside the one DATABASE_URL
names (PostgreSQL), or SQLite in a temporary directory when it is not set.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()

    os.environ.setdefault("TRE_DATA_DIR", tempfile.mkdtemp(prefix="tre-bench-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tre.settings"

    import django

    django.setup()
    from django.db import connection

    creation = connection.creation
    test_db = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from tre import audit

        started = time.perf_counter()
        for n in range(args.entries):
            audit.record(action="bench.event", details={"n": n})
        append_seconds = time.perf_counter() - started

        started = time.perf_counter()
        report = audit.verify_chain()
        verify_seconds = time.perf_counter() - started
        if not report.is_intact or report.checked != args.entries:
            sys.exit(f"the chain did not verify: {report.problems[:3]}")

        print(f"database: {connection.vendor}")
        print(
            f"append: {args.entries} entries in {append_seconds:.2f} s "
            f"({args.entries / append_seconds:,.0f} entries/s, one transaction each)"
        )
        print(
            f"verify: {args.entries} entries in {verify_seconds:.2f} s "
            f"({args.entries / verify_seconds:,.0f} entries/s)"
        )
    finally:
        creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
