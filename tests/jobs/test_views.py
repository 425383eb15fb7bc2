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


# --- the job editor: scripts too large, or that Python cannot read ---------------------

NEW_JOB = "/workspaces/cardiac/jobs/new/"


def post_job(client, version, script="", **fields):
    """Post the job form as a browser does: its CSRF token, the textarea's line ends as
    CRLF, multipart (the form can carry a file)."""
    token = client.get(NEW_JOB).cookies["csrftoken"].value
    data = {
        "csrfmiddlewaretoken": token,
        "title": "",
        "script": script.replace("\n", "\r\n"),
        "dataset_versions": [version.pk],
        "run_dry": "1",
        **fields,
    }
    return client.post(NEW_JOB, data)


@pytest.fixture
def editor(researcher):
    from tests.auth import SignedInClient

    client = SignedInClient(enforce_csrf_checks=True)
    client.force_login(researcher)
    return client


def script_errors(response) -> list[str]:
    return response.context["form"].errors.get("script", [])


def test_a_script_far_over_the_limit_gets_the_form_back_not_a_bare_400(editor, ready_version):
    from jobs.models import Job

    script = "x = 1\n" * (5 * 1024**2 // 6)  # 5 MB: more than Django reads of a field
    response = post_job(editor, ready_version, script)
    assert response.status_code == 413
    assert b'data-testid="job-form"' in response.content
    # All of it read, so gunicorn does not reset the connection on a browser still sending.
    assert len(response.wsgi_request.environ["wsgi.input"]) == 0
    assert script_errors(response) == [
        "The script is too large; a script may be at most 1,048,576 bytes (1 MiB, "
        "TRE_MAX_SCRIPT_BYTES). It was not kept: shorten it and paste it again."
    ]
    assert not Job.objects.exists()


def test_a_script_at_the_limit_runs_though_the_browser_sends_more(editor, ready_version, settings):
    """Blank lines are the worst case: CRLF doubles them on the way. Django must still
    read the field, and the limit counts the script as written."""
    from jobs.models import Job

    limit = settings.TRE_MAX_SCRIPT_BYTES
    script = "x = 1\n" + "\n" * (limit - 12) + "y = 2\n"
    assert len(script.encode()) == limit
    response = post_job(editor, ready_version, script)
    assert response.status_code == 302, script_errors(response)
    assert len(Job.objects.get().script.encode()) == limit - 1  # the form strips the last \n


def test_a_script_just_over_the_limit_is_refused_with_its_text_kept(editor, ready_version):
    from jobs.models import Job

    script = "x = 1\n" * (1024**2 // 6 + 1)  # 1,048,578 bytes, and the form strips a "\n"
    response = post_job(editor, ready_version, script)
    assert response.status_code == 400
    assert script_errors(response) == [
        "The script is 1,048,577 bytes; a script may be at most 1,048,576 bytes "
        "(1 MiB, TRE_MAX_SCRIPT_BYTES)."
    ]
    assert response.context["form"]["script"].value().startswith("x = 1")
    assert not Job.objects.exists()


def test_an_uploaded_script_over_the_limit_is_refused_and_not_kept(
    editor, ready_version, monkeypatch
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs import uploads

    kept = []
    real_complete = uploads.ScriptUploadHandler.file_complete

    def spy(self, file_size):
        upload = real_complete(self, file_size)
        kept.append(len(upload.read()))
        upload.seek(0)
        return upload

    monkeypatch.setattr(uploads.ScriptUploadHandler, "file_complete", spy)
    big = SimpleUploadedFile("analysis.py", b"x = 1\n" * (2 * 1024**2 // 6))
    response = post_job(editor, ready_version, script_file=big)
    assert response.status_code == 400
    [error] = response.context["form"].errors["script_file"]
    assert error.startswith("The script is 2,097,150 bytes; a script may be at most")
    assert kept == [0]  # not in memory, and (no other handler) not on disk either


@pytest.mark.parametrize("sent_as", ["typed", "uploaded"])
def test_a_nul_byte_is_named_with_its_line(editor, ready_version, sent_as):
    from django.core.files.uploadedfile import SimpleUploadedFile

    script = "x = 1\ny = 2\nz = '\0'\n"
    if sent_as == "typed":
        response = post_job(editor, ready_version, script)
    else:
        upload = SimpleUploadedFile("analysis.py", script.encode())
        response = post_job(editor, ready_version, script_file=upload)
    assert response.status_code == 400
    assert script_errors(response) == [
        "The script contains a NUL byte (at line 3); Python can't run it."
    ]
    assert b"Line None" not in response.content


def test_the_editor_still_refuses_a_post_without_its_csrf_token(editor, ready_version):
    from jobs.models import Job

    response = editor.post(
        NEW_JOB, {"script": "x = 1", "dataset_versions": [ready_version.pk], "run_dry": "1"}
    )
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_a_workspaces_only_dataset_comes_ticked_on_the_new_job_form(
    client, researcher, ready_version
):
    # Issue 15: with one dataset, the form used to say "This field is required".
    client.force_login(researcher)
    page = client.get(f"/workspaces/{ready_version.dataset.workspace.slug}/jobs/new/")

    checkbox = next(
        line for line in page.content.decode().splitlines() if 'name="dataset_versions"' in line
    )
    assert f'value="{ready_version.pk}"' in checkbox
    assert "checked" in checkbox


def test_the_job_page_offers_a_real_runs_released_outputs_and_no_other(
    client, real_job, researcher
):
    released = job_output(real_job, "by_ward", released_at=timezone.now())
    waiting = job_output(real_job, "by_age")
    client.force_login(researcher)

    page = client.get(real_job.get_absolute_url()).content.decode()

    assert f'href="{url_of(released)}">Download</a>' in page
    assert f'href="{url_of(released)}?inert=1">Download for spreadsheets</a>' in page
    assert url_of(waiting) not in page
    assert client.get(url_of(waiting)).status_code == 403


# --- following a job: the page waits for a change instead of polling every second ------


def running_job(version, by, mode="dry_run", **fields):
    from jobs.models import Job

    job = Job.objects.create(
        workspace=version.dataset.workspace, submitted_by=by, mode=mode, script="x = 1",
        status=Job.Status.RUNNING, started_at=timezone.now(), **fields,
    )  # fmt: skip
    job.dataset_versions.set([version])
    return job


def status_url(job, wait=False, shown=None):
    url = f"/workspaces/{job.workspace.slug}/jobs/{job.pk}/status/" + ("wait/" if wait else "")
    return url if shown is None else f"{url}?shown={shown}"


def shown_in(response) -> str:
    """The fingerprint the fragment will ask with (that the page shows this)."""
    import re

    return re.search(rb'status/wait/\?shown=([0-9a-f]+)"', response.content)[1].decode()


def without_csrf(response) -> bytes:
    import re

    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)


class ChangeOnFirstCheck:
    """Stands in for jobs.live's `time`: runs `change` at the first pause between two
    checks (as a worker would write the job then), and counts the pauses."""

    def __init__(self, change):
        import time

        self.change, self.pauses, self.monotonic = change, 0, time.monotonic
        self._sleep = time.sleep

    def sleep(self, seconds):
        self.pauses += 1
        if self.pauses == 1:
            self.change()
        self._sleep(seconds)


def test_the_job_page_waits_for_a_change_and_no_longer_polls_every_second(
    client, ready_version, researcher
):
    job = running_job(ready_version, researcher)
    client.force_login(researcher)
    page = client.get(job.get_absolute_url())
    content = page.content.decode()
    assert "every 1s" not in content
    assert f'hx-get="{status_url(job, wait=True, shown=shown_in(page))}"' in content
    assert 'hx-trigger="load, every 10s" hx-sync="this:drop"' in content


def test_the_wait_answers_at_once_what_the_status_view_answers_when_the_page_is_behind(
    client, ready_version, researcher
):
    job = running_job(ready_version, researcher)
    client.force_login(researcher)
    for shown in (None, "0123456789abcdef"):  # none yet, or a fragment of another state
        waited = client.get(status_url(job, wait=True, shown=shown))
        assert waited.status_code == 200
        assert without_csrf(waited) == without_csrf(client.get(status_url(job)))


def test_the_wait_answers_the_moment_a_dry_run_ends(client, ready_version, researcher, monkeypatch):
    from jobs import live
    from jobs.models import Job

    job = running_job(ready_version, researcher)
    client.force_login(researcher)
    shown = shown_in(client.get(status_url(job)))

    def the_worker_stores_its_result():
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FINISHED, finished_at=timezone.now(), exit_code=0, log="rows: 60"
        )

    clock = ChangeOnFirstCheck(the_worker_stores_its_result)
    monkeypatch.setattr(live, "time", clock)
    waited = client.get(status_url(job, wait=True, shown=shown))
    assert clock.pauses == 1  # noticed at the next check
    assert b'data-testid="job-status">Finished<' in waited.content
    assert b"rows: 60" in waited.content  # the job loaded in full again: its log too
    assert b"hx-get" not in waited.content  # ended: the page stops asking


def test_the_wait_ends_after_its_time_with_the_same_fragment(
    client, ready_version, researcher, monkeypatch
):
    import time

    from jobs import live

    monkeypatch.setattr(live, "WAIT_SECONDS", 0.3)
    job = running_job(ready_version, researcher)
    client.force_login(researcher)
    shown = shown_in(client.get(status_url(job)))
    started = time.monotonic()
    waited = client.get(status_url(job, wait=True, shown=shown))
    assert 0.3 <= time.monotonic() - started < 2
    assert shown_in(waited) == shown  # and the page asks again with it
    assert without_csrf(waited) == without_csrf(client.get(status_url(job)))


def test_a_real_runs_wait_ignores_its_end_until_the_poll_would_show_it(
    client, ready_version, researcher, monkeypatch
):
    """The run ends in the database during the wait; the status view shows "in progress"
    until the reveal moment (5 s after submission here), and so does the wait."""
    import time
    from datetime import timedelta

    from jobs import live
    from jobs.models import Job

    monkeypatch.setattr(live, "WAIT_SECONDS", 0.5)
    job = running_job(ready_version, researcher, mode="real")
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=3))
    client.force_login(researcher)
    polled = client.get(status_url(job))
    shown = shown_in(polled)

    def the_run_fails():
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, finished_at=timezone.now(), exit_code=1,
            failure_type="KeyError", failure_line=1, wall_seconds=2.9, status_reason="boom",
        )  # fmt: skip

    clock = ChangeOnFirstCheck(the_run_fails)
    monkeypatch.setattr(live, "time", clock)
    started = time.monotonic()
    waited = client.get(status_url(job, wait=True, shown=shown))
    assert time.monotonic() - started >= 0.5  # not a moment earlier than its time
    assert clock.pauses >= 3
    assert without_csrf(waited) == without_csrf(polled)  # "in progress", nothing more
    assert b"In progress" in waited.content
    for told in (b"KeyError", b"boom", b"Failed", b"Runtime"):
        assert told not in waited.content


