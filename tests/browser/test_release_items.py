"""A checker opens every kind of hostile release item: no script of any item ever runs.

The incident this guards against: a real run's `chart.html`, declared a figure, was
served inline as HTML; opened by two checkers, its script cast their approvals and
released the request. Each payload here would log, set the title, alert, call a beacon
on the live server and approve every item, if a browser ever ran it.
"""

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from jobs import airlock
from jobs.models import ReleaseRequest, Review, Vote
from tests import hostile_files
from tests.factories import finished_real_job, job_output

pytestmark = pytest.mark.django_db(transaction=True)

BEACON = "/beacon/"
ACTIVE_SUFFIXES = (".html", ".htm", ".svg", ".js", ".xml")


@pytest.fixture
def hostile_request(ready_version, researcher, checker):
    """A submitted request of every kind of hostile output, with hostile supporting files,
    made through the services (no sandbox run: what is under test is the serving)."""
    job = finished_real_job(ready_version, researcher)
    outputs = [
        job_output(job, name, content, type=type, filename=filename)
        for name, type, filename, content in hostile_files.outputs(BEACON)
    ]
    release = airlock.create_request(
        job=job, description="x", items=[(output, "a", "b") for output in outputs], by=researcher
    )
    for name, content in hostile_files.supporting_files(BEACON):
        airlock.add_supporting_file(request=release, name=name, content=content, by=researcher)
    return airlock.submit_request(request=release, by=researcher)


class Witness:
    """Everything a payload that ran would leave behind, on every page of the context."""

    def __init__(self, context):
        self.dialogs, self.console, self.beacons = [], [], []
        context.on("page", self.watch)
        context.on("request", self.on_request)
        for page in context.pages:
            self.watch(page)

    def watch(self, page):
        page.on("dialog", self.on_dialog)
        page.on("console", lambda message: self.console.append(message.text))

    def on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(self, request):
        if BEACON in request.url or request.method == "POST":
            self.beacons.append(f"{request.method} {request.url}")

    def ran(self) -> bool:
        marked = [text for text in self.console if hostile_files.PAYLOAD_MARK in text]
        return bool(self.dialogs or marked or self.beacons)


def open_as_download(page, url) -> str:
    """Navigate to `url`, which must become a download; its suggested name."""
    with (
        page.expect_download() as download,
        # Playwright reports a navigation that became a download as a failed navigation.
        pytest.raises(PlaywrightError, match="Download is starting"),
    ):
        page.goto(url)
    return download.value.suggested_filename


def state_of(release):
    release.refresh_from_db()
    return (
        release.status,
        Vote.objects.filter(review__request=release).count(),
        Review.objects.filter(request=release, submitted_at__isnull=False).count(),
    )


def test_no_script_of_any_release_item_ever_runs(page, sign_in, hostile_request, checker):
    before = state_of(hostile_request)
    assert before == (ReleaseRequest.Status.SUBMITTED, 0, 0)
    sign_in("chen")
    witness = Witness(page.context)
    release_url = hostile_request.get_absolute_url()

    # The review page: every preview and every figure's <img>.
    page.goto(release_url)
    expect(page.get_by_test_id("release-status")).to_have_text("Submitted")
    page.wait_for_load_state("networkidle")

    # Every item's URL, navigated to directly, and its download.
    downloads = []
    for item in hostile_request.items.select_related("output"):
        url = f"{release_url}items/{item.pk}/"
        if hostile_files.SERVED_AS[item.output.filename] == "image/png":
            response = page.goto(url)  # a real PNG shows as an image, nothing more
            assert response.headers["content-type"] == "image/png"
            assert "sandbox" in response.headers["content-security-policy"]
        else:
            downloads.append(open_as_download(page, url))
        downloads.append(open_as_download(page, url + "?download=1"))

    # Every supporting file's URL, navigated to directly.
    for supporting in hostile_request.supporting_files.all():
        downloads.append(open_as_download(page, f"{release_url}supporting/{supporting.pk}/"))

    # Every link of the review page to a file: each a download.
    page.goto(release_url)
    links = page.get_by_test_id("item-file").all()
    links += page.get_by_test_id("supporting-files").get_by_role("link").all()
    assert len(links) == hostile_request.items.count() + hostile_request.supporting_files.count()
    for link in links:
        with page.expect_download() as download:
            link.click()
        downloads.append(download.value.suggested_filename)

    page.wait_for_timeout(1000)  # time for anything that did start to show itself
    assert not witness.ran(), (witness.dialogs, witness.console, witness.beacons)
    assert page.title() != hostile_files.PAYLOAD_MARK
    assert not [name for name in downloads if name.lower().endswith(ACTIVE_SUFFIXES)], downloads
    assert state_of(hostile_request) == before

    # A second wall: had the payload made it into a portal page as an inline script, the
    # Content-Security-Policy would not have run it.
    with pytest.raises(PlaywrightError, match="Content Security Policy"):
        page.add_script_tag(content=hostile_files.script(BEACON))
    assert not witness.ran()

    # The control: the same payload, run in the portal's own page through DevTools (which
    # no CSP governs), is caught by the witness and does cast the votes. So the checks
    # above are not vacuous.
    # Waited for to its last request: a vote still in flight when the test ends would
    # race the teardown's flush of the database (a deadlock, seen in CI).
    with page.expect_response(lambda response: response.url.endswith("/submit_review/")):
        page.evaluate(f"() => {{ {hostile_files.script(BEACON)} }}")
    expect(page).to_have_title(hostile_files.PAYLOAD_MARK)
    assert witness.dialogs == [hostile_files.PAYLOAD_MARK]
    assert witness.ran()
    assert state_of(hostile_request)[1] > 0
