"""The whole journey: dry run, real run, release request, two checkers approve, download."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = """import tre_sdk
admissions = tre_sdk.load_dataset("admissions")
table = tre_sdk.crosstab(admissions, "ward")
tre_sdk.save_table("by_ward", tre_sdk.suppress_small_cells(table), description="per ward")
"""


def run_job(page, mode_button):
    page.goto("/workspaces/cardiac/jobs/new/")
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)",
                  SCRIPT)  # fmt: skip
    page.get_by_label("admissions v1").check()
    page.get_by_role("button", name=mode_button).click()
    expect(page.get_by_test_id("job-status")).to_have_text("Finished", timeout=60_000)


def review(page, sign_in, username, url):
    page.get_by_role("button", name="Sign out").click()
    sign_in(username)
    page.goto(url)
    vote = page.get_by_test_id("vote-by_ward")
    vote.get_by_label("Approve").check()
    vote.get_by_role("button", name="Save vote").click()
    page.get_by_role("button", name="Submit my review").click()


def test_dry_run_real_run_release_two_approvals_download(
    page, sign_in, ready_version, researcher, checker, celery_worker_process
):
    second_checker = UserFactory(username="kai")
    MembershipFactory(workspace=ready_version.dataset.workspace, user=second_checker,
                      roles=["output_checker"])  # fmt: skip
    sign_in("rae")
    run_job(page, "Dry run on the synthetic samples")
    expect(page.get_by_test_id("output-by_ward").locator("table")).to_be_visible()

    run_job(page, "Run on the real data")
    expect(page.get_by_test_id("output-by_ward").get_by_test_id("verdict")).to_be_visible()
    page.get_by_role("link", name="Request release").click()
    form = page.get_by_test_id("release-form")
    form.get_by_label("What is this release for?").fill("Table 1 of the readmissions paper")
    choice = form.get_by_test_id("choose-by_ward")
    choice.get_by_role("checkbox").check()
    # Said here, outside the sandbox: the description the script wrote is for checkers.
    choice.get_by_label("What it is").fill("Admissions per ward")
    choice.get_by_label("Why it is needed").fill("Table 1")
    form.get_by_role("button", name="Create the request").click()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_test_id("release-status")).to_have_text("Submitted")
    request_url = page.url

    review(page, sign_in, "chen", request_url)
    expect(page.get_by_test_id("release-status")).to_have_text("Partially reviewed")
    review(page, sign_in, "kai", request_url)
    expect(page.get_by_test_id("release-status")).to_have_text("Approved")
    # Once both are in, each sees the other's vote.
    expect(page.get_by_test_id("votes-by_ward")).to_contain_text("chen")
    page.get_by_role("button", name="Release the outputs").click()
    expect(page.get_by_test_id("release-status")).to_have_text("Released")

    page.get_by_role("button", name="Sign out").click()
    sign_in("rae")
    page.goto(request_url)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download", exact=True).click()
    assert download.value.suggested_filename == "by_ward.csv"
    expect(page.get_by_text(re.compile("SHA-256 [0-9a-f]{64}"))).to_be_visible()
