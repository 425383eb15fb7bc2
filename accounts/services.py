"""Second factors set up outside the portal's pages: for the demo, and for admins'
scripts. People enrol themselves through the pages (allauth's flows)."""

import time

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction


def enrol_authenticator_app(*, user) -> None:
    """Gives `user` an authenticator-app factor and recovery codes, unless they have one
    (a second run keeps the secret their app already holds)."""
    with transaction.atomic():
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            return
        # Audited as every new factor is (accounts.signals).
        TOTP.activate(user, generate_totp_secret())
        RecoveryCodes.activate(user)


def current_code(user) -> str:
    """The code `user`'s authenticator app shows now. Development only: in production
    nobody but the person holds their second factor."""
    if settings.IS_PRODUCTION:
        raise PermissionDenied("Codes are printed in development only, never in production.")
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    secret = decrypt(authenticator.data["secret"])
    counter = int(time.time()) // mfa_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))
