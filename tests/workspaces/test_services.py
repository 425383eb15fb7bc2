import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from tests.factories import UserFactory
from tre.models import AuditEvent
from tre.permissions import MANAGE_MEMBERS, REVIEW_RELEASE, VIEW_WORKSPACE, may
from workspaces import services
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db


def test_site_admin_creates_a_workspace_and_it_is_audited(site_admin):
    workspace = services.create_workspace(name="Renal cohort", by=site_admin)
    assert workspace.slug == "renal-cohort"
    event = AuditEvent.objects.get(action="workspace.created")
    assert (event.actor, event.workspace) == (site_admin, workspace)


def test_only_site_admins_create_workspaces(owner):
    with pytest.raises(PermissionDenied):
        services.create_workspace(name="Mine", by=owner)
    assert not Workspace.objects.filter(name="Mine").exists()


def test_workspace_addresses_are_unique(site_admin, workspace):
    with pytest.raises(ValidationError, match="already exists"):
        services.create_workspace(name="Cardiac", slug=workspace.slug, by=site_admin)


def test_owner_adds_a_member_who_then_holds_the_permissions(workspace, owner):
    newcomer = UserFactory()
    membership = services.add_member(
        workspace=workspace, user=newcomer, roles=["researcher", "owner"], by=owner
    )
    assert membership.roles == ["owner", "researcher"]  # declaration order
    assert may(newcomer, VIEW_WORKSPACE, workspace)
    assert may(newcomer, MANAGE_MEMBERS, workspace)
    event = AuditEvent.objects.get(action="membership.added")
    assert event.details == {"user": newcomer.username, "roles": ["owner", "researcher"]}
    assert event.workspace == workspace


def test_an_owner_cannot_make_anyone_an_output_checker_not_even_themselves(
    workspace, owner, researcher
):
    with pytest.raises(PermissionDenied, match="data stewards"):
        services.add_member(
            workspace=workspace, user=UserFactory(), roles=["output_checker"], by=owner
        )
    own = Membership.objects.get(user=owner, workspace=workspace)
    with pytest.raises(PermissionDenied, match="data stewards"):
        services.change_member_roles(membership=own, roles=["owner", "output_checker"], by=owner)
    assert all("output_checker" not in roles for roles in Membership.objects.values_list(
        "roles", flat=True))  # fmt: skip


def test_a_data_steward_grants_the_checker_role_but_never_to_a_researcher(
    workspace, checker, researcher
):
    newcomer = UserFactory()
    membership = services.add_member(
        workspace=workspace, user=newcomer, roles=["output_checker"], by=checker
    )
    assert membership.roles == ["output_checker"]
    theirs = Membership.objects.get(user=researcher, workspace=workspace)
    with pytest.raises(ValidationError, match="both a researcher and an output checker"):
        services.change_member_roles(
            membership=theirs, roles=["researcher", "output_checker"], by=checker
        )


def test_a_checker_who_is_not_a_data_steward_cannot_grant_the_role(workspace, checker):
    plain = UserFactory(username="pia")
    Membership.objects.create(workspace=workspace, user=plain, roles=["output_checker"])
    with pytest.raises(PermissionDenied, match="data stewards"):
        services.add_member(
            workspace=workspace, user=UserFactory(), roles=["output_checker"], by=plain
        )


def test_an_owner_cannot_remove_a_checker(workspace, owner, checker):
    with pytest.raises(PermissionDenied, match="data stewards"):
        services.remove_member(
            membership=Membership.objects.get(user=checker, workspace=workspace), by=owner
        )


def test_existing_members_with_both_roles_keep_research_and_lose_checking(workspace):
    from tre.permissions import sync_all_workspace_permissions

    both = UserFactory()
    membership = Membership.objects.create(workspace=workspace, user=both, roles=["researcher"])
    Membership.objects.filter(pk=membership.pk).update(roles=["researcher", "output_checker"])
    sync_all_workspace_permissions()
    membership.refresh_from_db()
    assert membership.roles == ["researcher"]
    assert not may(both, REVIEW_RELEASE, workspace)
    assert AuditEvent.objects.filter(action="membership.roles_separated").exists()


