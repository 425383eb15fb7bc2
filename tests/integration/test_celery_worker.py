"""A real task through a real Redis broker to a real Celery worker process: no eager mode."""

import pytest
from django.conf import settings

from tre import celery_app
from tre.tasks import health_check

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_not_eager():
    assert not celery_app.conf.task_always_eager
    assert not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)


def test_a_task_round_trips_through_broker_and_worker(celery_worker_process, redis_url):
    result = health_check.delay()

    outcome = result.get(timeout=30)

    assert outcome["ok"] is True
    # The worker is another process that opened the same test database.
    from django.db import connection

    assert outcome["database"] == connection.vendor
    assert result.successful()
    succeeded = f"Task tre.tasks.health_check[{result.id}] succeeded"
    assert succeeded in celery_worker_process.wait_for_log(succeeded)
