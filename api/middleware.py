"""The API's routes take a token and no cookie.

`TokensOnly` sits before Django's session middleware. On every API route but the two
portal pages (the docs and the schema, which stay behind the portal's sign-in) it drops
the request's cookies before anything reads them: the session is never loaded, so the
sign-in policy neither counts an API call as the person's activity nor signs a session
out from it, and a browser signed in to the portal is a stranger to the API. Its answers
are never kept by a cache, and the few that Django makes outside the API (a path that
matches no route, a method a route does not take) come in the API's JSON like the rest.
"""

from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers

API_ROOT = "/api/v1/"
# Portal pages under the API's root: signed in with the portal's session.
PORTAL_PAGES = frozenset({API_ROOT + "docs", API_ROOT + "openapi.json"})

_OUTSIDE_THE_API = {
    404: "Not found.",
    405: "This route does not take that method.",
}


def is_token_route(path: str) -> bool:
    return path.startswith(API_ROOT) and path not in PORTAL_PAGES


class TokensOnly:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_token_route(request.path_info):
            return self.get_response(request)
        request.COOKIES = {}
        request.META.pop("HTTP_COOKIE", None)
        response = self.get_response(request)
        detail = _OUTSIDE_THE_API.get(response.status_code)
        if detail and not response.get("Content-Type", "").startswith("application/json"):
            replacement = JsonResponse({"detail": detail}, status=response.status_code)
            if response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            response = replacement
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)  # no-store, private
        return response
