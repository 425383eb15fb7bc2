"""The sign-in policy: a second factor before any page, session limits, and sessions
that end when a password or a second factor changes."""

import re
import time

import pyotp
import pytest
from django.core import mail
from django.test import Client

from accounts import security
from tests.auth import enrol_totp, sign_in
from tests.factories import PASSWORD, UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_a_first_sign_in_sees_nothing_until_a_second_factor_is_enrolled(client, workspace):
    user = UserFactory(username="newbie")
    response = client.post("/accounts/login/", {"login": "newbie", "password": PASSWORD})
    assert response.status_code == 302
    for page in ("/workspaces/", f"/workspaces/{workspace.slug}/", "/admin/", "/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == "/accounts/second-factor/", page
    assert client.get("/accounts/second-factor/").status_code == 200

    # Enrol an authenticator app, as the person would with the secret shown on the page.
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    app = pyotp.TOTP(client.session["mfa.totp.secret"])
    response = client.post("/accounts/2fa/totp/activate/", {"code": app.now()})
    assert response["Location"] == "/accounts/2fa/recovery-codes/"
    assert client.get("/accounts/2fa/recovery-codes/").status_code == 200
    assert client.get("/workspaces/").status_code == 200
    added = AuditEvent.objects.filter(action="auth.mfa_added", actor=user).order_by("sequence")
    assert [event.details for event in added] == [{"type": "totp"}, {"type": "recovery_codes"}]


def test_a_session_that_skipped_the_second_factor_is_signed_out(workspace, researcher):
    enrol_totp(researcher)
    plain = Client()
    plain.force_login(researcher)  # a session that never passed the code step
    response = plain.get(f"/workspaces/{workspace.slug}/")
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in plain.session
    event = AuditEvent.objects.get(action="auth.signed_out")
    assert event.details == {"reason": "no second factor given"}


def age_session(client, *, signed_in=0.0, idle=0.0):
    session = client.session
    session[security.SIGNED_IN_AT_KEY] -= signed_in
    session[security.LAST_SEEN_KEY] -= idle
    session.save()


def test_a_session_ends_after_30_idle_minutes(client, workspace, researcher):
    sign_in(client, researcher)
    assert client.get(f"/workspaces/{workspace.slug}/").status_code == 200
    age_session(client, idle=29 * 60)
    assert client.get(f"/workspaces/{workspace.slug}/").status_code == 200
    age_session(client, idle=31 * 60)
    response = client.get(f"/workspaces/{workspace.slug}/", follow=True)
    assert response.redirect_chain[0][0] == f"/accounts/login/?next=/workspaces/{workspace.slug}/"
    assert b"after 30 minutes without activity" in response.content
    event = AuditEvent.objects.get(action="auth.signed_out")
    assert event.details == {"reason": "idle limit"}


def test_a_page_polling_on_its_own_is_not_activity(client, workspace, researcher):
    sign_in(client, researcher)
    age_session(client, idle=20 * 60)
    before = client.session[security.LAST_SEEN_KEY]
    client.get(f"/workspaces/{workspace.slug}/", HTTP_HX_REQUEST="true")
    assert client.session[security.LAST_SEEN_KEY] == before
    age_session(client, idle=11 * 60)
    response = client.get(f"/workspaces/{workspace.slug}/", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"  # htmx reloads the page, which asks to sign in
    assert "_auth_user_id" not in client.session


def test_a_session_ends_8_hours_after_signing_in_however_busy(client, workspace, researcher):
    sign_in(client, researcher)
    age_session(client, signed_in=8 * 3600 - 60)
    assert client.get(f"/workspaces/{workspace.slug}/").status_code == 200
    age_session(client, signed_in=120)
    response = client.get(f"/workspaces/{workspace.slug}/", follow=True)
    assert b"a session lasts at most 8 hours" in response.content
    assert AuditEvent.objects.get(action="auth.signed_out").details == {"reason": "absolute limit"}


def test_changing_the_password_ends_the_other_sessions(client, workspace, researcher):
    sign_in(client, researcher)
    elsewhere = Client()
    sign_in(elsewhere, researcher)
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a-new-long-passphrase",
            "password2": "a-new-long-passphrase",
        },
    )
    assert response.status_code == 302
    assert client.get(f"/workspaces/{workspace.slug}/").status_code == 200
    assert elsewhere.get(f"/workspaces/{workspace.slug}/")["Location"].startswith(
        "/accounts/login/"
    )
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=researcher).exists()


def test_changing_a_second_factor_ends_the_other_sessions(client, workspace, researcher):
    sign_in(client, researcher)
    elsewhere = Client()
    sign_in(elsewhere, researcher)
    response = client.post("/accounts/2fa/recovery-codes/generate/")
    assert response.status_code == 302
    assert client.get(f"/workspaces/{workspace.slug}/").status_code == 200
    assert elsewhere.get(f"/workspaces/{workspace.slug}/")["Location"].startswith(
        "/accounts/login/"
    )
    regenerated = AuditEvent.objects.filter(actor=researcher, details__type="recovery_codes")
    assert [event.action for event in regenerated.order_by("sequence")] == [
        "auth.mfa_removed",
        "auth.mfa_added",
    ]


def test_a_password_reset_by_email_still_needs_the_second_factor(client, researcher):
    enrol_totp(researcher)
    researcher.email = "rae@example.org"
    researcher.save()
    response = client.post("/accounts/password/reset/", {"email": "rae@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    page = client.get(link.group(1), follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link.group(1)
    response = client.post(
        form_url, {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.password_reset", actor=researcher).exists()
    response = client.post(
        "/accounts/login/", {"login": researcher.username, "password": "a-new-long-passphrase"}
    )
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session


def test_unknown_addresses_get_the_same_reset_answer(client, researcher):
    researcher.email = "rae@example.org"
    researcher.save()
    known = client.post("/accounts/password/reset/", {"email": "rae@example.org"})
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]


def test_every_page_has_a_content_security_policy_without_inline_script(client, researcher):
    for response in (client.get("/accounts/login/"), client.get("/health/")):
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
    sign_in(client, researcher)
    assert "Content-Security-Policy" in client.get("/workspaces/")


def test_the_clock_starts_at_sign_in(client, researcher):
    before = time.time()
    sign_in(client, researcher)
    assert client.session[security.SIGNED_IN_AT_KEY] >= before
