"""Who may do what, declared once as data, and the one function that answers it.

Roles are held per workspace through a membership. Each action names the roles that
grant it; an action done to a job or a release request also names its object rule
("the job's submitter only", "not their own request"), and an action that only the
site's data stewards may do says so. `may` is the one function that answers "may this
user do this to that object"; views, services, templates (`{% may %}`), the admin and
the permission-matrix test all ask it, and no other code checks a role.

The workspace-level grants are mirrored into django-guardian object permissions on the
workspace (`sync_workspace_permissions`), kept in step with memberships both ways.

Portal rights come from memberships only: a superuser who is not a member of a
workspace does not see it in the portal. Site staff act through the Django admin,
where an action may name the global model permission that lets them do it.

Separation of duties (SATRE 3.2.03, least access): the people who check outputs are not
the people who produce them. Nobody holds researcher and output checker in the same
workspace (`SEPARATED_ROLES`), and only data stewards — site staff with the
`workspaces.steward_data` permission, given in the admin — grant or remove the
output-checker role, upload data or change a dataset's classification. A workspace
owner manages researchers and owners.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    RESEARCHER = "researcher", "Researcher"
    OUTPUT_CHECKER = "output_checker", "Output checker"


ROLE_DESCRIPTIONS = {
    Role.OWNER: "Manages the workspace's researchers and owners.",
    Role.RESEARCHER: "Sees schemas and synthetic samples, submits jobs, requests releases.",
    Role.OUTPUT_CHECKER: "Reviews release requests; with the site's data-steward permission, "
    "also manages datasets.",
}

# Roles one person may not hold together in one workspace.
SEPARATED_ROLES = frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER})
# Roles that only data stewards grant or remove.
STEWARD_GRANTED_ROLES = frozenset({Role.OUTPUT_CHECKER})
# The site-level data-steward permission (Workspace's Meta), given in the admin: the
# "Data stewards" group (made by workspaces' migration 0006) holds it.
STEWARD_PERMISSION = "workspaces.steward_data"
STEWARD_GROUP = "Data stewards"


def steward_group():
    """The "Data stewards" group holding the data-steward permission: made by workspaces'
    migration 0006, and again here if it was deleted (or flushed, in tests)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=STEWARD_GROUP)
    app_label, codename = STEWARD_PERMISSION.split(".")
    group.permissions.add(
        Permission.objects.get(content_type__app_label=app_label, codename=codename)
    )
    return group


