"""Personal API tokens: making and revoking them, and checking one a request presents.

The JSON API and the command-line client sign in with a token instead of a session
(contract: `Authorization: Bearer tre_...`). A token is "tre_" and 240 random bits; only
its SHA-256 is stored, so a copy of the database signs nobody in, and the person sees
the token once, on the page that made it. Every use is audited (`record_use`), and each
token has its own rate limit, counted in the database so that it holds across processes
and hosts.
"""

import hashlib
import hmac
import math
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.models import ApiToken
from tre import audit

TOKEN_PREFIX = "tre_"  # noqa: S105 (how a token starts, not a secret)
PREFIX_LENGTH = 12  # "tre_" and the first 8 random characters
# secrets.token_urlsafe(30): 30 random bytes, 40 url-safe base64 characters, no padding.
TOKEN_PATTERN = re.compile(r"tre_[A-Za-z0-9_-]{40}")
DEFAULT_DAYS = 30
MAX_DAYS = 365
MAX_LIVE_TOKENS = 20
RATE_WINDOW = timedelta(seconds=60)
DEFAULT_REQUESTS_PER_MINUTE = 120

MISSING = "Send your API token as 'Authorization: Bearer <token>'."
INVALID = "This API token is not valid."
REVOKED = "This API token was revoked."
EXPIRED = "This API token expired on {date}: make a new one in the portal."
INACTIVE = "The account this API token belongs to is deactivated."
READ_ONLY = "This token can only read: make one with the submit scope to do this."
TOO_MANY = "Too many requests with this token: try again in {seconds} s."

# Compared against when no row has the token's prefix, so that a miss does the same
# work as a hit (see `_find`).
_NO_MATCH = hashlib.sha256(b"no token has this hash").hexdigest()


