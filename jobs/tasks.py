from celery import shared_task
from celery.signals import (
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutting_down,
)
from django.conf import settings

from jobs import runtime, workdirs

_sweeper = {}


@worker_ready.connect
def sweep_this_host(**kwargs):
    """What runs of this host left when their worker died (decrypted outputs in memory),
    removed at start and every minute after."""
    _sweeper["stop"] = workdirs.keep_sweeping(every=settings.TRE_JOB_SWEEP_SECONDS)


@worker_shutting_down.connect
def stop_sweeping(**kwargs):
    if stop := _sweeper.pop("stop", None):
        stop.set()


@worker_process_init.connect
def warm_up(**kwargs):
    """Each worker process starts a sandbox ahead of its first job (jobs.runtime)."""
    runtime.prepare_warm()


@worker_process_shutdown.connect
def cool_down(**kwargs):
    runtime.close_warm()


@shared_task(acks_late=True, reject_on_worker_lost=False)
def run_job_task(job_id: int) -> dict:
    """Ids in, a status out: never a value from the data.

    Not re-delivered when the worker dies (reject_on_worker_lost off): the job is then
    failed by the reaper, since a real-data job runs at most once.
    """
    job = runtime.run_job(job_id=job_id)
    return {"job": job_id, "status": job.status if job else "not claimed"}


@shared_task
def reap_stale_jobs_task() -> dict:
    return {"failed": runtime.reap_stale_jobs()}
