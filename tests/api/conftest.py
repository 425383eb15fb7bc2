"""The JSON API, called as the command-line client calls it: a bearer token, no cookie."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import finished_real_job, job_output

ROOT = "/api/v1"


class ApiClient(Client):
    """A test client that sends a bearer token with every request (none if `token` is
    None), as the command-line client does, and never a cookie of the portal's."""

    def __init__(self, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        super().__init__(headers=headers, **kwargs)
        self.token = token

    def post_json(self, path, data, **kwargs):
        return self.post(path, data, content_type="application/json", **kwargs)


def make_token(user, scope="submit", days=30) -> str:
    from accounts.tokens import create_token

    return create_token(user=user, by=user, name=f"{scope} token", scope=scope, days=days)[1]


@pytest.fixture
def api_as():
    """`api_as(user, scope="submit")`: a client holding a fresh token of `user`."""

    def client_for(user, scope="submit"):
        return ApiClient(make_token(user, scope))

    return client_for


@pytest.fixture
def anonymous_api():
    return ApiClient()


@pytest.fixture
def real_job(ready_version, researcher):
    """A real run shown as ended, with two outputs: one the script names in its text
    ("by_ward"), one whose name is not in it (the researcher sees "output 2")."""
    job = finished_real_job(
        ready_version, researcher, script="save_table('by_ward', frame)", log="secret log"
    )
    job_output(
        job, "by_ward", label="by_ward", position=1,
        verdict={"status": "review", "reasons": [
            {"rule": "min-cell-count", "message": "cell (A, 3) has 3", "cells": [[0, 1]]}
        ]},
    )  # fmt: skip
    job_output(
        job, "smith_john_1970", b"secret\n", label="output 2", position=2,
        kind="frequency", description="written by the script",
        verdict={"status": "pass", "reasons": []},
    )  # fmt: skip
    return job


@pytest.fixture
def unrevealed_real_job(ready_version, researcher):
    """A real run that has ended but is not shown as ended yet (its reveal moment, 2 min
    after submission, is almost a minute away: however slow the test), with an output
    stored."""
    from jobs.models import Job

    job = finished_real_job(ready_version, researcher)
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        created_at=now - timedelta(seconds=65),
        started_at=now - timedelta(seconds=64),
        finished_at=now - timedelta(seconds=2),
        wall_seconds=62.0,
        exit_code=0,
    )
    job_output(job, "by_ward", label="by_ward")
    job.refresh_from_db()
    return job
