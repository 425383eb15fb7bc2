from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from axes.handlers.proxy import AxesProxyHandler
from django import forms

from accounts.models import ApiToken
from accounts.tokens import DEFAULT_DAYS, MAX_DAYS

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


class ApiTokenForm(forms.Form):
    """The tokens page's form; accounts.tokens.create_token checks the same again."""

    name = forms.CharField(
        max_length=100,
        help_text='What the token is for, to tell it from your others: "laptop CLI", say.',
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.READ,
        help_text="Read: see workspaces, datasets, samples, jobs and answers. Read and submit: "
        "also submit jobs, request releases and spend privacy budget on questions.",
    )
    days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=MAX_DAYS,
        initial=DEFAULT_DAYS,
        help_text=f"From 1 to {MAX_DAYS} days.",
    )
