import socket

from celery import shared_task
from django.db import connection


@shared_task
def health_check() -> dict:
    """Prove a worker is alive and reaches the database; returns no data, only facts."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {"worker": socket.gethostname(), "database": connection.vendor, "ok": one == 1}
