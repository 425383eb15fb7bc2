"""Runs a job's script inside the sandbox: as `python script.py` would, with the SDK on
the path. The worker measures what the run used from outside; nothing is reported from
in here (whatever the sandbox writes, the script could have written)."""

import runpy
import sys

if __name__ == "__main__":
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
