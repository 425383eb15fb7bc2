import pytest

from tests.factories import PASSWORD, UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_sign_in_page_renders(client):
    response = client.get("/accounts/sign-in/")
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_sign_in_is_audited_with_origin(client):
    user = UserFactory(username="rae")
    response = client.post(
        "/accounts/sign-in/", {"username": "rae", "password": PASSWORD}, REMOTE_ADDR="198.51.100.20"
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.actor == user
    assert event.ip_address == "198.51.100.20"


def test_failed_sign_in_is_audited_without_the_password(client):
    UserFactory(username="rae")
    response = client.post("/accounts/sign-in/", {"username": "rae", "password": "wrong-guess"})
    assert response.status_code == 200
    assert b"do not match an active account" in response.content
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.actor is None
    assert event.details == {"username": "rae"}
    assert "wrong-guess" not in str(event.details)


def test_unknown_user_and_wrong_password_read_the_same(client):
    UserFactory(username="rae")
    wrong_password = client.post("/accounts/sign-in/", {"username": "rae", "password": "x"})
    unknown_user = client.post("/accounts/sign-in/", {"username": "nobody", "password": "x"})
    for response in (wrong_password, unknown_user):
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [
            "That username and password do not match an active account."
        ]


def test_inactive_user_cannot_sign_in(client):
    UserFactory(username="gone", is_active=False)
    response = client.post("/accounts/sign-in/", {"username": "gone", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_sign_out_needs_post_and_is_audited(client):
    user = UserFactory(username="rae")
    client.force_login(user)
    assert client.get("/accounts/sign-out/").status_code == 405
    response = client.post("/accounts/sign-out/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.signed_out", actor=user).exists()


def test_next_parameter_cannot_redirect_off_site(client):
    UserFactory(username="rae")
    response = client.post(
        "/accounts/sign-in/?next=https://evil.example/",
        {"username": "rae", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/workspaces/"
