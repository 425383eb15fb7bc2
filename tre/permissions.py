"""Who may do what, declared once as data.

Roles are held per workspace through a membership. Each action names the roles that
grant it; `may` is the one function that answers "may this user do this to that
object". The grants are mirrored into django-guardian object permissions on the
workspace (`sync_workspace_permissions`), kept in step with memberships both ways.

Portal rights come from memberships only: a superuser who is not a member of a
workspace does not see it in the portal. Site staff act through the Django admin,
where an action may name the global model permission that lets them do it.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    RESEARCHER = "researcher", "Researcher"
    OUTPUT_CHECKER = "output_checker", "Output checker"


ROLE_DESCRIPTIONS = {
    Role.OWNER: "Manages the workspace's members and their roles.",
    Role.RESEARCHER: "Sees schemas and synthetic samples, submits jobs, requests releases.",
    Role.OUTPUT_CHECKER: "Data steward: manages datasets and reviews release requests.",
}


@dataclass(frozen=True)
class Action:
    codename: str
    description: str
    roles: frozenset[Role]
    # A global Django model permission that lets site staff do this too (from the admin).
    staff_permission: str | None = None


VIEW_WORKSPACE = "view_workspace"
MANAGE_MEMBERS = "manage_members"
VIEW_DATASETS = "view_datasets"
MANAGE_DATASETS = "manage_datasets"
SUBMIT_JOBS = "submit_jobs"
VIEW_JOBS = "view_jobs"
REQUEST_RELEASE = "request_release"
REVIEW_RELEASE = "review_release"

ACTIONS: dict[str, Action] = {
    action.codename: action
    for action in [
        Action(
            VIEW_WORKSPACE,
            "See the workspace, its members, datasets and jobs",
            frozenset({Role.OWNER, Role.RESEARCHER, Role.OUTPUT_CHECKER}),
        ),
        Action(
            MANAGE_MEMBERS,
            "Add and remove members and change their roles",
            frozenset({Role.OWNER}),
            staff_permission="workspaces.change_membership",
        ),
        Action(
            VIEW_DATASETS,
            "See datasets' schemas and browse their synthetic samples",
            frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER}),
        ),
        Action(
            MANAGE_DATASETS,
            "Upload, version, classify and erase datasets",
            frozenset({Role.OUTPUT_CHECKER}),
            staff_permission="workspaces.add_dataset",
        ),
        Action(
            SUBMIT_JOBS,
            "Submit, cancel and re-run jobs",
            frozenset({Role.RESEARCHER}),
        ),
        Action(
            VIEW_JOBS,
            "See the workspace's jobs, their state and their dry-run outputs",
            frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER}),
        ),
        Action(
            REQUEST_RELEASE,
            "Ask for outputs of real-data runs to be released, and download released ones",
            frozenset({Role.RESEARCHER}),
        ),
        Action(
            REVIEW_RELEASE,
            "Review release requests: see the outputs, vote, return, reject or release",
            frozenset({Role.OUTPUT_CHECKER}),
        ),
    ]
}


def permissions_for_roles(roles) -> set[str]:
    """The guardian codenames on the workspace that these roles grant."""
    return {codename for codename, action in ACTIONS.items() if action.roles & set(roles)}


def _workspace_of(obj):
    return obj if obj._meta.label == "workspaces.Workspace" else obj.workspace


def may(user, action: str, obj) -> bool:
    """May `user` do `action` to `obj` (a workspace or anything that belongs to one)?"""
    spec = ACTIONS[action]  # an unknown action is a programming error, not a "no"
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    from guardian.shortcuts import get_user_perms

    workspace = _workspace_of(obj)
    if workspace.pk is not None and action in set(get_user_perms(user, workspace)):
        return True
    return bool(spec.staff_permission and user.is_staff and user.has_perm(spec.staff_permission))


def authorize(user, action: str, obj) -> None:
    """Raise PermissionDenied unless `may(user, action, obj)`; services call this first."""
    if not may(user, action, obj):
        raise PermissionDenied(f"Not allowed to {ACTIONS[action].description.lower()}.")


def sync_workspace_permissions(*, user, workspace, roles) -> None:
    """Make the user's guardian permissions on the workspace exactly what `roles` grant."""
    from guardian.shortcuts import assign_perm, get_user_perms, remove_perm

    wanted = permissions_for_roles(roles)
    held = set(get_user_perms(user, workspace)) & set(ACTIONS)
    for codename in wanted - held:
        assign_perm(f"workspaces.{codename}", user, workspace)
    for codename in held - wanted:
        remove_perm(f"workspaces.{codename}", user, workspace)


def sync_all_workspace_permissions() -> int:
    """Bring every membership's guardian permissions in line with the declared roles.

    Runs after each migrate, so a change to ACTIONS reaches existing members without
    anyone remembering to run it; `manage.py sync_workspace_permissions` runs it by hand.
    """
    from django.apps import apps
    from django.db import transaction

    membership_model = apps.get_model("workspaces", "Membership")
    count = 0
    with transaction.atomic():
        for membership in membership_model.objects.select_related("user", "workspace"):
            sync_workspace_permissions(
                user=membership.user, workspace=membership.workspace, roles=membership.roles
            )
            count += 1
    return count
