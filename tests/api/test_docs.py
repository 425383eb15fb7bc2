"""The docs page and the schema: portal pages, behind the portal's sign-in, and the docs
page works under the portal's Content-Security-Policy (no CDN, no inline script)."""

import os
import threading
from pathlib import Path

import pytest

DOCS = "/api/v1/docs"
SCHEMA = "/api/v1/openapi.json"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [DOCS, SCHEMA])
def test_the_docs_and_the_schema_want_a_portal_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_token_does_not_open_the_docs(researcher):
    from tests.api.conftest import ApiClient, make_token

    response = ApiClient(make_token(researcher)).get(SCHEMA)
    assert response.status_code == 302  # a token is for the API's routes, not its pages


@pytest.mark.django_db
def test_the_schema_lists_every_route_with_bearer_auth(client, researcher):
    client.force_login(researcher)
    schema = client.get(SCHEMA).json()
    assert set(schema["paths"]) == {
        "/api/v1/me",
        "/api/v1/workspaces",
        "/api/v1/workspaces/{slug}/datasets",
        "/api/v1/workspaces/{slug}/datasets/{name}/sample.csv",
        "/api/v1/workspaces/{slug}/jobs",
        "/api/v1/workspaces/{slug}/jobs/{job_id}",
        "/api/v1/workspaces/{slug}/jobs/{job_id}/wait",
        "/api/v1/workspaces/{slug}/jobs/{job_id}/outputs/{output_id}",
        "/api/v1/workspaces/{slug}/jobs/{job_id}/release",
        "/api/v1/workspaces/{slug}/releases/{release_id}",
        "/api/v1/workspaces/{slug}/datasets/{name}/privacy",
        "/api/v1/workspaces/{slug}/datasets/{name}/privacy/accuracy",
        "/api/v1/workspaces/{slug}/datasets/{name}/privacy/questions",
        "/api/v1/workspaces/{slug}/questions/{question_id}",
        "/api/v1/workspaces/{slug}/questions/{question_id}/wait",
    }
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    for operations in schema["paths"].values():
        for operation in operations.values():
            assert operation["security"] == [{"TokenAuth": []}]


@pytest.mark.django_db
def test_the_docs_page_loads_its_own_static_files_under_the_portals_policy(client, researcher):
    client.force_login(researcher)
    response = client.get(DOCS)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    page = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "<script>" not in page  # its only inline script is a JSON block


def in_chromium(visit):
    """Run `visit(browser)` in Debian's Chromium, in a thread of its own: Playwright's
    sync API refuses a thread whose event loop is taken (tests/browser's session browser
    holds this one's when both run), and a fresh thread has none."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    failures = []

    def run():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    visit(browser)
                finally:
                    browser.close()
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "Chromium did not finish within 2 minutes"
    if failures:
        raise failures[0]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_in_chromium_with_no_policy_violation(live_server, researcher):
    from django.conf import settings

    from tests.api.conftest import make_token
    from tests.auth import SignedInClient

    signed_in = SignedInClient()
    signed_in.force_login(researcher)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    token = make_token(researcher, "read")

    def visit(browser):
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        page = context.new_page()
        page.add_init_script(
            "window.violations = [];"
            "document.addEventListener('securitypolicyviolation', event =>"
            " window.violations.push(event.violatedDirective + ' ' + event.blockedURI));"
        )
        page.goto(DOCS)
        page.wait_for_selector(".opblock-summary-path")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/workspaces/{slug}/jobs/{job_id}/wait" in path for path in paths)
        # Try one route from the page, with a token: the page's own fetch passes too.
        page.locator(".auth-wrapper .authorize").click()
        page.locator(".auth-container input").fill(token)
        page.locator(".auth-btn-wrapper .authorize").click()
        page.locator(".btn-done").click()
        page.locator("#operations-workspaces-api_routes_workspaces_me").click()
        page.locator(".try-out__btn").click()
        page.locator(".execute").click()
        status = page.locator(".live-responses-table .response .response-col_status")
        assert status.inner_text().strip() == "200"
        assert '"username": "rae"' in page.locator(".live-responses-table").inner_text()
        assert page.evaluate("window.violations") == []
        context.close()

    in_chromium(visit)
