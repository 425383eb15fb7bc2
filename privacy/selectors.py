"""Reads for other apps' pages; writes live in services.py."""

from privacy.models import PrivateQuestion


def released_answers(workspace):
    """The workspace's answers released by differential privacy, newest first."""
    return PrivateQuestion.objects.filter(
        workspace=workspace, status=PrivateQuestion.Status.ANSWERED
    ).select_related("asked_by", "budget__version__dataset")


def questions_of_job(job):
    return PrivateQuestion.objects.filter(job=job).select_related("budget__version__dataset")
