"""Runs a job's script inside the sandbox and records what it used.

The worker cannot see the CPU time of processes in the sandbox's PID namespace, so this
runner writes its own usage (and its children's) to /output/.tre-usage.json on exit.
"""

import json
import resource
import runpy
import sys


def _write_usage() -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {
        "cpu_seconds": round(
            own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 3
        ),
        "max_rss_bytes": max(own.ru_maxrss, children.ru_maxrss) * 1024,
    }
    try:
        with open("/output/.tre-usage.json", "w") as handle:
            json.dump(usage, handle)
    except OSError:
        pass


if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        _write_usage()
