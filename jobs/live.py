"""How the job page follows a job: it asks, and the answer comes when the page would change.

The page used to poll its live fragment every second. Now it holds one request open (a
long-poll, `jobs:status_wait`) that names what the page shows, as a fingerprint; the
view answers the moment what the status view would show differs from it, or after
`WAIT_SECONDS` whatever happens, and the page asks again with the fragment's new
fingerprint. A dry run's result appears within `CHECK_EVERY` of being stored (checked
every 50 ms for the first 3 s of a wait, every 250 ms after).

It reveals nothing the status view does not: the fingerprint is made from exactly what
the page shows (`channels.job_view` and the queue position), so a real run's wait ends
only when the status view's answer changes, which is at one of the fixed moments of
`channels.REVEAL_MOMENTS`, never at the moment the run really ended. The answer itself is
the status view's, rendered when the wait ends.

A long-poll rather than Server-Sent Events: htmx sends it, so it carries `HX-Request`,
which keeps the sign-in policy's rule that a page's own polling is not the person doing
something (an EventSource cannot send that header, and an open job page would then keep
its session alive for ever); and a session that ends mid-wait gets htmx's page reload.
Noticing a change costs one small query every `CHECK_EVERY` (then `CHECK_EVERY_LATER`)
per open page, for at most `WAIT_SECONDS`: no worker code has to publish anything.
"""

import hashlib
import json
import time

from django.utils import timezone

from jobs import channels, services
from jobs.models import Job

WAIT_SECONDS = 30.0
# Often at first (a dry run's result comes within a second or two of its page asking),
# then less: a long wait is a long job, whose page needs no 20 looks a second.
CHECK_EVERY = 0.05
CHECK_EVERY_LATER = 0.25
LATER_AFTER_SECONDS = 3.0

# The columns `channels.job_view` and the queue position read: a check loads only these,
# never the script or the log.
SHOWN_FIELDS = (
    "mode",
    "status",
    "status_reason",
    "failure_type",
    "failure_line",
    "created_at",
    "started_at",
    "finished_at",
    "exit_code",
    "wall_seconds",
    "cpu_seconds",
    "max_rss_bytes",
    "output_bytes",
)


def queue_position(job: Job) -> int | None:
    """The position the page shows: dry runs only (a real run's would tell when the
    real runs before it ended)."""
    return None if job.is_real else services.queue_position(job)


def fingerprint(view: dict, position: int | None) -> str:
    """A short digest of what the live fragment shows of a job: equal fingerprints, the
    same fragment (bar its CSRF token)."""
    shown = json.dumps([view, position], sort_keys=True, default=str)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def current_fingerprint(job: Job) -> str:
    return fingerprint(channels.job_view(job, timezone.now()), queue_position(job))


def wait_for_change(job: Job, shown: str | None, *, seconds: float | None = None) -> None:
    """Return once what the page shows of `job` differs from the fingerprint `shown`,
    once the job is shown as ended, or after `seconds` (WAIT_SECONDS). Reloads only the
    shown fields of `job`; the caller loads it again in full to render it."""
    began = time.monotonic()
    deadline = began + (WAIT_SECONDS if seconds is None else seconds)
    while True:
        try:
            job.refresh_from_db(fields=SHOWN_FIELDS)
        except Job.DoesNotExist:
            return
        if current_fingerprint(job) != shown or channels.is_shown_ended(job, timezone.now()):
            return
        if time.monotonic() >= deadline:
            return
        waited = time.monotonic() - began
        time.sleep(CHECK_EVERY if waited < LATER_AFTER_SECONDS else CHECK_EVERY_LATER)
