"""Every sign-in event lands in the audit trail, and second-factor changes end sessions.

Audited: sign-ins (with the factor used), sign-outs (with why: the person, the idle or
the absolute limit, a half-finished sign-in), every failed password or code, lockouts,
second factors added or removed (regenerated recovery codes are both), recovery codes
used, passwords changed or reset.
"""

from allauth.account import signals as account_signals
from allauth.core import context
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts import security
from tre import audit

SECOND_FACTOR_STEP = "second factor"


@receiver(user_logged_in)
def on_signed_in(sender, request, user, **kwargs):
    security.start_session_clock(request)
    mark = request.session.get(security.SECOND_FACTOR_KEY) or {}
    audit.record(
        action="auth.signed_in",
        by=user,
        target=user,
        request=request,
        details={"second_factor": mark.get("factor", "")},
    )


@receiver(user_logged_out)
def on_signed_out(sender, request, user, **kwargs):
    if user is not None:
        reason = getattr(request, "tre_sign_out_reason", "signed out")
        audit.record(
            action="auth.signed_out",
            by=user,
            target=user,
            request=request,
            details={"reason": reason},
        )


@receiver(user_login_failed)
def on_sign_in_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; keep only the name tried.
    audit.record(
        action="auth.sign_in_failed",
        request=request,
        details={
            "username": str(credentials.get("username", ""))[:150],
            "step": credentials.get("step", "password"),
        },
    )


@receiver(user_locked_out)
def on_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    audit.record(
        action="auth.locked_out",
        request=request,
        details={"username": str(username or "")[:150], "address": ip_address or ""},
    )


@receiver(mfa_signals.authentication_failed)
def on_second_factor_failed(sender, request, user, authenticator, **kwargs):
    # A wrong code is a failed sign-in like a wrong password: audited, and counted
    # towards the lockout by django-axes, which listens to this signal too.
    user_login_failed.send(
        sender=Authenticator,
        credentials={"username": user.get_username(), "step": SECOND_FACTOR_STEP},
        request=request,
    )


@receiver(mfa_signals.authenticator_used)
def on_second_factor_used(sender, request, user, authenticator, **kwargs):
    security.mark_second_factor(request.session, user, factor=authenticator.type)
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        audit.record(
            action="auth.recovery_code_used",
            by=user,
            target=user,
            request=request,
            details={"left": len(_fresh(authenticator).wrap().get_unused_codes())},
        )


def _fresh(authenticator):
    return Authenticator.objects.get(pk=authenticator.pk)


def _acting_user():
    request = context.request
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


# Model signals rather than allauth's: they fire inside the transaction that makes the
# change (allauth's come after commit), whoever makes it (the person, or an admin).
@receiver(post_save, sender=Authenticator)
def on_authenticator_saved(sender, instance, created, **kwargs):
    # Only a new factor changes the set: a save on use (last used, a spent recovery
    # code) must not end the user's other sessions.
    if not created:
        return
    by = _acting_user()
    audit.record(
        action="auth.mfa_added", by=by, target=instance.user, details={"type": instance.type}
    )
    security.bump_session_epoch(instance.user)
    if by is not None and by.pk == instance.user_id and instance.type in security.FACTORS:
        # Enrolling asked for a code from the new factor: possession is proven.
        security.mark_second_factor(context.request.session, by, factor=instance.type)


@receiver(post_delete, sender=Authenticator)
def on_authenticator_deleted(sender, instance, **kwargs):
    audit.record(
        action="auth.mfa_removed",
        by=_acting_user(),
        target=instance.user,
        details={"type": instance.type},
    )
    security.bump_session_epoch(instance.user)


@receiver(account_signals.password_changed)
@receiver(account_signals.password_set)
def on_password_changed(sender, request, user, **kwargs):
    audit.record(action="auth.password_changed", by=user, target=user, request=request)


@receiver(account_signals.password_reset)
def on_password_reset(sender, request, user, **kwargs):
    audit.record(action="auth.password_reset", by=user, target=user, request=request)
