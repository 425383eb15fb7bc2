"""Signing in, through the real pages: a password, then a second factor."""

import pytest
from allauth.mfa.models import Authenticator

from tests.auth import enrol_totp, fresh_code, recovery_codes_of, sign_in
from tests.factories import PASSWORD, UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def post_password(client, username, password=PASSWORD, **extra):
    return client.post("/accounts/login/", {"login": username, "password": password}, **extra)


def test_sign_in_page_renders_without_sign_up(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in" in response.content
    assert b"sign up" not in response.content.lower()
    assert client.get("/accounts/signup/").status_code == 200  # allauth's "closed" page
    assert b"closed" in client.get("/accounts/signup/").content.lower()


def test_a_password_alone_does_not_sign_in(client):
    user = UserFactory(username="rae")
    enrol_totp(user)
    response = post_password(client, "rae")
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session
    assert client.get("/workspaces/")["Location"].startswith("/accounts/login/")


def test_password_then_code_signs_in_and_is_audited_with_origin(client):
    user = UserFactory(username="rae")
    enrol_totp(user)
    post_password(client, "rae", REMOTE_ADDR="198.51.100.20")
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": fresh_code(user)}, REMOTE_ADDR="198.51.100.20"
    )
    assert response.status_code == 302
    assert client.get("/workspaces/").status_code == 200
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.actor == user
    assert event.ip_address == "198.51.100.20"
    assert event.details == {"second_factor": "totp"}


def test_a_wrong_code_is_refused_and_audited_as_a_failed_sign_in(client):
    user = UserFactory(username="rae")
    app = enrol_totp(user)
    post_password(client, "rae")
    wrong = str((int(app.now()) + 1) % 1_000_000).zfill(6)
    response = client.post("/accounts/2fa/authenticate/", {"code": wrong})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.details == {"username": "rae", "step": "second factor"}


def test_a_recovery_code_signs_in_once(client):
    user = UserFactory(username="rae")
    enrol_totp(user)
    code = recovery_codes_of(user)[0]
    post_password(client, "rae")
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    assert client.get("/workspaces/").status_code == 200
    event = AuditEvent.objects.get(action="auth.recovery_code_used")
    assert event.details == {"left": 9}
    client.post("/accounts/logout/")
    post_password(client, "rae")
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_failed_password_is_audited_without_the_password(client):
    UserFactory(username="rae")
    response = post_password(client, "rae", "wrong-guess")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.actor is None
    assert event.details == {"username": "rae", "step": "password"}
    assert "wrong-guess" not in str(event.details)


def test_unknown_user_and_wrong_password_read_the_same(client):
    UserFactory(username="rae")
    wrong_password = post_password(client, "rae", "x")
    unknown_user = post_password(client, "nobody", "x")
    assert wrong_password.status_code == unknown_user.status_code == 200
    assert (
        wrong_password.context["form"].non_field_errors()
        == unknown_user.context["form"].non_field_errors()
    )


def test_inactive_user_cannot_sign_in(client):
    user = UserFactory(username="gone", is_active=False)
    enrol_totp(user)
    post_password(client, "gone")
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_post_and_is_audited(client):
    user = UserFactory(username="rae")
    sign_in(client, user)
    assert client.get("/accounts/logout/").status_code == 200  # a confirmation page
    assert "_auth_user_id" in client.session
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="auth.signed_out", actor=user)
    assert event.details == {"reason": "signed out"}


def test_next_parameter_cannot_redirect_off_site(client):
    user = UserFactory(username="rae")
    enrol_totp(user)
    client.post(
        "/accounts/login/?next=https://evil.example/",
        {"login": "rae", "password": PASSWORD, "next": "https://evil.example/"},
    )
    response = client.post("/accounts/2fa/authenticate/", {"code": fresh_code(user)})
    assert response["Location"] == "/workspaces/"


def test_second_factor_secrets_are_sealed_in_the_database(client):
    user = UserFactory(username="rae")
    app = enrol_totp(user)
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"]
    assert stored.startswith("sealed:")
    assert app.secret not in stored
    seed = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert seed.data["seed"].startswith("sealed:")
