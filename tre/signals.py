"""Audit receivers for events that Django itself raises: sign-ins and admin actions."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from tre import audit

ADMIN_ACTIONS = {ADDITION: "admin.added", CHANGE: "admin.changed", DELETION: "admin.deleted"}


@receiver(user_logged_in)
def audit_sign_in(sender, request, user, **kwargs):
    audit.record(action="auth.signed_in", by=user, target=user, request=request)


@receiver(user_logged_out)
def audit_sign_out(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action="auth.signed_out", by=user, target=user, request=request)


@receiver(user_login_failed)
def audit_sign_in_failure(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; keep only the name tried.
    username = str(credentials.get("username", ""))[:150]
    audit.record(action="auth.sign_in_failed", details={"username": username}, request=request)


@receiver(post_save, sender=LogEntry)
def audit_admin_action(sender, instance: LogEntry, created: bool, **kwargs):
    if not created:
        return
    content_type = instance.content_type
    audit.record(
        action=ADMIN_ACTIONS.get(instance.action_flag, "admin.other"),
        by=instance.user,
        target_type=f"{content_type.app_label}.{content_type.model}" if content_type else "",
        target_id=instance.object_id or "",
        target_label=instance.object_repr,
        details={"change": instance.get_change_message()},
    )
