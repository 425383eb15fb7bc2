"""Signing in, in Chromium: enrolment, TOTP, a security key, recovery codes, the lockout,
the idle limit, and pages that keep to the Content-Security-Policy."""

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.auth import recovery_codes_of
from tests.factories import PASSWORD, UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def password_step(page, username, password=PASSWORD):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_first_sign_in_enrols_an_authenticator_app_then_signs_in_with_it(page, workspace):
    user = UserFactory(username="nia")
    password_step(page, "nia")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    page.goto("/workspaces/")  # nothing else opens
    expect(page).to_have_url(re.compile(r"/accounts/second-factor/"))

    page.get_by_test_id("enrol-totp").click()
    secret = page.locator("#authenticator_secret").input_value()
    app = pyotp.TOTP(secret)
    page.get_by_placeholder("Code").fill(app.now())
    page.get_by_role("button", name="Activate").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    expect(page.get_by_text(recovery_codes_of(user)[0])).to_be_visible()

    page.goto("/workspaces/")
    expect(page.get_by_role("heading", name="My workspaces")).to_be_visible()
    sign_out(page)

    password_step(page, "nia")
    page.get_by_placeholder("Code").fill(app.at(page.evaluate("Date.now()") / 1000 + 30))
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workspaces/$"))
    signed_in = AuditEvent.objects.filter(action="auth.signed_in", actor=user)
    assert [event.details["second_factor"] for event in signed_in.order_by("sequence")] == [
        "",  # the password, before enrolling: nothing opened until the app was enrolled
        "totp",
    ]


def test_a_recovery_code_signs_in_when_the_phone_is_lost(page, sign_in, workspace, researcher):
    sign_in("rae")
    sign_out(page)
    code = recovery_codes_of(researcher)[3]
    password_step(page, "rae")
    page.get_by_placeholder("Code").fill(code)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workspaces/$"))
    assert len(recovery_codes_of(researcher)) == 9


def test_a_security_key_enrols_and_signs_in(page, workspace):
    # Chromium's virtual authenticator stands in for a hardware key, through DevTools.
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    key = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    user = UserFactory(username="kai")
    password_step(page, "kai")
    page.get_by_test_id("enrol-webauthn").click()
    page.get_by_label("Name").fill("My key")
    page.get_by_role("button", name="Add").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/"))
    held = devtools.send("WebAuthn.getCredentials", {"authenticatorId": key["authenticatorId"]})
    assert len(held["credentials"]) == 1
    sign_out(page)

    password_step(page, "kai")
    page.get_by_role("button", name="Use a security key").click()
    expect(page).to_have_url(re.compile(r"/workspaces/$"))
    last = AuditEvent.objects.filter(action="auth.signed_in", actor=user).order_by("sequence")
    assert last.last().details == {"second_factor": "webauthn"}


def test_five_wrong_passwords_lock_the_account(page, workspace, researcher):
    for attempt in range(5):
        password_step(page, "rae", f"wrong-{attempt}")
    expect(page.get_by_test_id("locked-out")).to_contain_text("Try again in 15 minutes")
    password_step(page, "rae")  # the right password, too late
    expect(page.get_by_test_id("locked-out")).to_be_visible()
    assert AuditEvent.objects.filter(action="auth.locked_out").exists()


def test_an_idle_session_ends(page, sign_in, settings, workspace, researcher):
    settings.TRE_SESSION_IDLE_SECONDS = 2
    sign_in("rae")
    page.wait_for_timeout(3000)
    page.get_by_role("link", name="Cardiac study").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/workspaces/cardiac/"))
    expect(page.get_by_role("status")).to_contain_text("without activity")


def test_pages_keep_to_the_content_security_policy(page, sign_in, workspace, checker):
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in("chen")
    for path in ("/workspaces/", "/workspaces/cardiac/", "/accounts/2fa/", "/admin/"):
        response = page.goto(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert violations == []
