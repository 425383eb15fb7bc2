"""When a worker starts, jobs its dead predecessors left running are settled at once."""

import logging

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def reap_on_start(sender=None, **kwargs):
    from jobs.runtime import reap_stale_jobs

    try:
        failed = reap_stale_jobs()
    except Exception:  # the database may not be reachable yet; the beat schedule retries
        logger.exception("Reaping stale jobs at worker start failed")
        return
    if failed:
        logger.warning("Failed %s job(s) whose worker had stopped", failed)
