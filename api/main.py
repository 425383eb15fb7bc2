"""The JSON API, v1: one NinjaAPI, its routes, and how every error is answered.

Why django-ninja (docs/api.md): the request and response bodies are typed (pydantic)
and the OpenAPI schema is made from them; its Swagger UI is bundled as static files (no
CDN: the portal works offline); views are plain sync functions that call our services;
and it is small. The routes are thin: they find things through `api.access`, change
things through the services the portal calls, and say things through `api.payloads`.

Every error is `{"detail": "<one sentence>"}`: a token refused (401, 403 for its scope,
429 with Retry-After), a role or rule refused (403, with tre.permissions' reason),
anything not there or not visible (404, the same words for both), bad input (400 from a
service's ValidationError, 422 from the schemas: the detail names the field).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.errors import ValidationError as SchemaError

from accounts import tokens
from api.auth import ApiError, TokenAuth
from api.routes import jobs, privacy, releases, workspaces
from jobs import services as job_services

api = NinjaAPI(
    title="TRE API",
    version="1",
    description="Personal API tokens, made in the portal at /accounts/tokens/. See docs/api.md.",
    urls_namespace="api",
    auth=TokenAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    # The docs page and the schema are portal pages: the portal's sign-in (and its
    # second factor, accounts.middleware) stands in front of them.
    docs_decorator=login_required,
)

# The services' field names, as the API's bodies call them.
FIELD_NAMES = {"dataset_versions": "datasets", "description": "justification"}
NOT_FOUND = "Not found."


def record_each_use(run):
    """Around each operation, after its answer is made, whatever it is: the use of the
    token that was presented is audited once, with the status answered
    (accounts.tokens.record_use). A request refused before a token was found (missing,
    invalid, rate-limited) has none to record."""

    @wraps(run)
    def recorded(request, *args, **kwargs):
        status = 500  # unless an answer comes back: an error Django turns into a 500
        try:
            response = run(request, *args, **kwargs)
            status = response.status_code
            return response
        finally:
            token = getattr(request, "api_token", None)
            if token is not None:
                tokens.record_use(token=token, request=request, status=status)

    return recorded


api.add_decorator(record_each_use, mode="view")

api.add_router("", workspaces.router)
api.add_router("", jobs.router)
api.add_router("", releases.router)
api.add_router("", privacy.router)


def _answer(request, status: int, detail: str, headers=None):
    response = api.create_response(request, {"detail": detail}, status=status)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, error: ApiError):
    return _answer(request, error.status, error.detail, error.headers)


@api.exception_handler(Http404)
def _not_found(request, error):
    # Never the exception's own words: "not yours" and "not there" must read the same.
    return _answer(request, 404, NOT_FOUND)


@api.exception_handler(PermissionDenied)
def _forbidden(request, error):
    return _answer(request, 403, str(error) or "You may not do that.")


@api.exception_handler(ValidationError)
def _invalid(request, error: ValidationError):
    if hasattr(error, "error_dict"):
        detail = " ".join(
            f"{FIELD_NAMES.get(field, field)}: {message}"
            for field, errors in error.error_dict.items()
            for message in ValidationError(errors).messages
        )
    else:
        detail = " ".join(error.messages)
    return _answer(request, 400, detail)


@api.exception_handler(SchemaError)
def _unreadable(request, error: SchemaError):
    problems = []
    for problem in error.errors:
        # ("body", "body", "mode") or ("query", "limit"): the field, not where it was.
        where = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query")]
        problems.append(f"{'.'.join(where) or 'body'}: {problem.get('msg', 'not valid')}.")
    return _answer(request, 422, " ".join(problems))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, error):
    return _answer(request, 413, job_services.script_too_large_message(None))


@api.exception_handler(HttpError)
def _http_error(request, error: HttpError):
    return _answer(request, error.status_code, str(error))