@pytest.mark.parametrize("member", ["researcher", "checker", "outsider"])
def test_non_owners_cannot_add_members(request, workspace, member):
    actor = request.getfixturevalue(member)
    with pytest.raises(PermissionDenied):
        services.add_member(workspace=workspace, user=UserFactory(), roles=["owner"], by=actor)
    assert not AuditEvent.objects.filter(action="membership.added").exists()


def test_owner_of_another_workspace_cannot_manage_this_one(workspace, outsider, researcher):
    membership = Membership.objects.get(user=researcher, workspace=workspace)
    with pytest.raises(PermissionDenied):
        services.change_member_roles(membership=membership, roles=["owner"], by=outsider)
    with pytest.raises(PermissionDenied):
        services.remove_member(membership=membership, by=outsider)


def test_adding_twice_is_refused(workspace, owner, researcher):
    with pytest.raises(ValidationError, match="already a member"):
        services.add_member(workspace=workspace, user=researcher, roles=["owner"], by=owner)


@pytest.mark.parametrize("roles", [[], ["superhero"], ["owner", "owner"]])
def test_bad_roles_are_refused(workspace, owner, roles):
    with pytest.raises(ValidationError):
        services.add_member(workspace=workspace, user=UserFactory(), roles=roles, by=owner)


def test_deactivated_users_cannot_join(workspace, owner):
    with pytest.raises(ValidationError, match="deactivated"):
        services.add_member(
            workspace=workspace, user=UserFactory(is_active=False), roles=["researcher"], by=owner
        )


def test_changing_roles_changes_permissions_and_is_audited(workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher, workspace=workspace)
    services.change_member_roles(membership=membership, roles=["researcher", "owner"], by=owner)
    assert may(researcher, MANAGE_MEMBERS, workspace)
    event = AuditEvent.objects.get(action="membership.roles_changed")
    assert event.details == {
        "user": "rae",
        "before": ["researcher"],
        "after": ["owner", "researcher"],
    }


def test_unchanged_roles_write_nothing(workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher, workspace=workspace)
    services.change_member_roles(membership=membership, roles=["researcher"], by=owner)
    assert not AuditEvent.objects.filter(action="membership.roles_changed").exists()


def test_removing_a_member_revokes_everything_and_is_audited(workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher, workspace=workspace)
    services.remove_member(membership=membership, by=owner)
    assert not may(researcher, VIEW_WORKSPACE, workspace)
    assert AuditEvent.objects.get(action="membership.removed").details == {
        "user": "rae",
        "roles": ["researcher"],
    }


def test_the_last_owner_can_neither_leave_nor_lose_the_role(workspace, owner):
    membership = Membership.objects.get(user=owner, workspace=workspace)
    with pytest.raises(ValidationError, match="at least one owner"):
        services.remove_member(membership=membership, by=owner)
    with pytest.raises(ValidationError, match="at least one owner"):
        services.change_member_roles(membership=membership, roles=["researcher"], by=owner)
    assert may(owner, MANAGE_MEMBERS, workspace)


def test_an_owner_may_step_down_when_another_owner_remains(workspace, owner):
    second_owner = UserFactory()
    services.add_member(workspace=workspace, user=second_owner, roles=["owner"], by=owner)
    membership = Membership.objects.get(user=owner, workspace=workspace)
    services.change_member_roles(membership=membership, roles=["researcher"], by=owner)
    assert not may(owner, MANAGE_MEMBERS, workspace)
    assert may(second_owner, MANAGE_MEMBERS, workspace)


def test_a_user_holds_different_roles_in_different_workspaces(
    workspace, other_workspace, owner, site_admin
):
    services.add_member(workspace=other_workspace, user=owner, roles=["researcher"], by=site_admin)
    assert may(owner, MANAGE_MEMBERS, workspace)
    assert may(owner, VIEW_WORKSPACE, other_workspace)
    assert not may(owner, MANAGE_MEMBERS, other_workspace)
