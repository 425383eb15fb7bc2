"""Every change to workspaces and memberships, one function per action.

Each checks permission first, runs in one transaction and writes its audit entry in
that transaction. Views, the admin, management commands and tests all call these.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from tre import audit
from tre.permissions import (
    CHANGE_WORKSPACE,
    CREATE_WORKSPACE,
    GRANT_CHECKERS,
    MANAGE_MEMBERS,
    STEWARD_GRANTED_ROLES,
    Role,
    authorize,
)
from workspaces.models import Membership, Workspace, validate_roles


def _normalise_roles(roles) -> list[str]:
    # Stored in the declaration's order so equal sets of roles compare equal.
    roles = list(roles)
    validate_roles(roles)
    return [role for role in Role.values if role in roles]


def authorize_role_change(*, by, workspace: Workspace, before, after) -> None:
    """Owners manage researchers and owners; only data stewards grant or remove the
    output-checker role (tre.permissions)."""
    changed = set(before) ^ set(after)
    if changed & STEWARD_GRANTED_ROLES:
        authorize(by, GRANT_CHECKERS, workspace)
    if changed - STEWARD_GRANTED_ROLES or not changed:
        authorize(by, MANAGE_MEMBERS, workspace)


def create_workspace(*, name: str, by, slug: str = "", description: str = "") -> Workspace:
    authorize(by, CREATE_WORKSPACE, None)
    slug = slugify(slug or name)
    if not slug:
        raise ValidationError({"slug": "The workspace needs a name made of letters or digits."})
    if Workspace.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A workspace with the address '{slug}' already exists."})
    with transaction.atomic():
        workspace = Workspace.objects.create(
            name=name, slug=slug, description=description, created_by=by
        )
        audit.record(
            action="workspace.created",
            by=by,
            target=workspace,
            details={"name": name, "slug": slug},
        )
    return workspace


def validate_job_limits(limits) -> dict:
    """A workspace's overrides of the sandbox limits: known names, positive integers."""
    from jobs.sandbox import Limits

    if not isinstance(limits, dict):
        raise ValidationError({"job_limits": "Job limits are a mapping of limit to number."})
    known = set(Limits.__dataclass_fields__)
    unknown = sorted(set(limits) - known)
    if unknown:
        message = f"Unknown limit(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}."
        raise ValidationError({"job_limits": message})
    for name, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValidationError({"job_limits": f"{name} must be a positive whole number."})
    return limits


def update_workspace(
    *,
    workspace: Workspace,
    name: str,
    description: str,
    by,
    job_limits: dict | None = None,
    real_runs_per_day: int | None = None,
) -> Workspace:
    authorize(by, CHANGE_WORKSPACE, workspace)
    with transaction.atomic():
        before = Workspace.objects.select_for_update().get(pk=workspace.pk)
        job_limits = before.job_limits if job_limits is None else validate_job_limits(job_limits)
        if real_runs_per_day is None:
            real_runs_per_day = before.real_runs_per_day
        elif not 1 <= real_runs_per_day <= 1000:
            raise ValidationError({"real_runs_per_day": "Allow from 1 to 1,000 real runs a day."})
        values = [
            ("name", name),
            ("description", description),
            ("job_limits", job_limits),
            ("real_runs_per_day", real_runs_per_day),
        ]
        changed = {field for field, value in values if getattr(before, field) != value}
        if not changed:
            return before
        for field, value in values:
            setattr(workspace, field, value)
        workspace.save(update_fields=[field for field, _ in values])
        audit.record(
            action="workspace.changed",
            by=by,
            target=workspace,
            details={
                "changed": sorted(changed),
                "job_limits": job_limits,
                "real_runs_per_day": real_runs_per_day,
            },
        )
    return workspace


def add_member(*, workspace: Workspace, user, roles, by) -> Membership:
    roles = _normalise_roles(roles)
    authorize_role_change(by=by, workspace=workspace, before=[], after=roles)
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is deactivated and cannot join.")
    with transaction.atomic():
        if Membership.objects.select_for_update().filter(workspace=workspace, user=user).exists():
            raise ValidationError(f"{user.get_username()} is already a member.")
        membership = Membership.objects.create(
            workspace=workspace, user=user, roles=roles, created_by=by
        )
        audit.record(
            action="membership.added",
            by=by,
            target=membership,
            workspace=workspace,
            details={"user": user.get_username(), "roles": roles},
        )
    return membership


def ensure_an_owner_remains(*, membership: Membership, new_roles) -> None:
    """Refuse a change that would leave the workspace with nobody to manage it."""
    if Role.OWNER not in membership.roles or Role.OWNER in new_roles:
        return
    other_owners = sum(
        Role.OWNER in roles
        for roles in membership.workspace.memberships.select_for_update()
        .exclude(pk=membership.pk)
        .values_list("roles", flat=True)
    )
    if not other_owners:
        raise ValidationError("A workspace must keep at least one owner.")


def change_member_roles(*, membership: Membership, roles, by) -> Membership:
    workspace = membership.workspace
    roles = _normalise_roles(roles)
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        before = list(membership.roles)
        authorize_role_change(by=by, workspace=workspace, before=before, after=roles)
        if before == roles:
            return membership
        ensure_an_owner_remains(membership=membership, new_roles=roles)
        membership.roles = roles
        membership.save(update_fields=["roles", "updated_at"])
        audit.record(
            action="membership.roles_changed",
            by=by,
            target=membership,
            workspace=workspace,
            details={"user": membership.user.get_username(), "before": before, "after": roles},
        )
    return membership


def remove_member(*, membership: Membership, by) -> None:
    workspace = membership.workspace
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        authorize_role_change(by=by, workspace=workspace, before=membership.roles, after=[])
        ensure_an_owner_remains(membership=membership, new_roles=[])
        audit.record(
            action="membership.removed",
            by=by,
            target=membership,
            workspace=workspace,
            details={"user": membership.user.get_username(), "roles": membership.roles},
        )
        membership.delete()
