"""Reads for the workspace pages; writes live in services.py."""

from guardian.shortcuts import get_objects_for_user

from tre.permissions import VIEW_WORKSPACE
from workspaces.models import Membership, Workspace


def workspaces_for(user):
    """The workspaces this user is a member of: memberships only, never staff status."""
    if not user.is_authenticated:
        return Workspace.objects.none()
    return get_objects_for_user(
        user,
        f"workspaces.{VIEW_WORKSPACE}",
        klass=Workspace,
        use_groups=False,
        with_superuser=False,
        accept_global_perms=False,
    ).order_by("name")


def members_of(workspace: Workspace):
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__username")
    )


def membership_of(user, workspace: Workspace) -> Membership | None:
    return Membership.objects.filter(workspace=workspace, user=user).first()