def test_a_real_runs_wait_shows_its_end_at_the_reveal_moment_as_the_poll_does(
    client, ready_version, researcher
):
    """The run ended 0.1 s after submission, and is shown as ended 1 s after submission:
    the wait ends then, not before, with what the status view shows from then on."""
    from datetime import timedelta

    from jobs import channels
    from jobs.models import Job

    submitted = timezone.now() - timedelta(seconds=0.4)
    job = running_job(ready_version, researcher, mode="real")
    Job.objects.filter(pk=job.pk).update(
        created_at=submitted, status=Job.Status.FINISHED,
        finished_at=submitted + timedelta(seconds=0.1), wall_seconds=0.05, exit_code=0,
    )  # fmt: skip
    reveal = channels.reveal_moment(submitted, submitted + timedelta(seconds=0.1))
    assert reveal == submitted + timedelta(seconds=1)
    client.force_login(researcher)
    polled = client.get(status_url(job))
    assert timezone.now() < reveal
    assert b"In progress" in polled.content
    assert b"Finished" not in polled.content

    waited = client.get(status_url(job, wait=True, shown=shown_in(polled)))
    answered = timezone.now()
    assert answered >= reveal
    assert answered < reveal + timedelta(seconds=1)
    assert b'data-testid="job-status">Finished<' in waited.content
    assert b"under 1 s" in waited.content  # the coarse step, as channels.job_view says
    polled_after = client.get(status_url(job))
    assert without_csrf(waited) == without_csrf(polled_after)


@pytest.mark.parametrize(
    ("who", "expected"), [("researcher", 200), ("checker", 200), ("owner", 403), ("outsider", 404)]
)
def test_the_wait_is_for_whoever_may_see_the_job_as_the_status_view_is(
    request, client, ready_version, researcher, who, expected
):
    job = running_job(ready_version, researcher)
    client.force_login(request.getfixturevalue(who))
    assert client.get(status_url(job, wait=True)).status_code == expected
    assert client.get(status_url(job)).status_code == expected


def test_the_wait_sends_anonymous_visitors_to_sign_in(client, ready_version, researcher):
    job = running_job(ready_version, researcher)
    response = client.get(status_url(job, wait=True))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
