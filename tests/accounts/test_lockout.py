"""Failed sign-ins are limited per account and per address, passwords and codes alike."""

import pytest
from axes.models import AccessAttempt

from tests.auth import enrol_totp, fresh_code, sign_in
from tests.factories import PASSWORD, UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db


def post_password(client, username, password, address="203.0.113.7"):
    return client.post(
        "/accounts/login/", {"login": username, "password": password}, REMOTE_ADDR=address
    )


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client):
    user = UserFactory(username="chen")
    enrol_totp(user)
    answers = [post_password(client, "chen", f"guess-{n}").status_code for n in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    refused = post_password(client, "chen", PASSWORD)
    assert refused.status_code == 429
    assert b"Sign-in locked" in refused.content
    assert b"15 minutes" in refused.content
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").count() == 6
    # The lock, and the attempt refused under it.
    locked = AuditEvent.objects.filter(action="auth.locked_out").order_by("sequence")
    assert [event.details for event in locked] == [
        {"username": "chen", "address": "203.0.113.7"}
    ] * 2


def test_the_lock_holds_from_another_address_too(client):
    UserFactory(username="chen")
    for n in range(5):
        post_password(client, "chen", f"guess-{n}", address="203.0.113.7")
    assert post_password(client, "chen", PASSWORD, address="198.51.100.9").status_code == 429


def test_an_address_that_tries_many_accounts_is_locked(client):
    for n in range(5):
        UserFactory(username=f"user{n}")
        post_password(client, f"user{n}", "wrong")
    UserFactory(username="rae")
    assert post_password(client, "rae", PASSWORD).status_code == 429
    assert post_password(client, "rae", PASSWORD, address="198.51.100.9").status_code == 302


def test_wrong_codes_count_towards_the_lock(client):
    user = UserFactory(username="chen")
    app = enrol_totp(user)
    assert post_password(client, "chen", PASSWORD).status_code == 302
    wrong = str((int(app.now()) + 500_000) % 1_000_000).zfill(6)
    answers = [
        client.post("/accounts/2fa/authenticate/", {"code": wrong}, REMOTE_ADDR="203.0.113.7")
        for _ in range(5)
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]
    # The pending code step takes no more guesses, the right code included.
    right = client.post(
        "/accounts/2fa/authenticate/", {"code": fresh_code(user)}, REMOTE_ADDR="203.0.113.7"
    )
    assert "_auth_user_id" not in client.session
    assert b"locked" in right.content
    steps = AuditEvent.objects.filter(action="auth.sign_in_failed").values_list(
        "details__step", flat=True
    )
    assert list(steps).count("second factor") == 5


def test_an_admin_unlocks_by_deleting_the_attempts(client):
    user = UserFactory(username="chen")
    enrol_totp(user)
    for n in range(5):
        post_password(client, "chen", f"guess-{n}")
    assert post_password(client, "chen", PASSWORD).status_code == 429
    AccessAttempt.objects.all().delete()  # what Axes > Access attempts > delete does
    assert post_password(client, "chen", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_the_portal_sign_in(client, researcher, site_admin):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 302
    sign_in(client, researcher)
    assert client.get("/admin/login/").status_code == 403  # not staff
    client.post("/accounts/logout/")
    sign_in(client, site_admin, password="correct-horse-battery-staple")
    assert client.get("/admin/").status_code == 200
