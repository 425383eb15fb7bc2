"""The sign-in policy, checked on every request of a signed-in session.

- A session ends after `TRE_SESSION_IDLE_SECONDS` without the person doing anything
  (30 minutes) and `TRE_SESSION_ABSOLUTE_SECONDS` after signing in (8 hours), whatever
  the cookie says. A page's own polling (htmx) is not the person doing something.
- A session is signed in only through a second factor: someone who has none yet sees
  nothing but the enrolment pages, and a session that skipped the step is signed out.
"""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from accounts import security

# What someone without a second factor may reach: enrolling one, and signing out.
ENROLMENT_PAGES = {
    "accounts:second_factor",
    "mfa_activate_totp",
    "mfa_add_webauthn",
    "mfa_reauthenticate",
    "account_reauthenticate",
    "account_logout",
    "health",
}
# How often the idle clock is written back: not on every request, to spare the database.
LAST_SEEN_RESOLUTION = 30


def _page_name(request) -> str:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return ""
    return match.view_name


def _reload_page():
    # A poll must not swap the sign-in page into a fragment: htmx reloads the whole page,
    # which then goes where a page load would.
    response = HttpResponse(status=200)
    response["HX-Refresh"] = "true"
    return response


class SignInPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            refusal = self._session_expired(request) or self._second_factor_missing(request, user)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _session_expired(self, request):
        now = time.time()
        session = request.session
        if security.SIGNED_IN_AT_KEY not in session:
            security.start_session_clock(request)
            return None
        if now - session[security.SIGNED_IN_AT_KEY] > settings.TRE_SESSION_ABSOLUTE_SECONDS:
            hours = settings.TRE_SESSION_ABSOLUTE_SECONDS / 3600
            return self._sign_out(
                request,
                reason="absolute limit",
                message=f"You were signed out: a session lasts at most {hours:g} hours. "
                "Please sign in again.",
            )
        last_seen = session.get(security.LAST_SEEN_KEY, 0)
        if now - last_seen > settings.TRE_SESSION_IDLE_SECONDS:
            minutes = settings.TRE_SESSION_IDLE_SECONDS / 60
            return self._sign_out(
                request,
                reason="idle limit",
                message=f"You were signed out after {minutes:g} minutes without activity. "
                "Please sign in again.",
            )
        if not request.headers.get("HX-Request") and now - last_seen > LAST_SEEN_RESOLUTION:
            session[security.LAST_SEEN_KEY] = now
        return None

    def _second_factor_missing(self, request, user):
        if security.passed_second_factor(request, user):
            return None
        if security.has_enrolled(user):
            # Signed in without the second step (a session from before MFA, say).
            return self._sign_out(
                request,
                reason="no second factor given",
                message="Please sign in again with your second factor.",
            )
        if _page_name(request) in ENROLMENT_PAGES:
            return None
        return self._redirect(request, "accounts:second_factor")

    def _sign_out(self, request, *, reason, message):
        request.tre_sign_out_reason = reason
        logout(request)
        messages.info(request, message)
        if request.headers.get("HX-Request"):
            return _reload_page()
        if request.method == "GET":
            return redirect_to_login(request.get_full_path())
        return redirect_to_login("/")

    def _redirect(self, request, name):
        if request.headers.get("HX-Request"):
            return _reload_page()
        return redirect(name)
