"""Personal API tokens: the tokens page, the services, and checking a presented token."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken
from accounts.tokens import TokenError, authenticate, check_scope, create_token, revoke_token
from tests.auth import SignedInClient
from tests.factories import UserFactory
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_TOKEN = re.compile(rb'<code data-testid="new-token">([^<]+)</code>')


@pytest.fixture
def rae(db):
    return UserFactory(username="rae")


def make(user, **fields):
    fields = {"name": "laptop", "scope": "read", **fields}
    return create_token(user=user, by=user, **fields)


def presenting(value=None, *, header=None):
    """A request to the API carrying `value` as its bearer token (or a raw header)."""
    extra = {}
    if header is not None:
        extra["HTTP_AUTHORIZATION"] = header
    elif value is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {value}"
    return RequestFactory().get("/api/v1/me", {"q": "secret-query"}, **extra)


def refused(value=None, **kwargs) -> TokenError:
    with pytest.raises(TokenError) as caught:
        authenticate(presenting(value, **kwargs))
    return caught.value


def every_stored_value() -> str:
    """Every value of every table, as text: where a plaintext token must never be."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            table_name = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {table_name}")  # noqa: S608 (names from the schema)
            found.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(found)


# --- the tokens page -----------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(client, rae):
    client.force_login(rae)
    response = client.post("/accounts/tokens/", {"name": "laptop", "scope": "read", "days": 30})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = NEW_TOKEN.search(response.content).group(1).decode()
    assert re.fullmatch(r"tre_[A-Za-z0-9_-]{40}", plaintext)
    assert b"will not be shown again" in response.content

    token = ApiToken.objects.get(user=rae)
    assert token.prefix == plaintext[:12]
    assert token.secret_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in every_stored_value()
    assert plaintext[12:] not in every_stored_value()
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor == rae
    assert event.details == {
        "name": "laptop",
        "scope": "read",
        "expires_at": event.details["expires_at"],
        "prefix": token.prefix,
    }

    again = client.get("/accounts/tokens/")
    assert plaintext.encode() not in again.content
    assert not NEW_TOKEN.search(again.content)
    assert token.prefix.encode() in again.content


def test_the_form_offers_30_days_up_to_365_and_read_first(client, rae):
    client.force_login(rae)
    content = client.get("/accounts/tokens/").content.decode()
    days = re.search(r'<input[^>]*name="days"[^>]*>', content).group(0)
    assert 'value="30"' in days
    assert 'max="365"' in days
    assert 'min="1"' in days
    assert '<option value="read" selected>' in content


@pytest.mark.parametrize("days", [0, 366])
def test_the_page_refuses_an_expiry_out_of_range(client, rae, days):
    client.force_login(rae)
    response = client.post("/accounts/tokens/", {"name": "laptop", "scope": "read", "days": days})
    assert response.status_code == 400
    assert not NEW_TOKEN.search(response.content)
    assert not ApiToken.objects.exists()


def test_making_a_token_needs_the_csrf_token(rae):
    client = SignedInClient(enforce_csrf_checks=True)
    client.force_login(rae)
    response = client.post("/accounts/tokens/", {"name": "laptop", "scope": "read", "days": 30})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_the_page_lists_only_ones_own_tokens(client, rae):
    mine, _ = make(rae, name="my laptop")
    other = UserFactory(username="otto")
    theirs, _ = make(other, name="their laptop")
    client.force_login(rae)
    response = client.get("/accounts/tokens/")
    assert response.status_code == 200
    assert mine.prefix.encode() in response.content
    assert b"my laptop" in response.content
    assert theirs.prefix.encode() not in response.content
    assert b"their laptop" not in response.content


def test_the_pages_need_a_sign_in(client, rae):
    token, _ = make(rae)
    assert client.get("/accounts/tokens/")["Location"].startswith("/accounts/login/")
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response["Location"].startswith("/accounts/login/")
    token.refresh_from_db()
    assert token.revoked_at is None


