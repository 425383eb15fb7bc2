"""What a session must show before it sees a page: a second factor, and recent use.

A session is signed in only once its user has passed the second-factor step in it
(or has just enrolled their first factor in it, which proves possession the same way).
The mark names the user, so it can never carry over to someone else's sign-in.
"""

import time

from allauth.core import context
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.db.models import F

from tre.audit import origin_from_request

SECOND_FACTOR_KEY = "tre_second_factor"
SIGNED_IN_AT_KEY = "tre_signed_in_at"
LAST_SEEN_KEY = "tre_last_seen"
# The factors that count as a second factor; recovery codes stand in for one.
FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def client_address(request) -> str | None:
    """The client's address as the audit trail sees it (trusted proxies only), so
    lockouts and audit entries agree on who tried."""
    return origin_from_request(request).ip_address


def has_enrolled(user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=FACTORS).exists()


def mark_second_factor(session, user, *, factor: str) -> None:
    session[SECOND_FACTOR_KEY] = {"user": str(user.pk), "factor": factor}


def passed_second_factor(request, user) -> bool:
    mark = request.session.get(SECOND_FACTOR_KEY)
    return isinstance(mark, dict) and mark.get("user") == str(user.pk)


def start_session_clock(request) -> None:
    now = time.time()
    request.session[SIGNED_IN_AT_KEY] = now
    request.session[LAST_SEEN_KEY] = now


def bump_session_epoch(user) -> None:
    """Ends every session of `user` (their session hash changes): after a password or a
    second factor changes, a session opened before it must not go on."""
    get_user_model().objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    user.refresh_from_db(fields=["session_epoch"])
    # The session that made the change goes on (as after a password change in Django).
    request = context.request
    if request is not None and request.user.is_authenticated and request.user.pk == user.pk:
        update_session_auth_hash(request, get_user_model().objects.get(pk=user.pk))
