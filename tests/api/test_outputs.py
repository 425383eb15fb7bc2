"""Outputs' files through the API: a dry run's; a real run's once released, to its
workspace's researchers; never one of another job or workspace; always inert."""

import hashlib

import pytest
from django.utils import timezone

from jobs.models import Job
from tests import hostile_files
from tests.api.conftest import ROOT, ApiClient, make_token
from tests.factories import job_output
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def url_of(output, slug="cardiac"):
    return f"{ROOT}/workspaces/{slug}/jobs/{output.job_id}/outputs/{output.pk}"


def content_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def researcher_api(researcher):
    return ApiClient(make_token(researcher, "read"))


def test_a_dry_runs_output_comes_with_its_checksum(researcher_api, researcher, finished_job):
    [output] = finished_job.outputs.all()
    response = researcher_api.get(url_of(output))
    assert response.status_code == 200
    content = content_of(response)
    assert content == b"ward,n\nA,12\n"
    assert response["X-Checksum-SHA256"] == hashlib.sha256(content).hexdigest() == output.sha256
    assert response["Content-Disposition"] == 'attachment; filename="by_ward.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert AuditEvent.objects.filter(
        action="job_output.viewed", actor=researcher, target_id=str(output.pk)
    ).exists()


def test_a_checker_sees_dry_run_outputs_too(checker, finished_job):
    [output] = finished_job.outputs.all()
    assert ApiClient(make_token(checker, "read")).get(url_of(output)).status_code == 200


def test_a_hostile_file_is_served_inert_as_on_the_portal(researcher_api, finished_job):
    output = job_output(
        finished_job, "chart", hostile_files.html(), type="figure", filename="chart.html"
    )
    response = researcher_api.get(url_of(output))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="chart.html.bin"'
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_real_runs_unreleased_output_is_refused_without_a_byte(
    researcher_api, researcher, real_job
):
    for output in real_job.outputs.all():
        response = researcher_api.get(url_of(output))
        assert response.status_code == 403
        assert response.json() == {
            "detail": "Outputs of a real-data run leave only through the airlock."
        }
        assert not response.has_header("X-Checksum-SHA256")
    assert not AuditEvent.objects.filter(action="release.downloaded").exists()


def test_a_released_output_downloads_for_researchers(researcher, real_job, workspace):
    from tests.factories import MembershipFactory, UserFactory

    output = real_job.outputs.get(name="by_ward")
    output.released_at = timezone.now()
    output.save()
    colleague = UserFactory(username="cole")
    MembershipFactory(workspace=workspace, user=colleague, roles=["researcher"])
    for user in (researcher, colleague):
        response = ApiClient(make_token(user, "read")).get(url_of(output))
        assert response.status_code == 200
        assert content_of(response) == b"ward,n\nA,12\n"
        assert response["X-Checksum-SHA256"] == output.sha256
    assert AuditEvent.objects.filter(action="release.downloaded").count() == 2


def test_a_released_output_is_not_the_checkers_to_download(checker, real_job):
    """Checkers see outputs in the airlock, on the portal; the researchers' download of a
    released output is the researchers' (as jobs:output)."""
    output = real_job.outputs.get(name="by_ward")
    output.released_at = timezone.now()
    output.save()
    assert ApiClient(make_token(checker, "read")).get(url_of(output)).status_code == 403


def test_a_real_runs_outputs_do_not_exist_before_it_is_shown_as_ended(
    researcher_api, unrevealed_real_job
):
    """Were a stored output a 403 and a missing one a 404, probing the next output id
    would tell when the run really ended, before its reveal moment."""
    [output] = unrevealed_real_job.outputs.all()
    output.released_at = timezone.now()  # even so
    output.save()
    stored = researcher_api.get(url_of(output))
    missing = researcher_api.get(
        f"{ROOT}/workspaces/cardiac/jobs/{unrevealed_real_job.pk}/outputs/{output.pk + 1000}"
    )
    assert stored.status_code == missing.status_code == 404
    assert stored.content == missing.content


def test_an_output_of_another_job_or_workspace_is_a_404(
    researcher_api, finished_job, real_job, outsider, other_workspace
):
    [dry] = finished_job.outputs.all()
    foreign_job = Job.objects.create(
        workspace=other_workspace, submitted_by=outsider, mode="dry_run", script="...",
        status=Job.Status.FINISHED,
    )  # fmt: skip
    foreign = job_output(foreign_job, "theirs")
    for path in (
        # an output of this workspace's dry run, through another of its jobs
        f"{ROOT}/workspaces/cardiac/jobs/{real_job.pk}/outputs/{dry.pk}",
        # another workspace's output, through a job of this one
        f"{ROOT}/workspaces/cardiac/jobs/{finished_job.pk}/outputs/{foreign.pk}",
        # ...through its own job, by this workspace's path
        f"{ROOT}/workspaces/cardiac/jobs/{foreign_job.pk}/outputs/{foreign.pk}",
        # ...through its own workspace, where the researcher is nobody
        url_of(foreign, "oncology"),
    ):
        response = researcher_api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}