def is_data_steward(user) -> bool:
    """Site staff holding the data-steward permission."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(STEWARD_PERMISSION)
    )


def check_separated(roles) -> None:
    """Refuse a set of roles that mixes producing outputs with checking them."""
    if set(roles) >= SEPARATED_ROLES:
        raise ValidationError(
            "Nobody can be both a researcher and an output checker in one workspace: the "
            "people who check outputs are not the people who produce them."
        )


# Object rules: (the rule, what it says when it refuses). Each takes the user and the
# object (a Job or a ReleaseRequest) and the roles the user holds in its workspace.
@dataclass(frozen=True)
class Rule:
    test: Callable
    refusal: str


RULES = {
    "submitter": Rule(
        lambda user, job, roles: job.submitted_by_id == user.pk,
        "only the researcher who submitted the job may do that",
    ),
    "submitter_or_owner": Rule(
        lambda user, job, roles: job.submitted_by_id == user.pk or Role.OWNER in roles,
        "only the job's submitter, or an owner of the workspace, may do that",
    ),
    "requester": Rule(
        lambda user, request, roles: request.requested_by_id == user.pk,
        "only the researcher who made the request may do that",
    ),
    "not_requester": Rule(
        lambda user, request, roles: request.requested_by_id != user.pk,
        "nobody reviews their own release request",
    ),
    "ready_or_steward": Rule(
        lambda user, version, roles: (
            version.status == "ready" or (Role.OUTPUT_CHECKER in roles and is_data_steward(user))
        ),
        "until a data steward has decided on its columns, an upload is theirs alone",
    ),
    "requester_or_checker": Rule(
        lambda user, request, roles: (
            request.requested_by_id == user.pk or Role.OUTPUT_CHECKER in roles
        ),
        "only the request's researcher and the workspace's output checkers see it",
    ),
}


@dataclass(frozen=True)
class Action:
    codename: str
    description: str
    roles: frozenset[Role]
    # A global Django model permission that lets site staff do this too (from the admin).
    staff_permission: str | None = None
    # Also needs the site's data-steward permission.
    steward_only: bool = False
    # Object rules by the model the action is done to ("Job", "ReleaseRequest").
    rules: dict[str, str] = field(default_factory=dict)
    # Mirrored into guardian per workspace (the workspace-level grants).
    guardian: bool = True
    # Done to the site, not in a workspace: only site staff with `staff_permission`.
    site_level: bool = False


CREATE_WORKSPACE = "create_workspace"
CHANGE_WORKSPACE = "change_workspace"
VIEW_WORKSPACE = "view_workspace"
MANAGE_MEMBERS = "manage_members"
GRANT_CHECKERS = "grant_checkers"
VIEW_DATASETS = "view_datasets"
MANAGE_DATASETS = "manage_datasets"
SUBMIT_JOBS = "submit_jobs"
CANCEL_JOB = "cancel_job"
VIEW_JOBS = "view_jobs"
REQUEST_RELEASE = "request_release"
VIEW_RELEASE = "view_release"
REVIEW_RELEASE = "review_release"
ASK_PRIVATE_QUESTIONS = "ask_private_questions"

ACTIONS: dict[str, Action] = {
    action.codename: action
    for action in [
        Action(
            CREATE_WORKSPACE,
            "Create workspaces",
            frozenset(),
            staff_permission="workspaces.add_workspace",
            guardian=False,
            site_level=True,
        ),
        Action(
            CHANGE_WORKSPACE,
            "Change a workspace's name, description, job limits and quota",
            frozenset(),
            staff_permission="workspaces.change_workspace",
            guardian=False,
            site_level=True,
        ),
        Action(
            VIEW_WORKSPACE,
            "See the workspace, its members, datasets and jobs",
            frozenset({Role.OWNER, Role.RESEARCHER, Role.OUTPUT_CHECKER}),
        ),
        Action(
            MANAGE_MEMBERS,
            "Add and remove researchers and owners and change their roles",
            frozenset({Role.OWNER}),
            staff_permission="workspaces.change_membership",
        ),
        Action(
            GRANT_CHECKERS,
            "Grant or remove the output-checker role",
            frozenset(),
            steward_only=True,
            guardian=False,
        ),
        Action(
            VIEW_DATASETS,
            "See datasets' schemas and browse their synthetic samples",
            frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER}),
            rules={"DatasetVersion": "ready_or_steward"},
        ),
        Action(
            MANAGE_DATASETS,
            "Upload, version, classify and erase datasets",
            frozenset({Role.OUTPUT_CHECKER}),
            staff_permission=STEWARD_PERMISSION,
            steward_only=True,
        ),
        Action(
            SUBMIT_JOBS,
            "Submit jobs, and re-run one's own",
            frozenset({Role.RESEARCHER}),
            rules={"Job": "submitter"},
        ),
        Action(
            CANCEL_JOB,
            "Cancel one's own job (an owner may stop any)",
            frozenset({Role.RESEARCHER, Role.OWNER}),
            rules={"Job": "submitter_or_owner"},
            guardian=False,
        ),
        Action(
            VIEW_JOBS,
            "See the workspace's jobs, their state and their dry-run outputs",
            frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER}),
        ),
        Action(
            REQUEST_RELEASE,
            "Ask for outputs of one's own real-data runs to be released, and download "
            "released ones",
            frozenset({Role.RESEARCHER}),
            rules={"Job": "submitter", "ReleaseRequest": "requester"},
        ),
        Action(
            VIEW_RELEASE,
            "See a release request: its researcher and the workspace's output checkers",
            frozenset({Role.RESEARCHER, Role.OUTPUT_CHECKER}),
            rules={"ReleaseRequest": "requester_or_checker"},
            guardian=False,
        ),
        Action(
            ASK_PRIVATE_QUESTIONS,
            "Ask questions of the real data answered with differential privacy, spending "
            "the dataset's privacy budget",
            frozenset({Role.RESEARCHER}),
        ),
        Action(
            REVIEW_RELEASE,
            "Review release requests: see the outputs, vote, return, reject or release",
            frozenset({Role.OUTPUT_CHECKER}),
            rules={"ReleaseRequest": "not_requester"},
        ),
    ]
}


def permissions_for_roles(roles) -> set[str]:
    """The guardian codenames on the workspace that these roles grant."""
    return {
        codename
        for codename, action in ACTIONS.items()
        if action.guardian and action.roles & set(roles)
    }


def _workspace_of(obj):
    return obj if obj._meta.label == "workspaces.Workspace" else obj.workspace


def roles_in(user, workspace) -> frozenset[str]:
    """The roles `user` holds in `workspace` (none for a visitor)."""
    if workspace.pk is None or not user.is_authenticated:
        return frozenset()
    from workspaces.models import Membership

    membership = Membership.objects.filter(workspace=workspace, user=user).only("roles").first()
    return frozenset(membership.roles if membership else ())


def _granted(user, spec: Action, workspace, roles: frozenset[str]) -> bool:
    """Whether one of the user's roles in the workspace grants the action: guardian's
    object permissions for the workspace-level grants, the membership's `roles` for the
    rest."""
    if spec.guardian:
        from guardian.shortcuts import get_user_perms

        return workspace.pk is not None and spec.codename in set(get_user_perms(user, workspace))
    return bool(roles & spec.roles)


def why_not(user, action: str, obj) -> str | None:
    """None if `user` may do `action` to `obj` (a workspace, or a job, release request,
    dataset... that belongs to one); else why not, in words for the user."""
    spec = ACTIONS[action]  # an unknown action is a programming error, not a "no"
    if user is None or not user.is_authenticated or not user.is_active:
        return "sign in first"
    staff = bool(spec.staff_permission and user.is_staff and user.has_perm(spec.staff_permission))
    if spec.site_level:
        return None if staff else f"only site admins may {spec.description.lower()}"
    workspace = _workspace_of(obj)
    if spec.steward_only and not is_data_steward(user):
        return "only data stewards may do that"
    rule_name = spec.rules.get(obj._meta.object_name)
    # One query for the roles, and only where a rule or a non-guardian grant needs them.
    roles = roles_in(user, workspace) if rule_name or not spec.guardian else frozenset()
    if spec.roles and not (staff or _granted(user, spec, workspace, roles)):
        return f"not allowed to {spec.description.lower()}"
    if rule_name is not None:
        rule = RULES[rule_name]
        if not rule.test(user, obj, roles):
            return rule.refusal
    return None


def may(user, action: str, obj) -> bool:
    """May `user` do `action` to `obj` (a workspace or anything that belongs to one)?"""
    return why_not(user, action, obj) is None


def authorize(user, action: str, obj) -> None:
    """Raise PermissionDenied unless `may(user, action, obj)`; services call this first."""
    reason = why_not(user, action, obj)
    if reason is not None:
        raise PermissionDenied(reason[0].upper() + reason[1:] + ".")


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
    A membership made before roles were separated that holds both researcher and output
    checker keeps researcher and loses output checker (least access), with an audit
    entry: a data steward can make someone else the checker.
    """
    from django.apps import apps
    from django.db import transaction

    from tre import audit

    membership_model = apps.get_model("workspaces", "Membership")
    count = 0
    with transaction.atomic():
        for membership in membership_model.objects.select_related("user", "workspace"):
            if set(membership.roles) >= SEPARATED_ROLES:
                before = list(membership.roles)
                membership.roles = [role for role in before if role != Role.OUTPUT_CHECKER]
                membership.save(update_fields=["roles"])
                audit.record(
                    action="membership.roles_separated",
                    target=membership,
                    workspace=membership.workspace,
                    details={
                        "user": membership.user.get_username(),
                        "before": before,
                        "after": membership.roles,
                    },
                )
            sync_workspace_permissions(
                user=membership.user, workspace=membership.workspace, roles=membership.roles
            )
            count += 1
    return count
