"""Who is asking: the bearer token, and nothing else.

Every API route but the docs page and the schema takes a personal API token
(`accounts.tokens`) and no session: `api.middleware.TokensOnly` drops the session cookie
before Django reads it, so a browser signed in to the portal gets nowhere here without a
token, and no page of another site can ride on its cookie (there is nothing for CSRF to
protect). The token's user is the one every permission check of the route asks about.
"""

from ninja.security.http import HttpAuthBase

from accounts import tokens

# What a token's scope must allow, by method: reading is all a GET does.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiError(Exception):
    """An answer of the API's kind: `{"detail": ...}` with this status (and headers)."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _refusal(error: tokens.TokenError) -> ApiError:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    return ApiError(error.status, error.detail, headers=headers)


class TokenAuth(HttpAuthBase):
    """`Authorization: Bearer tre_...` (the OpenAPI schema shows it as HTTP bearer).

    Not ninja's HttpBearer, which answers a missing or malformed header with its own
    bare 401: `accounts.tokens.authenticate` reads the header itself and says why."""

    openapi_scheme = "bearer"

    def __call__(self, request):
        try:
            token = tokens.authenticate(request)
        except tokens.TokenError as error:
            raise _refusal(error) from None
        # From here the request is this token's: its use is audited with the final status
        # whatever happens next (api.main.record_each_use), a refused scope included.
        request.api_token = token
        needed = "read" if request.method in READ_METHODS else "submit"
        try:
            tokens.check_scope(token, needed)
        except tokens.TokenError as error:
            raise _refusal(error) from None
        return token
