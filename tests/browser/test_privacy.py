"""A researcher asks a question with differential privacy in the portal: sees the
accuracy and the budget before spending, spends, sees the answer and what is left."""

import re

import pytest
from playwright.sync_api import expect

from privacy.models import PrivateQuestion


@pytest.fixture
def privacy_url(ready_version, privacy_budget):
    version = ready_version
    return (
        f"/workspaces/{version.dataset.workspace.slug}/datasets/{version.dataset_id}"
        f"/v{version.number}/privacy/"
    )


def test_ask_see_accuracy_spend_see_answer_and_budget_left(
    page, sign_in, researcher, privacy_url, celery_worker_process
):
    sign_in(researcher.username)
    page.goto(privacy_url)
    expect(page.get_by_test_id("budget-left")).to_have_text("ε 1")

    page.get_by_label("Statistic").select_option("count")
    page.get_by_label("By", exact=True).select_option("ward")
    page.get_by_label("ε").fill("0.5")
    page.get_by_label("ε").press("Tab")
    statement = page.get_by_test_id("accuracy-statement")
    expect(statement).to_contain_text("95")
    expect(page.get_by_test_id("accuracy")).to_contain_text("ε 1 is left")

    # Asking for more than is left: warned before, refused after, nothing spent.
    page.get_by_label("ε").fill("2")
    page.get_by_label("ε").press("Tab")
    expect(page.get_by_test_id("would-overspend")).to_be_visible()
    page.get_by_role("button", name="Spend and answer").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was spent")
    assert not PrivateQuestion.objects.exists()

    page.get_by_label("By", exact=True).select_option("ward")
    page.get_by_label("ε").fill("0.5")
    page.get_by_role("button", name="Spend and answer").click()
    page.wait_for_url(re.compile(r"/questions/\d+/$"))
    expect(page.get_by_test_id("question-status")).to_have_text("Answered", timeout=30_000)
    expect(page.get_by_test_id("dp-released")).to_be_visible()
    rows = page.get_by_test_id("answer").locator("tbody tr")
    expect(rows).to_have_count(6)  # five declared wards and "(other)"
    expect(rows.first).to_contain_text("cardiology")
    expect(page.get_by_test_id("answer-accuracy")).to_contain_text("95")

    page.goto(privacy_url)
    expect(page.get_by_test_id("budget-left")).to_have_text("ε 0.5")
    expect(page.get_by_test_id("spends")).to_contain_text("count by ward")
    expect(page.get_by_test_id("spends")).to_contain_text(researcher.username)
