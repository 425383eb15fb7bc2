"""Following a job until it ends, as the portal's job page does.

The portal's `/wait` answers once what it shows of the job differs from the fingerprint
the client names, or after 30 s; the client asks again with the new fingerprint. So a
real run's state changes here only when the portal's page would show it change, at the
fixed moments it reveals them, never sooner.

Progress goes to stderr, so stdout holds only the result: on a terminal, a spinner with
the seconds waited on one line that the state changes are written above; elsewhere (a
CI log, a file), one plain line per state.
"""

import itertools
import sys
import threading
import time

from tre_cli.client import LONG_POLL_READ_TIMEOUT, Portal, one_line, path_segment
from tre_cli.errors import StoppedWaiting

SPINNER = "|/-\\"
SPIN_EVERY_SECONDS = 0.1
# An answer with nothing new should have taken the portal's 30 s; one that came back at
# once is not asked again at once, so a misbehaving portal is not flooded.
SHORTEST_QUIET_ANSWER_SECONDS = 1.0


def job_path(workspace: str, job_id) -> str:
    return f"workspaces/{path_segment(workspace)}/jobs/{path_segment(job_id)}"


def describe_state(job: dict) -> str:
    """The job's state as a person reads it: its label, and why it ended if it failed."""
    parts = [str(job.get("state_label") or job.get("state") or "unknown")]
    if failure_type := job.get("failure_type"):
        line = job.get("failure_line")
        parts.append(f"{failure_type} at line {line}" if line else str(failure_type))
    if reason := job.get("reason"):
        parts.append(str(reason))
    return one_line(": ".join(parts))


class _ProgressLine:
    """What stderr shows while waiting."""

    def __init__(self, job_id, stream):
        self.job_id = job_id
        self.stream = stream
        self.is_terminal = stream.isatty()
        self.started = time.monotonic()
        self.state = ""
        self._drawn_width = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._spinner = None

    def __enter__(self):
        if self.is_terminal:
            self._spinner = threading.Thread(target=self._spin, daemon=True)
            self._spinner.start()
        return self

    def __exit__(self, *exc_info):
        self._stopped.set()
        if self._spinner is not None:
            self._spinner.join()
        with self._lock:
            self._clear()

    def show(self, job: dict) -> None:
        state = describe_state(job)
        if state == self.state:
            return
        with self._lock:
            self.state = state
            self._clear()
            print(f"job {self.job_id}: {state}", file=self.stream, flush=True)

    def _spin(self) -> None:
        for mark in itertools.cycle(SPINNER):
            if self._stopped.wait(SPIN_EVERY_SECONDS):
                return
            with self._lock:
                seconds = int(time.monotonic() - self.started)
                text = f"{mark} job {self.job_id}: {self.state} ({seconds} s)"
                self.stream.write("\r" + text.ljust(self._drawn_width))
                self.stream.flush()
                self._drawn_width = len(text)

    def _clear(self) -> None:
        if self._drawn_width:
            self.stream.write("\r" + " " * self._drawn_width + "\r")
            self.stream.flush()
            self._drawn_width = 0


def follow(portal: Portal, workspace: str, job: dict, *, follow_hint: str) -> dict:
    """Wait until `job` has ended, showing its progress on stderr; the job as it ended.

    Ctrl-C stops the waiting, not the job: it raises `StoppedWaiting`, whose message
    tells how to go on following it (`follow_hint`, a command line)."""
    path = job_path(workspace, job["id"])
    with _ProgressLine(job["id"], sys.stderr) as progress:
        progress.show(job)
        try:
            while not job.get("has_ended"):
                asked = time.monotonic()
                shown = job.get("fingerprint")
                job = portal.get_json(
                    f"{path}/wait",
                    query={"shown": shown},
                    read_timeout=LONG_POLL_READ_TIMEOUT,
                )
                progress.show(job)
                quick = time.monotonic() - asked < SHORTEST_QUIET_ANSWER_SECONDS
                if quick and job.get("fingerprint") == shown and not job.get("has_ended"):
                    time.sleep(SHORTEST_QUIET_ANSWER_SECONDS)
        except KeyboardInterrupt:
            raise StoppedWaiting(
                f"stopped waiting; job {job['id']} goes on. Follow it with: {follow_hint}"
            ) from None
    return job
