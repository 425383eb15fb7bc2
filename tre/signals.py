"""Audit receivers for admin actions (sign-in events are audited by accounts.signals)."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db.models.signals import post_save
from django.dispatch import receiver

from tre import audit

ADMIN_ACTIONS = {ADDITION: "admin.added", CHANGE: "admin.changed", DELETION: "admin.deleted"}


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
