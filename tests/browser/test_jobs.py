"""A researcher writes a script, dry-runs it on a real worker, and sees its table."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = """import tre_sdk

admissions = tre_sdk.load_dataset("admissions")
by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
tre_sdk.save_table("by_ward", by_ward, kind="frequency", description="Admissions per ward")
print("wards:", len(by_ward))
"""


def test_write_a_script_dry_run_it_and_see_its_table(
    page, sign_in, ready_version, researcher, celery_worker_process
):
    sign_in("rae")
    page.get_by_role("link", name="Cardiac study").click()
    page.get_by_role("link", name="New job").click()

    editor = page.locator(".CodeMirror")
    expect(editor).to_be_visible()  # the highlighting editor took over the textarea
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)",
                  SCRIPT)  # fmt: skip
    expect(page.locator(".cm-keyword").first).to_be_visible()
    page.get_by_label("admissions v1").check()
    page.get_by_role("button", name="Dry run on the synthetic samples").click()

    expect(page.get_by_test_id("job-status")).to_have_text("Finished", timeout=60_000)
    table = page.get_by_test_id("output-by_ward")
    expect(table).to_contain_text("frequency")
    expect(table.locator("th").first).to_have_text("ward")
    expect(table.locator("tbody tr").first).to_be_visible()
    expect(page.get_by_test_id("job-log")).to_contain_text("wards:")


def test_a_dry_runs_result_appears_without_the_one_second_poll(
    page, sign_in, ready_version, researcher, celery_worker_process
):
    """The page holds one request open and the answer comes when the job changes
    (jobs/live.py); nothing asks every second."""
    asked = []
    page.on("request", lambda request: "/status/" in request.url and asked.append(request.url))
    sign_in("rae")
    page.goto("/workspaces/cardiac/jobs/new/")
    page.evaluate("code => document.querySelector('.CodeMirror').CodeMirror.setValue(code)",
                  SCRIPT)  # fmt: skip
    page.get_by_label("admissions v1").check()
    page.get_by_role("button", name="Dry run on the synthetic samples").click()
    page.wait_for_url("**/jobs/*/")

    expect(page.get_by_test_id("job-status")).to_have_text("Finished", timeout=60_000)
    expect(page.get_by_test_id("output-by_ward").locator("tbody tr").first).to_be_visible()
    assert "every 1s" not in page.content()
    assert asked, "the page never asked for the job's state"
    assert all("/status/wait/?shown=" in url for url in asked), asked
    # Ended: the fragment asks no more.
    expect(page.get_by_test_id("job-live")).not_to_have_attribute("hx-get", re.compile("."))
