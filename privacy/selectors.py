"""Reads for the pages and the API; writes live in services.py."""

import time

from privacy.models import PrivateQuestion

# How long an answer's page (or the API's wait) holds its request for the answer before
# it asks again, and how often it looks meanwhile (one small query each time).
WAIT_SECONDS = 20.0
CHECK_EVERY = 0.025


def wait_for_answer(question: PrivateQuestion, *, seconds: float | None = None) -> None:
    """Return once `question` is no longer being answered, or after `seconds`
    (WAIT_SECONDS): one small read each CHECK_EVERY, in autocommit, so no transaction is
    held while it waits."""
    deadline = time.monotonic() + (WAIT_SECONDS if seconds is None else seconds)
    while question.status == PrivateQuestion.Status.SPENT and time.monotonic() < deadline:
        time.sleep(CHECK_EVERY)
        question.refresh_from_db(fields=["status"])


def released_answers(workspace):
    """The workspace's answers released by differential privacy, newest first."""
    return PrivateQuestion.objects.filter(
        workspace=workspace, status=PrivateQuestion.Status.ANSWERED
    ).select_related("asked_by", "budget__version__dataset")


def questions_of_job(job):
    return PrivateQuestion.objects.filter(job=job).select_related("budget__version__dataset")
