"""Pages for signed-in people are private: no browser or proxy keeps a copy.

A shared computer's browser cache, or a proxy on the way, would otherwise hold a copy of
a page that showed a schema, a synthetic sample or a release request after its reader
signed out. Responses that set their own Cache-Control (stored files do: tre.files) keep
it.
"""

from django.utils.cache import add_never_cache_headers


class PrivatePagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
            response["Cache-Control"] += ", private"
        return response
