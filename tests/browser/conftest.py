"""Playwright driving Debian's Chromium against pytest-django's live server."""

import os
from pathlib import Path

import pytest

from tests.conftest import use_data_dir

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# Playwright's sync API runs an event loop in this thread; the tests' own ORM calls
# are plain synchronous code that Django would otherwise refuse to run beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "page" in item.funcargs:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{item.name}.png"
        item.funcargs["page"].screenshot(path=str(path), full_page=True)
        report.sections.append(("screenshot", str(path)))
    return report


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(page):
    """Signs in as a person does: password, then the code their authenticator app shows
    (computed with pyotp from the secret enrolled for them)."""
    from django.contrib.auth import get_user_model

    from accounts.security import has_enrolled
    from tests.auth import enrol_totp, fresh_code
    from tests.factories import PASSWORD

    def sign_in_as(username, password=PASSWORD):
        user = get_user_model().objects.get(username=username)
        if not has_enrolled(user):
            enrol_totp(user)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_placeholder("Code").fill(fresh_code(user))
        page.get_by_role("button", name="Sign In", exact=True).click()
        page.wait_for_url("**/workspaces/")

    return sign_in_as


@pytest.fixture(autouse=True)
def private_storage(settings, worker_data_dir):
    """The live server, this test and the worker process share storage and master key."""
    from tre import vault

    yield use_data_dir(settings, worker_data_dir)
    vault.master_key.cache_clear()
    vault.audit_key.cache_clear()
