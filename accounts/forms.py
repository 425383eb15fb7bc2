from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from axes.handlers.proxy import AxesProxyHandler
from django import forms

LOCKED_OUT = (
    "Too many failed sign-ins: this account is locked for now. Try again later, "
    "or ask an administrator to unlock it."
)


class _RefusedWhenLockedOut:
    """A wrong code counts as a failed sign-in (accounts.signals), so five of them lock
    the account as five wrong passwords do; and a locked account's pending code step
    takes no more guesses."""

    def clean_code(self):
        if AxesProxyHandler.is_locked(context.request, {"username": self.user.get_username()}):
            raise forms.ValidationError(LOCKED_OUT)
        return super().clean_code()


class SecondFactorForm(_RefusedWhenLockedOut, AuthenticateForm):
    pass


class SecondFactorReauthenticateForm(_RefusedWhenLockedOut, ReauthenticateForm):
    pass
