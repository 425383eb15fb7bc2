import pytest
from guardian.shortcuts import get_user_perms

from tests.factories import MembershipFactory, UserFactory
from tre.permissions import (
    ACTIONS,
    ASK_PRIVATE_QUESTIONS,
    MANAGE_DATASETS,
    MANAGE_MEMBERS,
    REQUEST_RELEASE,
    REVIEW_RELEASE,
    SUBMIT_JOBS,
    VIEW_DATASETS,
    VIEW_JOBS,
    VIEW_WORKSPACE,
    Role,
    may,
    permissions_for_roles,
    sync_all_workspace_permissions,
)
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def test_every_declared_action_is_a_permission_on_the_workspace_model():
    from django.contrib.auth.models import Permission

    codenames = set(
        Permission.objects.filter(
            content_type__app_label="workspaces", content_type__model="workspace"
        ).values_list("codename", flat=True)
    )
    assert {codename for codename, action in ACTIONS.items() if action.guardian} <= codenames


RESEARCHER_GRANTS = {
    VIEW_WORKSPACE, VIEW_DATASETS, SUBMIT_JOBS, VIEW_JOBS, REQUEST_RELEASE, ASK_PRIVATE_QUESTIONS
}  # fmt: skip
CHECKER_GRANTS = {VIEW_WORKSPACE, VIEW_DATASETS, MANAGE_DATASETS, VIEW_JOBS, REVIEW_RELEASE}


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([Role.OWNER], {VIEW_WORKSPACE, MANAGE_MEMBERS}),
        ([Role.RESEARCHER], RESEARCHER_GRANTS),
        ([Role.OUTPUT_CHECKER], CHECKER_GRANTS),
        ([Role.OWNER, Role.OUTPUT_CHECKER], {MANAGE_MEMBERS} | CHECKER_GRANTS),
        ([], set()),
    ],
)
def test_roles_grant_their_declared_permissions(roles, expected):
    assert permissions_for_roles(roles) == expected


def test_guardian_follows_membership_both_ways(workspace):
    user = UserFactory()
    membership = MembershipFactory(workspace=workspace, user=user, roles=["researcher"])
    assert set(get_user_perms(user, workspace)) == RESEARCHER_GRANTS

    membership.roles = ["owner"]
    membership.save()
    assert set(get_user_perms(user, workspace)) == {VIEW_WORKSPACE, MANAGE_MEMBERS}

    membership.roles = ["output_checker"]
    membership.save()
    assert set(get_user_perms(user, workspace)) == CHECKER_GRANTS

    membership.delete()
    assert set(get_user_perms(user, workspace)) == set()


def test_roles_in_one_workspace_grant_nothing_in_another(workspace, other_workspace):
    user = UserFactory()
    MembershipFactory(workspace=workspace, user=user, roles=["owner"])
    assert may(user, MANAGE_MEMBERS, workspace)
    assert not may(user, VIEW_WORKSPACE, other_workspace)


def test_a_superuser_who_is_not_a_member_cannot_see_the_workspace(workspace, site_admin):
    assert not may(site_admin, VIEW_WORKSPACE, workspace)


def test_site_staff_may_manage_members_through_the_declared_global_permission(
    workspace, site_admin
):
    assert may(site_admin, MANAGE_MEMBERS, workspace)
    staff_without_permission = UserFactory(is_staff=True)
    assert not may(staff_without_permission, MANAGE_MEMBERS, workspace)


def test_a_deactivated_member_may_do_nothing(workspace, owner):
    owner.is_active = False
    owner.save()
    assert not may(owner, VIEW_WORKSPACE, workspace)
    assert not may(owner, MANAGE_MEMBERS, workspace)


def test_anonymous_may_do_nothing(workspace):
    from django.contrib.auth.models import AnonymousUser

    assert not may(AnonymousUser(), VIEW_WORKSPACE, workspace)
    assert not may(None, VIEW_WORKSPACE, workspace)


def test_unknown_action_is_a_programming_error(workspace, owner):
    with pytest.raises(KeyError):
        may(owner, "launch_rockets", workspace)


def test_resync_repairs_permissions_changed_behind_its_back(workspace, researcher):
    from guardian.shortcuts import assign_perm, remove_perm

    remove_perm(f"workspaces.{VIEW_WORKSPACE}", researcher, workspace)
    assign_perm(f"workspaces.{MANAGE_MEMBERS}", researcher, workspace)
    assert sync_all_workspace_permissions() == Membership.objects.count()
    assert set(get_user_perms(researcher, workspace)) == RESEARCHER_GRANTS
