"""Job pages: an output's file is served by its content, never rendered as a page."""

import csv
import io

import pytest
from django.utils import timezone

from tests import hostile_files
from tests.factories import finished_real_job, job_output
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def url_of(output):
    return f"/workspaces/{output.job.workspace.slug}/jobs/{output.job_id}/outputs/{output.pk}/"


def assert_served_inert(response, content_type, disposition="attachment"):
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].startswith(disposition + ";")
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.fixture
def real_job(ready_version, researcher):
    job = finished_real_job(ready_version, researcher)
    return job


@pytest.mark.parametrize(
    ("name", "type", "filename", "content"),
    hostile_files.outputs(),
    ids=[name for name, *_ in hostile_files.outputs()],
)
def test_a_dry_runs_hostile_output_is_an_attachment_in_a_sandbox(
    client, finished_job, researcher, name, type, filename, content
):
    output = job_output(finished_job, name, content, type=type, filename=filename)
    client.force_login(researcher)
    content_type = hostile_files.SERVED_AS[filename]
    # The job page's <img> asks for no download: inline then, if it is a real PNG.
    shown = client.get(url_of(output))
    assert_served_inert(
        shown, content_type, "inline" if content_type == "image/png" else "attachment"
    )
    assert b"".join(shown.streaming_content) == content  # unchanged, just inert
    assert_served_inert(client.get(url_of(output) + "?download=1"), content_type)


def test_a_figure_shows_inline_only_for_the_job_pages_img(client, finished_job, researcher):
    output = job_output(
        finished_job, "figure", hostile_files.png(), type="figure", filename="figure.png"
    )
    client.force_login(researcher)
    shown = client.get(url_of(output))
    assert shown["Content-Disposition"] == 'inline; filename="figure.png"'
    assert shown["X-Checksum-SHA256"] == output.sha256
    downloaded = client.get(url_of(output) + "?download=1")
    assert downloaded["Content-Disposition"] == 'attachment; filename="figure.png"'
    assert "sandbox" in downloaded["Content-Security-Policy"]


def test_a_released_figure_of_a_real_run_is_always_an_attachment(client, real_job, researcher):
    output = job_output(
        real_job, "figure", hostile_files.png(), type="figure", filename="figure.png",
        released_at=timezone.now(),  # released: the airlock's steps are tested in test_airlock
    )  # fmt: skip
    client.force_login(researcher)
    response = client.get(url_of(output))
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="figure.png"'


def test_a_released_table_downloads_as_it_is_or_made_safe_for_spreadsheets(
    client, real_job, researcher
):
    content = b'ward,n,diff\n"=HYPERLINK(""http://evil.example/"")",12,-3.5\n@cmd,15,+4\n'
    output = job_output(real_job, "by_ward", content, released_at=timezone.now())
    client.force_login(researcher)

    as_it_is = client.get(url_of(output))
    assert b"".join(as_it_is.streaming_content) == content
    assert as_it_is["X-Checksum-SHA256"] == output.sha256

    inert = client.get(url_of(output) + "?inert=1")
    assert inert["Content-Type"] == "text/csv; charset=utf-8"
    assert inert["Content-Disposition"] == 'attachment; filename="by_ward.csv"'
    assert "X-Checksum-SHA256" not in inert  # not the stored bytes
    assert "sandbox" in inert["Content-Security-Policy"]
    rows = list(csv.reader(io.StringIO(b"".join(inert.streaming_content).decode())))
    assert rows == [
        ["ward", "n", "diff"],
        ['\'=HYPERLINK("http://evil.example/")', "12", "-3.5"],
        ["'@cmd", "15", "+4"],
    ]
    event = AuditEvent.objects.filter(action="release.downloaded").latest("pk")
    assert event.details["inert"] is True


def test_the_released_request_page_offers_the_spreadsheet_download_of_tables(
    client, real_job, researcher
):
    from jobs import airlock
    from jobs.models import ReleaseRequest

    output = job_output(real_job, "by_ward")
    release = airlock.create_request(
        job=real_job, description="t", items=[(output, "counts", "paper")], by=researcher
    )
    ReleaseRequest.objects.filter(pk=release.pk).update(status=ReleaseRequest.Status.RELEASED)
    client.force_login(researcher)
    content = client.get(release.get_absolute_url()).content.decode()
    assert f'{url_of(output)}?inert=1">Download for spreadsheets</a>' in content
