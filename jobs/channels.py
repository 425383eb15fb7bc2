"""What a researcher may see about a real-data run before its outputs are released.

A real run's script decides everything that comes out of its sandbox: files, names, the
manifest, the log, how it exits, how long it runs, how much it allocates. Each of those is
a channel through which it can tell the researcher something about the data. The rule
this module enforces: **before release, a researcher sees about a real run only what the
platform itself states, from a short fixed vocabulary** — never text, names or numbers
the script produced. Each function below is one channel, narrowed to a handful of values;
`docs/security.md` tabulates them with the most each can carry, and the per-day quota of
real runs (`Workspace.real_runs_per_day`) bounds their sum.

Dry runs (on the synthetic samples) show everything: that is where debugging happens.
Output checkers are eyes-on and see everything in the airlock. Plain Python, no Django:
the views adapt it, and tests/redteam tries to get past it.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from datetime import datetime, timedelta
from pathlib import PurePosixPath

# A real run's ending is shown at the first of these moments (seconds after submission)
# that comes after it ended, then every hour: so when the page changes says only which
# step the run ended in, not when to the second (a script could sleep for a value).
REVEAL_MOMENTS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600)
REVEAL_EVERY_AFTER = 3600

# Runtime and CPU as coarse steps: under 1 s / 10 s / 1 min / 10 min / more.
TIME_STEPS = ((1, "under 1 s"), (10, "1 to 10 s"), (60, "10 s to 1 min"), (600, "1 to 10 min"))
TIME_BEYOND = "over 10 min"

# Python's built-in exception classes: the only names a real run's failure may show.
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)
OTHER_EXCEPTION = "an exception"

# What the sandbox's traceback of the script looks like. The log is the script's to
# write, so this only finds candidates: every one is checked against the script.
_SCRIPT_FRAME = re.compile(r'^\s*File "/job/script\.py", line (\d{1,7}), in ')
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]{0,99})(?::|$)")
_RULE = re.compile(r"[a-z][a-z-]{0,40}")


def reveal_moment(submitted_at: datetime, ended_at: datetime) -> datetime:
    """When a real run that ended at `ended_at` may be shown as ended."""
    elapsed = max((ended_at - submitted_at).total_seconds(), 0.0)
    for moment in REVEAL_MOMENTS:
        if elapsed <= moment:
            return submitted_at + timedelta(seconds=moment)
    steps = math.ceil((elapsed - REVEAL_MOMENTS[-1]) / REVEAL_EVERY_AFTER)
    return submitted_at + timedelta(seconds=REVEAL_MOMENTS[-1] + steps * REVEAL_EVERY_AFTER)


def reveal_moments_within(seconds: float) -> int:
    """How many distinct moments a run that ends within `seconds` of its submission can
    be revealed at (for the channel table's bound)."""
    count = sum(1 for moment in REVEAL_MOMENTS if moment < seconds) + 1
    if seconds > REVEAL_MOMENTS[-1]:
        count += math.ceil((seconds - REVEAL_MOMENTS[-1]) / REVEAL_EVERY_AFTER)
    return count


def time_step(seconds: float | None) -> str | None:
    """A duration as one of five coarse steps."""
    if seconds is None:
        return None
    for limit, label in TIME_STEPS:
        if seconds < limit:
            return label
    return TIME_BEYOND


def size_step(count: int | None) -> str | None:
    """A size in bytes as a power of ten: "under 1 MB", "under 10 MB"..."""
    if count is None:
        return None
    for exponent in range(3, 13):
        if count < 10**exponent:
            return f"under {_decimal(10**exponent)}"
    return f"at least {_decimal(10**12)}"


def _decimal(count: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if count >= scale:
            return f"{count // scale} {unit}"
    return f"{count} bytes"


def failure_summary(log: str, script: str) -> tuple[str | None, int | None]:
    """The exception type and the script's line number of the last traceback in `log`.

    The log comes from the sandbox, so a script can print a traceback of its own making:
    the type is shown only if it is one of Python's built-in exceptions (anything else
    is "an exception"), and the line only if the script has such a line. At most
    log2(built-in exceptions + 1) bits and log2(lines of the script) bits.
    """
    lines = log.splitlines()
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback (")), default=None)
    if start is None:
        return None, None
    script_lines = script.count("\n") + 1
    line_number = None
    exception = OTHER_EXCEPTION
    for line in lines[start + 1 :]:
        frame = _SCRIPT_FRAME.match(line)
        if frame:
            number = int(frame[1])
            line_number = number if 1 <= number <= script_lines else None
            continue
        if line.startswith(" "):
            continue  # library frames and source lines
        found = _EXCEPTION_LINE.match(line)
        name = found[1].rsplit(".", 1)[-1] if found else ""
        builtin = name in BUILTIN_EXCEPTIONS and found[1] in (name, f"builtins.{name}")
        exception = name if builtin else OTHER_EXCEPTION
        break
    return exception, line_number


def script_literals(script: str) -> frozenset[str]:
    """The string literals of a script: an output named by one of them carries nothing
    from the data (the researcher wrote it before the run)."""
    try:
        tree = ast.parse(script)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    return frozenset(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200
    )


def label_outputs(outputs: list[dict], literals: frozenset[str]) -> list[dict]:
    """Name and order a real run's outputs as a researcher sees them.

    `outputs` are dicts with the output's "name", "filename", "type" and "verdict". An
    output whose name (or file name) is a string literal of the script keeps its name;
    the others are "output N". The order must not depend on the hidden names either
    (where a hidden output stands among the others would tell how its name sorts): named
    outputs come first by name, then the hidden ones by what the researcher sees of them
    (type and verdict), numbered in that order. Returns new dicts in that order, with
    "label" and "position" set; they must be stored in that order too (ids are shown).
    """
    named, hidden = [], []
    for output in outputs:
        if output["name"] in literals:
            label = output["name"]
        elif output["filename"] in literals:
            # Named by the script's text, but not the name the manifest claims for it.
            label = PurePosixPath(output["filename"]).stem
        else:
            label = ""
        (named if label else hidden).append({**output, "label": label})
    named.sort(key=lambda output: (output["label"], output["filename"]))
    hidden.sort(
        key=lambda output: (output["type"], repr(verdict_for_researcher(output["verdict"])))
    )
    ordered = named + hidden
    for position, output in enumerate(ordered, 1):
        output["position"] = position
        output["label"] = output["label"] or f"output {position}"
    return ordered


def verdict_for_researcher(verdict: dict) -> dict:
    """Of an automated verdict, only its status and the names of the rules it cites:
    reasons name cells and counts, which a script can choose by the data."""
    if not isinstance(verdict, dict) or verdict.get("status") not in ("pass", "review", "fail"):
        return {}
    rules = sorted(
        {
            str(reason.get("rule"))
            for reason in verdict.get("reasons", [])
            if isinstance(reason, dict) and _RULE.fullmatch(str(reason.get("rule")))
        }
    )
    return {"status": verdict["status"], "rules": rules}


# The page's view of one job ---------------------------------------------------------

STATE_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "in_progress": "In progress",
    "finished": "Finished",
    "failed": "Failed",
    "timed_out": "Timed out",
    "limit_exceeded": "Over a limit",
    "cancelled": "Cancelled",
}
ENDED_STATES = {"finished", "failed", "timed_out", "limit_exceeded", "cancelled"}


def is_shown_ended(job, now: datetime) -> bool:
    """Whether the job may be shown as ended: a dry run as soon as it ends, a real run
    from its reveal moment on."""
    if job.status not in ENDED_STATES:
        return False
    if job.mode != "real" or job.finished_at is None:
        return True
    return now >= reveal_moment(job.created_at, job.finished_at)


def job_view(job, now: datetime) -> dict:
    """Everything the job's pages show about its run (not its outputs), for anyone in the
    workspace. A real run: only platform-stated values from fixed vocabularies."""
    real = job.mode == "real"
    ended = is_shown_ended(job, now)
    if ended:
        state = job.status
    elif real:
        # Queued or running, or ended but not yet shown: the moment a real run starts
        # tells when the one before it ended, so the two are one state.
        state = "in_progress"
    else:
        state = job.status
    view = {
        "state": state,
        "state_label": STATE_LABELS[state],
        "has_ended": ended,
        "reason": job.status_reason if ended else "",
        "failure_type": job.failure_type if ended and job.status == "failed" else "",
        "failure_line": job.failure_line if ended and job.status == "failed" else None,
        "is_real": real,
    }
    if real:
        view.update(
            started_at=None,
            runtime=time_step(job.wall_seconds) if ended else None,
            cpu=time_step(job.cpu_seconds) if ended else None,
            memory=size_step(job.max_rss_bytes) if ended else None,
            output_size=size_step(job.output_bytes) if ended else None,
            exit_code=None,
        )
    else:
        view.update(
            started_at=job.started_at,
            runtime=None if job.wall_seconds is None else f"{job.wall_seconds:.2f} s",
            cpu=None if job.cpu_seconds is None else f"{job.cpu_seconds:.2f} s",
            memory=job.max_rss_bytes,
            output_size=job.output_bytes,
            exit_code=job.exit_code,
        )
    return view