# --- making a token --------------------------------------------------------------------


def test_a_token_lasts_30_days_unless_told(rae):
    token, plaintext = make(rae)
    assert token.expires_at - token.created_at == timedelta(days=30)
    assert token.scope == ApiToken.Scope.READ
    assert plaintext.startswith("tre_")
    assert len(plaintext) == 44
    longest, _ = make(rae, days=365)
    assert longest.expires_at - longest.created_at == timedelta(days=365)


@pytest.mark.parametrize("days", [0, -1, 366, True, "30"])
def test_an_expiry_outside_1_to_365_days_is_refused(rae, days):
    with pytest.raises(ValidationError) as caught:
        make(rae, days=days)
    assert caught.value.message_dict == {"days": ["A token lasts from 1 to 365 days."]}
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="api_token.created").exists()


def test_an_unknown_scope_or_empty_name_is_refused(rae):
    with pytest.raises(ValidationError):
        make(rae, scope="admin")
    with pytest.raises(ValidationError):
        make(rae, name="  ")
    assert not ApiToken.objects.exists()


def test_nobody_makes_a_token_for_someone_else(rae):
    admin = UserFactory(username="ada", is_superuser=True, is_staff=True)
    with pytest.raises(PermissionDenied):
        create_token(user=rae, by=admin, name="for rae", scope="read")
    assert not ApiToken.objects.exists()


def test_at_most_20_live_tokens(rae):
    for number in range(20):
        make(rae, name=f"token {number}")
    with pytest.raises(ValidationError):
        make(rae, name="one too many")
    # A revoked or expired token no longer counts.
    revoke_token(token=ApiToken.objects.first(), by=rae)
    make(rae, name="in its place")
    ApiToken.objects.filter(name="token 1").update(expires_at=timezone.now())
    make(rae, name="and another")


# --- checking a presented token ------------------------------------------------------


def test_a_live_token_authenticates_and_its_use_is_noted(rae):
    token, plaintext = make(rae)
    found = authenticate(presenting(plaintext))
    assert found == token
    assert found.user == rae
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.window_requests == 1


def test_the_scheme_is_case_insensitive(rae):
    token, plaintext = make(rae)
    assert authenticate(presenting(header=f"bearer {plaintext}")) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic cmFlOnB3", "tre_x"])
def test_no_bearer_token_is_refused(rae, header):
    error = refused(header=header)
    assert (error.status, error.detail) == (
        401,
        "Send your API token as 'Authorization: Bearer <token>'.",
    )


def test_a_wrong_or_malformed_token_is_refused(rae):
    token, plaintext = make(rae)
    wrong_secret = plaintext[:12] + ("A" if plaintext[12] != "A" else "B") + plaintext[13:]
    for value in [
        "tre_" + "x" * 40,  # well-formed, unknown prefix
        wrong_secret,  # the right prefix, the wrong secret
        plaintext[:-1],  # one character short
        plaintext + "x",
        "not a token at all",
        token.secret_hash,  # the stored hash is no token
    ]:
        error = refused(value)
        assert (error.status, error.detail) == (401, "This API token is not valid."), value
    token.refresh_from_db()
    assert token.last_used_at is None


def test_an_expired_token_is_refused_with_its_date(rae):
    token, plaintext = make(rae)
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.make_aware(timezone.datetime(2026, 3, 1, 12, 0))
    )
    error = refused(plaintext)
    assert error.status == 401
    assert error.detail == "This API token expired on 2026-03-01: make a new one in the portal."


def test_a_revoked_token_is_refused(rae):
    token, plaintext = make(rae)
    revoke_token(token=token, by=rae)
    error = refused(plaintext)
    assert (error.status, error.detail) == (401, "This API token was revoked.")


def test_a_deactivated_accounts_token_is_refused(rae):
    _, plaintext = make(rae)
    rae.is_active = False
    rae.save()
    error = refused(plaintext)
    assert (error.status, error.detail) == (
        401,
        "The account this API token belongs to is deactivated.",
    )


