"""How allauth behaves here: accounts come from admins, and second-factor secrets are
sealed with the master key before they reach the database."""

import base64
import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings

from accounts import security
from tre import crypto, vault

# Binds a sealed secret to its use, so it can't be swapped in for another ciphertext.
_SECRET_CONTEXT = b"tre-mfa-secret-v1"
_SEALED_PREFIX = "sealed:"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Accounts are created by admins, who then add people to workspaces.
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # A full sign-in (password and second factor, or a first enrolment) within the
        # reauthentication window counts as having just proven who you are; after it,
        # changing a second factor asks for the password or a code again.
        request = self.request or context.request
        signed_in_at = request.session.get(security.SIGNED_IN_AT_KEY) if request else None
        if signed_in_at and time.time() - signed_in_at < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT:
            return False
        return super().is_reauthentication_required(app=app, **kwargs)


class MFAAdapter(DefaultMFAAdapter):
    """A database reader learns no TOTP secret: each is sealed (AES-GCM) with the master
    key, which never lives in the database."""

    def encrypt(self, text: str) -> str:
        sealed = crypto.wrap_key(text.encode(), vault.master_key(), context=_SECRET_CONTEXT)
        return _SEALED_PREFIX + base64.b64encode(sealed).decode()

    def decrypt(self, encrypted_text: str) -> str:
        if not encrypted_text.startswith(_SEALED_PREFIX):
            raise crypto.IntegrityError("A second-factor secret is stored unsealed.")
        sealed = base64.b64decode(encrypted_text.removeprefix(_SEALED_PREFIX))
        return crypto.unwrap_key(sealed, vault.master_key(), context=_SECRET_CONTEXT).decode()
