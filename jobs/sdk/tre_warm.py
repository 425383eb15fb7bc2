"""A warm start: runs inside a sandbox started before its job was known.

It imports what researchers' scripts import (numpy, pandas, pyarrow, scikit-learn, the
SDK) while the sandbox waits, then receives its one job on the socket the worker handed
it (TRE_HANDOFF_FD): read-only descriptors of the script and of each input, and the
job's environment. It tells the worker where the descriptors landed (its pid here and
their numbers), the worker links them at /job/script.py and /inputs/NAME from outside
(both read-only in here), and the script runs as `tre_run.py` runs it. One job, then
the sandbox ends with it: nothing of one run is ever seen by another. Nothing is
reported from in here (whatever the sandbox writes, the script could have written); the
worker measures the run from outside.
"""

import json
import os
import socket
import struct
import sys

MAX_HEADER = 64 * 1024
WARM_NICENESS = 10


def _warm_up() -> None:
    # Quietly: a warning printed now would land in the run's log as if the script had.
    saved = [os.dup(1), os.dup(2)]
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    try:
        # Failing to import is the script's business when it tries: not ours now.
        for name in ("numpy", "pandas", "pyarrow.parquet", "sklearn", "tre_sdk"):
            try:
                __import__(name)
            except Exception:  # noqa: S112 - an import the script may not even need
                continue
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for descriptor in (*saved, quiet):
            os.close(descriptor)


def _receive(channel: socket.socket) -> tuple[dict, list[int]]:
    """The job's header (length-prefixed JSON) and descriptors."""
    data, descriptors = b"", []
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        chunk, fds, _flags, _address = socket.recv_fds(channel, MAX_HEADER, 64)
        if not chunk:
            raise SystemExit(0)  # the worker went away before handing a job: nothing to run
        data += chunk
        descriptors += fds
    size = struct.unpack("!I", data[:4])[0]
    return json.loads(data[4 : 4 + size]), descriptors


def main() -> None:
    channel = socket.socket(fileno=int(os.environ.pop("TRE_HANDOFF_FD")))
    # Warming up is work nobody waits for: it yields the CPU to the portal and to runs
    # going on. A process cannot take priority back, so the run it serves keeps it too.
    os.nice(WARM_NICENESS)
    _warm_up()
    channel.sendall(b"ready\n")
    header, descriptors = _receive(channel)
    for descriptor in descriptors:
        os.set_inheritable(descriptor, True)  # the script's own processes read them too
    channel.sendall(json.dumps({"pid": os.getpid(), "fds": descriptors}).encode() + b"\n")
    if channel.recv(16) != b"go\n":
        raise SystemExit(0)
    channel.close()
    os.environ.update(header.get("environment", {}))
    from tre_run import run_script

    run_script("/job/script.py")


if __name__ == "__main__":
    main()
