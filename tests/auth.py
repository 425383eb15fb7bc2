"""Signing in, for tests: the real second-factor flow, and a shortcut for the rest.

Tests about sign-in itself go through the real pages (tests/accounts, the permission
matrix, the browser tests) with codes computed by pyotp. Every other test uses
`SignedInClient.force_login`, which leaves a session exactly as a completed sign-in with
an authenticator app does, so the sign-in policy lets it through.
"""

import time

import pyotp
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.test import Client

from accounts import security
from accounts.services import enrol_authenticator_app
from tests.factories import PASSWORD


class SignedInClient(Client):
    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        session = self.session
        security.mark_second_factor(session, user, factor="totp")
        session.save()


def enrol_totp(user) -> pyotp.TOTP:
    """Enrols `user` with an authenticator app (and recovery codes), as the enrolment
    page does; returns the app, to compute codes with."""
    enrol_authenticator_app(user=user)
    return totp_of(user)


def totp_of(user) -> pyotp.TOTP:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return pyotp.TOTP(decrypt(authenticator.data["secret"]))


def recovery_codes_of(user) -> list[str]:
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    return authenticator.wrap().get_unused_codes()


_spent: set[tuple[str, str]] = set()


def fresh_code(user) -> str:
    """A code the app shows now, or showed or will show 30 seconds away (the portal
    accepts those, for clocks that drift), that this user has not spent yet: allauth
    refuses a code used twice, as a person signing in twice in a minute would find."""
    app = totp_of(user)
    while True:
        now = time.time()
        # The next step's code before the last one's: it stays accepted for up to a
        # minute, the last one's for what is left of this step (a browser test's second
        # sign-in, half a minute after its first, failed when a step ended meanwhile).
        for offset in (0, 30, -30):
            code = app.at(now + offset)
            if (app.secret, code) not in _spent:
                _spent.add((app.secret, code))
                return code
        time.sleep(1)


def sign_in(client, user, *, password=PASSWORD):
    """Signs `user` in through the real pages: password, then a code from their app.
    Returns the last response."""
    if not security.has_enrolled(user):
        enrol_totp(user)
    response = client.post("/accounts/login/", {"login": user.get_username(), "password": password})
    assert response.status_code == 302, response.content[:300]
    assert response["Location"].startswith("/accounts/2fa/authenticate/"), response["Location"]
    response = client.post("/accounts/2fa/authenticate/", {"code": fresh_code(user)})
    assert response.status_code == 302, response.content[:300]
    return response
