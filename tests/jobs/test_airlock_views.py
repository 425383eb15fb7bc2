"""The airlock's pages serving files: release items and supporting files, inert always."""

import pytest

from jobs import airlock
from tests import hostile_files
from tests.factories import finished_real_job, job_output
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def assert_attachment_in_a_sandbox(response):
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert not response["Content-Type"].startswith(("text/html", "image/svg", "text/javascript"))
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def hostile_request(ready_version, researcher, checker, django_capture_on_commit_callbacks):
    """A submitted request of every kind of hostile output, with hostile supporting files."""
    job = finished_real_job(ready_version, researcher)
    outputs = [
        job_output(job, name, content, type=type, filename=filename)
        for name, type, filename, content in hostile_files.outputs()
    ]
    release = airlock.create_request(
        job=job, description="x", items=[(output, "a", "b") for output in outputs], by=researcher
    )
    for name, content in hostile_files.supporting_files():
        airlock.add_supporting_file(request=release, name=name, content=content, by=researcher)
    with django_capture_on_commit_callbacks():
        return airlock.submit_request(request=release, by=researcher)


def test_every_hostile_item_reaches_a_checker_inert(client, hostile_request, checker):
    client.force_login(checker)
    base = hostile_request.get_absolute_url()
    contents = {filename: content for _, _, filename, content in hostile_files.outputs()}
    for item in hostile_request.items.select_related("output"):
        for query in ("", "?download=1"):
            response = client.get(f"{base}items/{item.pk}/{query}")
            content_type = hostile_files.SERVED_AS[item.output.filename]
            inline = content_type == "image/png" and not query  # the review page's <img>
            assert response["Content-Type"] == content_type
            assert response["Content-Disposition"].startswith(
                "inline;" if inline else "attachment;"
            )
            assert "sandbox" in response["Content-Security-Policy"]
            assert response["X-Content-Type-Options"] == "nosniff"
            assert response["X-Checksum-SHA256"] == item.output.sha256
            assert b"".join(response.streaming_content) == contents[item.output.filename]
    assert (
        AuditEvent.objects.filter(action="release.output_viewed", actor=checker).count()
        == 2 * hostile_request.items.count()
    )


def test_the_html_figure_of_the_incident_is_an_octet_stream_download(
    client, hostile_request, checker
):
    item = hostile_request.items.get(output__filename="chart.html")
    client.force_login(checker)
    response = client.get(f"{hostile_request.get_absolute_url()}items/{item.pk}/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="chart.html.bin"'


@pytest.mark.parametrize("who", ["checker", "researcher"])
def test_supporting_files_download_inert_for_checkers_and_the_requester(
    request, client, hostile_request, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    page = client.get(hostile_request.get_absolute_url()).content.decode()
    for supporting in hostile_request.supporting_files.all():
        url = f"{hostile_request.get_absolute_url()}supporting/{supporting.pk}/"
        assert f'href="{url}"' in page
        response = client.get(url)
        assert_attachment_in_a_sandbox(response)
        assert response["Content-Type"] == "application/octet-stream"
        assert (
            b"".join(response.streaming_content)
            == dict(hostile_files.supporting_files())[supporting.name]
        )
    assert AuditEvent.objects.filter(
        action="release.supporting_file_viewed", actor=user
    ).count() == len(hostile_files.supporting_files())


def test_a_supporting_file_of_another_request_is_not_found(
    client, hostile_request, release_request, checker
):
    supporting = hostile_request.supporting_files.first()
    client.force_login(checker)
    url = f"{release_request.get_absolute_url()}supporting/{supporting.pk}/"
    assert client.get(url).status_code == 404


def test_a_real_run_not_yet_shown_as_ended_shows_no_outputs_stored_or_not(
    client, ready_version, researcher
):
    """Ended a moment ago, before its first reveal moment: its output's URL answers as a
    made-up one does, and the release form has nothing to list (either difference would
    tell when the run really ended)."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Job
    from tests.factories import finished_real_job, job_output

    job = finished_real_job(ready_version, researcher)
    output = job_output(job, "by_ward")
    # Submitted and ended "now", as far as its reveal moment goes, however slow this test.
    later = timezone.now() + timedelta(minutes=10)
    Job.objects.filter(pk=job.pk).update(created_at=later, finished_at=later)
    client.force_login(researcher)
    base = f"/workspaces/{job.workspace.slug}/jobs/{job.pk}"
    stored = client.get(f"{base}/outputs/{output.pk}/")
    made_up = client.get(f"{base}/outputs/{output.pk + 1000}/")
    assert stored.status_code == made_up.status_code == 404
    assert client.get(f"{base}/release/").status_code == 404