def test_a_read_token_cannot_submit(rae):
    reader, _ = make(rae, scope="read")
    submitter, _ = make(rae, scope="submit")
    check_scope(reader, "read")
    check_scope(submitter, "read")
    check_scope(submitter, "submit")
    with pytest.raises(TokenError) as caught:
        check_scope(reader, "submit")
    assert caught.value.status == 403
    assert caught.value.detail == (
        "This token can only read: make one with the submit scope to do this."
    )


def test_the_rate_limit_counts_per_token_per_minute(rae, settings):
    settings.TRE_API_REQUESTS_PER_MINUTE = 3
    token, plaintext = make(rae)
    _, other = make(rae, name="another")
    for _ in range(3):
        authenticate(presenting(plaintext))
    error = refused(plaintext)
    assert error.status == 429
    assert 1 <= error.retry_after <= 60
    assert error.detail == f"Too many requests with this token: try again in {error.retry_after} s."
    # Another token of the same person has its own count.
    authenticate(presenting(other))
    # The next window starts afresh.
    ApiToken.objects.filter(pk=token.pk).update(
        window_started_at=timezone.now() - timedelta(seconds=61)
    )
    authenticate(presenting(plaintext))
    token.refresh_from_db()
    assert token.window_requests == 1


def test_the_retry_after_is_what_remains_of_the_window(rae, settings):
    settings.TRE_API_REQUESTS_PER_MINUTE = 1
    token, plaintext = make(rae)
    authenticate(presenting(plaintext))
    ApiToken.objects.filter(pk=token.pk).update(
        window_started_at=timezone.now() - timedelta(seconds=45)
    )
    error = refused(plaintext)
    assert error.status == 429
    assert error.retry_after in (14, 15)


def test_every_use_is_audited_without_the_query(rae):
    token, plaintext = make(rae)
    request = presenting(plaintext)
    found = authenticate(request)
    tokens.record_use(token=found, request=request, status=200)
    event = AuditEvent.objects.get(action="api.request")
    assert event.actor == rae
    assert event.target_id == str(token.pk)
    assert event.details == {
        "method": "GET",
        "path": "/api/v1/me",
        "status": 200,
        "prefix": token.prefix,
    }
    assert "secret-query" not in every_stored_value()
    assert plaintext not in every_stored_value()


# --- revoking --------------------------------------------------------------------------


def test_revoking_ones_own_token(client, rae):
    token, _ = make(rae)
    client.force_login(rae)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/tokens/"
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor == rae
    assert event.details == {"name": "laptop", "prefix": token.prefix, "user": "rae"}
    page = client.get("/accounts/tokens/").content.decode()
    assert "Revoke</button>" not in page


def test_revoking_twice_changes_nothing(rae):
    token, _ = make(rae)
    first = revoke_token(token=token, by=rae).revoked_at
    assert revoke_token(token=token, by=rae).revoked_at == first
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_someone_elses_token_is_not_found_and_stays(client, rae):
    other = UserFactory(username="otto")
    theirs, plaintext = make(other)
    client.force_login(rae)
    assert client.post(f"/accounts/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post("/accounts/tokens/999999/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert authenticate(presenting(plaintext)) == theirs
    with pytest.raises(PermissionDenied):
        revoke_token(token=theirs, by=rae)
    assert not AuditEvent.objects.filter(action="api_token.revoked").exists()


def test_revoking_is_a_post(client, rae):
    token, _ = make(rae)
    client.force_login(rae)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_superuser_revokes_from_the_admin(client, rae):
    token, plaintext = make(rae)
    admin = UserFactory(username="ada", is_superuser=True, is_staff=True)
    client.force_login(admin)
    changelist = client.get("/admin/accounts/apitoken/")
    assert changelist.status_code == 200
    assert token.prefix.encode() in changelist.content
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    response = client.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert (event.actor, event.details["user"]) == (admin, "rae")
    assert refused(plaintext).detail == "This API token was revoked."