class TokenError(Exception):
    """Why a request's token is refused: the HTTP status to answer with (401, 403, 429),
    one sentence for the person, and for a 429 the seconds to wait (`Retry-After`)."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _validated_days(days) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": f"A token lasts from 1 to {MAX_DAYS} days."})
    return days


def create_token(
    *, user, by, name: str, scope: str, days: int = DEFAULT_DAYS
) -> tuple[ApiToken, str]:
    """Make a token for `user` and return it with its plaintext, which is stored nowhere
    and shown once: the caller hands it to the person and forgets it."""
    if by is None or not by.is_authenticated or by.pk != user.pk:
        raise PermissionDenied("Nobody makes an API token for someone else.")
    if not user.is_active:
        raise PermissionDenied("A deactivated account cannot make API tokens.")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, to tell it from your others."})
    if len(name) > ApiToken._meta.get_field("name").max_length:
        raise ValidationError({"name": "Keep the name to 100 characters."})
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": "Choose the scope 'read' or 'submit'."})
    days = _validated_days(days)
    with transaction.atomic():
        # The user's row serialises their token-making, so two at once cannot both pass
        # the limit below.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        now = timezone.now()
        live = user.api_tokens.filter(revoked_at__isnull=True, expires_at__gt=now).count()
        if live >= MAX_LIVE_TOKENS:
            raise ValidationError(
                f"You already have {MAX_LIVE_TOKENS} live tokens, the most one person may "
                "hold: revoke one you no longer use first."
            )
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(30)
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=plaintext[:PREFIX_LENGTH],
            secret_hash=hash_token(plaintext),
            scope=scope,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        audit.record(
            action="api_token.created",
            by=by,
            target=token,
            details={
                "name": name,
                "scope": scope,
                "expires_at": token.expires_at,
                "prefix": token.prefix,
            },
        )
    return token, plaintext


def revoke_token(*, token: ApiToken, by) -> ApiToken:
    """Revoke `token` from now on: its owner may, and a superuser (from the admin).
    Revoking a revoked token changes nothing and writes no second audit entry."""
    if by is None or not by.is_authenticated or not (by.pk == token.user_id or by.is_superuser):
        raise PermissionDenied("Only the token's owner may revoke it.")
    with transaction.atomic():
        current = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if current.revoked_at is None:
            current.revoked_at = timezone.now()
            current.save(update_fields=["revoked_at"])
            audit.record(
                action="api_token.revoked",
                by=by,
                target=current,
                details={
                    "name": current.name,
                    "prefix": current.prefix,
                    "user": current.user.get_username(),
                },
            )
    token.revoked_at = current.revoked_at
    return current


def _presented_token(request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise TokenError(401, MISSING)
    return value.strip()


def _find(presented: str) -> ApiToken | None:
    """The token's row, or None. The prefix finds the candidates (almost always one or
    none) and the hash decides, in constant time; with no candidate the hash is compared
    against a stand-in, so a wrong token costs what a right one does but for the row
    fetched. Knowing that a prefix exists gains nothing: 192 random bits remain."""
    digest = hash_token(presented)
    candidates = []
    if TOKEN_PATTERN.fullmatch(presented):
        candidates = list(
            ApiToken.objects.select_related("user")
            .filter(prefix=presented[:PREFIX_LENGTH])
            .order_by()
        )
    found = None
    for candidate in candidates:
        if hmac.compare_digest(candidate.secret_hash, digest):
            found = candidate
    if not candidates:
        hmac.compare_digest(_NO_MATCH, digest)
    return found


def _expired(token: ApiToken) -> TokenError:
    date = timezone.localtime(token.expires_at).date().isoformat()
    return TokenError(401, EXPIRED.format(date=date))


def _count_request(token: ApiToken, now) -> int:
    """Count one request in the token's window and note the use, in one conditional
    UPDATE: the database decides, so the limit holds however many processes and hosts
    serve the API. Returns the rows updated: 0 when the window is full (or the token
    was revoked or expired a moment ago).

    Every right-hand side of an UPDATE reads the row as it was before it (PostgreSQL
    and SQLite alike), so both Cases test the old window."""
    limit = getattr(settings, "TRE_API_REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE)
    window_over = Q(window_started_at__isnull=True) | Q(window_started_at__lte=now - RATE_WINDOW)
    return (
        ApiToken.objects.filter(window_over | Q(window_requests__lt=limit))
        .filter(pk=token.pk, revoked_at__isnull=True, expires_at__gt=now)
        .update(
            window_requests=Case(
                When(window_over, then=Value(1)), default=F("window_requests") + 1
            ),
            window_started_at=Case(
                When(window_over, then=Value(now, output_field=models.DateTimeField())),
                default=F("window_started_at"),
            ),
            last_used_at=now,
        )
    )


def authenticate(request) -> ApiToken:
    """The live token `request` presents as `Authorization: Bearer <token>`, with its
    user loaded; its use is noted and counted against its rate limit.

    Raises TokenError: 401 when the token is missing, not valid, revoked or expired, or
    its account is deactivated (the detail says which); 429 when the token has made
    `TRE_API_REQUESTS_PER_MINUTE` requests in its current minute (`retry_after` set).
    """
    presented = _presented_token(request)
    token = _find(presented)
    if token is None:
        raise TokenError(401, INVALID)
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError(401, REVOKED)
    if token.expires_at <= now:
        raise _expired(token)
    if not token.user.is_active:
        raise TokenError(401, INACTIVE)
    if not _count_request(token, now):
        current = ApiToken.objects.filter(pk=token.pk).first()
        if current is None:
            raise TokenError(401, INVALID)
        if current.revoked_at is not None:
            raise TokenError(401, REVOKED)
        if current.expires_at <= now:
            raise _expired(current)
        waited = (now - current.window_started_at).total_seconds()
        seconds = max(1, math.ceil(RATE_WINDOW.total_seconds() - waited))
        raise TokenError(429, TOO_MANY.format(seconds=seconds), retry_after=seconds)
    token.last_used_at = now
    return token


def record_use(*, token: ApiToken, request, status: int) -> None:
    """Audit one API request made with `token`: who, which token, the method, the path
    (never the query string or a body) and the status answered. Called once per request."""
    audit.record(
        action="api.request",
        by=token.user,
        target=token,
        request=request,
        details={
            "method": request.method,
            "path": request.path,
            "status": status,
            "prefix": token.prefix,
        },
    )


def check_scope(token: ApiToken, needed: str) -> None:
    """Refuse (403) a `read` token an action that needs `submit`."""
    if needed not in ApiToken.Scope.values:
        raise ValueError(f"Unknown scope {needed!r}.")  # a programming error, not a "no"
    if needed == ApiToken.Scope.SUBMIT and token.scope != ApiToken.Scope.SUBMIT:
        raise TokenError(403, READ_ONLY)
