"""Ingest, decide, and a real worker builds the synthetic sample from the queue."""

import pytest

from tests.factories import admissions_csv, upload_of
from tests.integration.conftest import wait_for_status
from workspaces import services
from workspaces.models import SyntheticSample
from workspaces.services.datasets import suggested_decisions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_decided_version_gets_its_sample_from_a_real_worker(
    celery_worker_process, workspace, checker
):
    version = services.ingest_dataset(
        workspace=workspace, upload=upload_of(admissions_csv(400)), by=checker, name="admissions"
    )
    # Committing the decision sends the task (on commit, ids only) to the real broker.
    version = services.decide_columns(
        version=version, decisions=suggested_decisions(version), by=checker
    )

    sample = wait_for_status(version.synthetic_sample, {"ready", "failed"})

    assert sample.status == SyntheticSample.Status.READY, celery_worker_process.log()[-3000:]
    assert sample.row_count == sample.requested_rows
    assert sample.report["exact_copy_share"] == 0.0
    assert set(sample.summary) == {column["name"] for column in version.schema}
    # The task's result carries ids and a status, never a value.
    result = f"{{'sample': {sample.pk}, 'status': 'ready'}}"
    log = celery_worker_process.wait_for_log(result)
    assert result in log
    for row in admissions_csv(400).splitlines()[1:50]:
        assert row.split(",")[2] not in log  # no e-mail address from the data
