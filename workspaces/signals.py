"""Guardian permissions follow memberships, whichever path changed them."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tre.permissions import sync_workspace_permissions
from workspaces.models import Membership


@receiver(post_save, sender=Membership)
def grant_membership_permissions(sender, instance, **kwargs):
    sync_workspace_permissions(
        user=instance.user, workspace=instance.workspace, roles=instance.roles
    )


@receiver(post_delete, sender=Membership)
def revoke_membership_permissions(sender, instance, **kwargs):
    sync_workspace_permissions(user=instance.user, workspace=instance.workspace, roles=[])
