"""Who may call the API: a live token, within its scope and its rate limit; never a
session. Every use is audited once, with the status answered."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken
from jobs.models import Job
from tests.api.conftest import ROOT, ApiClient, make_token
from tre.models import AuditEvent

pytestmark = pytest.mark.django_db

JOBS = ROOT + "/workspaces/cardiac/jobs"


def test_no_token_is_a_401_saying_how_to_send_one(anonymous_api):
    response = anonymous_api.get(ROOT + "/me")
    assert response.status_code == 401
    assert response.json() == {"detail": tokens.MISSING}


@pytest.mark.parametrize(
    "header",
    ["Bearer tre_" + "x" * 40, "Bearer not-a-token", "Basic cmFlOnBhc3N3b3Jk", "tre_abc"],
)
def test_a_token_that_is_not_one_is_a_401(researcher, header):
    response = ApiClient().get(ROOT + "/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


def test_a_revoked_token_is_a_401(researcher):
    token, plaintext = tokens.create_token(user=researcher, by=researcher, name="t", scope="read")
    tokens.revoke_token(token=token, by=researcher)
    response = ApiClient(plaintext).get(ROOT + "/me")
    assert response.status_code == 401
    assert response.json() == {"detail": tokens.REVOKED}


def test_an_expired_token_is_a_401_saying_when_it_expired(researcher):
    token, plaintext = tokens.create_token(user=researcher, by=researcher, name="t", scope="read")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    response = ApiClient(plaintext).get(ROOT + "/me")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_deactivated_users_token_is_refused(researcher, finished_job):
    client = ApiClient(make_token(researcher))
    researcher.is_active = False
    researcher.save(update_fields=["is_active"])
    for path in (ROOT + "/me", f"{JOBS}/{finished_job.pk}"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json() == {"detail": tokens.INACTIVE}


def test_a_read_token_cannot_post(researcher, ready_version, real_job):
    client = ApiClient(make_token(researcher, "read"))
    assert client.get(ROOT + "/me").status_code == 200
    jobs_before = Job.objects.count()
    submitted = client.post_json(
        JOBS, {"script": "print(1)", "datasets": ["admissions"], "mode": "dry_run"}
    )
    released = client.post_json(
        f"{JOBS}/{real_job.pk}/release", {"outputs": ["by_ward"], "justification": "paper"}
    )
    for response in (submitted, released):
        assert response.status_code == 403
        assert response.json() == {"detail": tokens.READ_ONLY}
    assert Job.objects.count() == jobs_before
    assert not real_job.release_requests.exists()


def test_too_many_requests_is_a_429_with_retry_after(researcher, settings):
    settings.TRE_API_REQUESTS_PER_MINUTE = 2
    client = ApiClient(make_token(researcher, "read"))
    assert [client.get(ROOT + "/me").status_code for _ in range(2)] == [200, 200]
    response = client.get(ROOT + "/me")
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= 60
    assert response.json() == {
        "detail": f"Too many requests with this token: try again in {seconds} s."
    }


def test_the_default_rate_limit_is_a_setting():
    assert settings.TRE_API_REQUESTS_PER_MINUTE == 120


# --- no session ------------------------------------------------------------------------


def test_a_portal_session_alone_opens_no_api_route(client, researcher, finished_job):
    client.force_login(researcher)
    assert client.get(f"/workspaces/cardiac/jobs/{finished_job.pk}/").status_code == 200
    for path in (ROOT + "/me", ROOT + "/workspaces", f"{JOBS}/{finished_job.pk}"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": tokens.MISSING}


def test_with_a_session_and_a_token_the_token_decides_and_the_session_is_untouched(
    client, researcher, checker
):
    """A browser signed in to the portal as one person, calling with another's token:
    the API answers the token, and neither reads nor refreshes nor ends the session."""
    from accounts import security

    client.force_login(researcher)
    session = client.session
    # Idle for longer than the limit: had anything here read the session, the sign-in
    # policy would have ended it (and refreshed its clock on any newer one).
    session[security.LAST_SEEN_KEY] = time.time() - settings.TRE_SESSION_IDLE_SECONDS - 60
    session.save()
    session_before = dict(client.session.items())
    response = client.get(
        ROOT + "/me", headers={"Authorization": f"Bearer {make_token(checker, 'read')}"}
    )
    assert response.status_code == 200
    assert response.json()["username"] == checker.username
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert dict(client.session.items()) == session_before


def test_a_post_needs_no_csrf_token_and_a_cookie_gives_none(researcher, ready_version):
    """No cookie is read, so there is nothing for cross-site forgery to ride on: a POST
    with the token and no CSRF token goes through; one with the cookie alone does not."""
    from django.test import Client

    from tests.auth import SignedInClient

    browser = SignedInClient(enforce_csrf_checks=True)
    browser.force_login(researcher)
    body = {"script": "print(1)", "datasets": ["admissions"], "mode": "dry_run"}
    refused = browser.post(JOBS, body, content_type="application/json")
    assert refused.status_code == 401
    strict = Client(
        enforce_csrf_checks=True, headers={"Authorization": f"Bearer {make_token(researcher)}"}
    )
    assert strict.post(JOBS, body, content_type="application/json").status_code == 201


# --- every use audited, once, with its status -----------------------------------------


def uses_of(token_user):
    return list(
        AuditEvent.objects.filter(action="api.request", actor=token_user)
        .order_by("sequence")
        .values_list("details", flat=True)
    )


def test_each_use_is_audited_once_with_the_status_answered(researcher, finished_job):
    client = ApiClient(make_token(researcher, "read"))
    client.get(ROOT + "/me")
    client.get(f"{JOBS}/999999")
    client.post_json(JOBS, {"script": "print(1)", "datasets": ["admissions"], "mode": "dry_run"})
    client.get(ROOT + "/workspaces/cardiac/jobs?limit=1000")
    assert [(use["method"], use["path"], use["status"]) for use in uses_of(researcher)] == [
        ("GET", ROOT + "/me", 200),
        ("GET", f"{JOBS}/999999", 404),
        ("POST", JOBS, 403),
        ("GET", JOBS, 422),  # never the query string
    ]


def test_a_refused_token_leaves_no_use_to_audit(researcher, settings):
    settings.TRE_API_REQUESTS_PER_MINUTE = 1
    client = ApiClient(make_token(researcher, "read"))
    client.get(ROOT + "/me")
    assert client.get(ROOT + "/me").status_code == 429
    ApiClient("tre_" + "y" * 40).get(ROOT + "/me")
    assert len(uses_of(researcher)) == 1


# --- answers ---------------------------------------------------------------------------


def test_answers_are_never_cached(researcher):
    client = ApiClient(make_token(researcher, "read"))
    for path in (ROOT + "/me", ROOT + "/workspaces", ROOT + "/no-such-route"):
        cache_control = client.get(path)["Cache-Control"]
        assert "no-store" in cache_control
        assert "private" in cache_control


def test_a_hidden_workspace_is_word_for_word_a_missing_one(outsider, workspace, finished_job):
    client = ApiClient(make_token(outsider, "read"))
    for tail in ("/jobs", "/datasets", f"/jobs/{finished_job.pk}"):
        hidden = client.get(f"{ROOT}/workspaces/cardiac{tail}")
        missing = client.get(f"{ROOT}/workspaces/no-such-workspace{tail}")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content == b'{"detail": "Not found."}'


def test_routes_and_methods_that_do_not_exist_answer_in_json(researcher):
    client = ApiClient(make_token(researcher))
    assert client.get(ROOT + "/nothing/here").json() == {"detail": "Not found."}
    wrong_method = client.delete(ROOT + "/me")
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "GET"
    assert set(wrong_method.json()) == {"detail"}


def test_a_use_that_fails_inside_is_audited_as_a_500(researcher, finished_job, monkeypatch):
    from api import payloads

    def broken(job, now=None):
        raise RuntimeError("a bug")

    monkeypatch.setattr(payloads, "job_payload", broken)
    client = ApiClient(make_token(researcher, "read"), raise_request_exception=False)
    assert client.get(f"{JOBS}/{finished_job.pk}").status_code == 500
    assert [use["status"] for use in uses_of(researcher)] == [500]
