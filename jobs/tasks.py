from celery import shared_task

from jobs import runtime


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
