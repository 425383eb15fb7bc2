"""A steward uploads a CSV; a real worker builds the sample; a researcher browses it."""

import pytest
from playwright.sync_api import expect

from tests.factories import admissions_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_steward_uploads_and_researcher_browses_the_synthetic_sample(
    page, sign_in, workspace, checker, researcher, celery_worker_process, tmp_path
):
    csv_path = tmp_path / "admissions.csv"
    csv_path.write_text(admissions_csv(300))
    real_emails = [line.split(",")[2] for line in csv_path.read_text().splitlines()[1:]]

    sign_in("chen")
    page.get_by_role("link", name="Cardiac study").click()
    page.get_by_role("link", name="Upload a dataset").click()
    form = page.get_by_test_id("dataset-upload")
    form.get_by_label("CSV or Parquet file").set_input_files(str(csv_path))
    form.get_by_label("Name").fill("admissions")
    form.get_by_label("Classification").select_option("restricted")
    form.get_by_role("button", name="Upload and scan").click()

    decisions = page.get_by_test_id("decisions")
    expect(decisions.locator("tr[data-column=email]")).to_contain_text("email")
    expect(decisions.get_by_label("Action for email")).to_have_value("drop")
    expect(decisions.get_by_label("Action for nhs_number")).to_have_value("pseudonymise")
    expect(decisions.get_by_label("Action for age")).to_have_value("keep")
    decisions.get_by_role("button", name="Apply and build the synthetic sample").click()
    # htmx polls the worker's progress until the sample is ready.
    expect(page.get_by_role("link", name="Browse the synthetic sample")).to_be_visible(
        timeout=60_000
    )
    page.get_by_role("button", name="Sign out").click()

    sign_in("rae")
    page.get_by_role("link", name="Cardiac study").click()
    page.get_by_role("link", name="admissions").click()
    expect(page.get_by_test_id("schema")).to_contain_text("length_of_stay")
    expect(page.get_by_test_id("schema")).not_to_contain_text("patient_name")
    page.get_by_role("link", name="The synthetic sample and its fidelity report").click()
    expect(page.get_by_test_id("report")).to_contain_text("Exact copies of real rows")
    page.get_by_role("link", name="Browse the synthetic sample").click()

    table = page.get_by_test_id("sample-table")
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(page.get_by_test_id("summary-age")).to_be_visible()
    table.get_by_role("link", name="age").click()
    expect(table.get_by_role("link", name="age ▲")).to_be_visible()
    page.get_by_role("link", name="Next →").click()
    expect(page.get_by_text("Page 2 of")).to_be_visible()
    content = page.content()
    assert not [email for email in real_emails if email in content]
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "admissions-v1-synthetic.csv"
