import pytest

from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tre.models import AuditEvent
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def test_my_workspaces_lists_only_my_own(client, workspace, other_workspace, researcher):
    WorkspaceFactory(name="Secret registry", slug="secret")
    client.force_login(researcher)
    response = client.get("/workspaces/")
    assert [w.slug for w in response.context["workspaces"]] == ["cardiac"]
    assert b"Oncology study" not in response.content
    assert b"Secret registry" not in response.content


def test_my_workspaces_when_i_have_none(client, site_admin):
    client.force_login(site_admin)
    response = client.get("/workspaces/")
    assert b"not a member of any workspace" in response.content


def test_workspace_page_shows_members_and_my_roles(client, workspace, owner, researcher):
    client.force_login(researcher)
    response = client.get("/workspaces/cardiac/")
    content = response.content.decode()
    assert "Your roles: Researcher" in content
    assert "(olu)" in content
    assert "(rae)" in content
    assert "Manage members" not in content


def test_owner_sees_the_way_to_manage_members(client, workspace, owner):
    client.force_login(owner)
    assert b"Manage members" in client.get("/workspaces/cardiac/").content


def test_owner_adds_a_member_by_email(client, workspace, owner):
    newcomer = UserFactory(username="nia", email="nia@hospital.example")
    client.force_login(owner)
    response = client.post(
        "/workspaces/cardiac/members/",
        {"user": "NIA@hospital.example", "roles": ["researcher"]},
        follow=True,
    )
    assert b"joined as Researcher" in response.content
    assert Membership.objects.get(user=newcomer, workspace=workspace).roles == ["researcher"]


def test_an_owner_making_someone_a_checker_is_told_only_stewards_can(client, workspace, owner):
    UserFactory(username="nia")
    client.force_login(owner)
    page = client.get("/workspaces/cardiac/members/").content.decode()
    assert "appointed by the site's data stewards" in page
    assert 'value="output_checker"' not in page
    response = client.post(
        "/workspaces/cardiac/members/", {"user": "nia", "roles": ["output_checker"]}
    )
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="nia").exists()


def test_an_owner_changing_a_checkers_other_roles_keeps_the_checker_role(
    client, workspace, owner, checker
):
    membership = Membership.objects.get(user=checker)
    client.force_login(owner)
    client.post(
        f"/workspaces/cardiac/members/{membership.pk}/roles/",
        {f"member-{membership.pk}-roles": ["owner"]},
    )
    membership.refresh_from_db()
    assert membership.roles == ["owner", "output_checker"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"user": "nobody", "roles": ["researcher"]}, "No single active account"),
        ({"user": "olu", "roles": ["researcher"]}, "already a member"),
        ({"user": "rae"}, "Choose at least one role."),
        ({"user": "rae", "roles": ["emperor"]}, "Select a valid choice"),
    ],
)
def test_adding_a_member_explains_what_is_wrong(client, workspace, owner, data, error):
    UserFactory(username="rae")
    client.force_login(owner)
    response = client.post("/workspaces/cardiac/members/", data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert Membership.objects.filter(workspace=workspace).count() == 1


def test_owner_changes_roles(client, workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher)
    client.force_login(owner)
    response = client.post(
        f"/workspaces/cardiac/members/{membership.pk}/roles/",
        {f"member-{membership.pk}-roles": ["owner", "researcher"]},
        follow=True,
    )
    assert b"is now Owner, Researcher" in response.content
    membership.refresh_from_db()
    assert membership.roles == ["owner", "researcher"]


def test_removing_every_role_is_refused_with_a_message(client, workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher)
    client.force_login(owner)
    response = client.post(f"/workspaces/cardiac/members/{membership.pk}/roles/", {}, follow=True)
    assert b"Choose at least one role." in response.content
    membership.refresh_from_db()
    assert membership.roles == ["researcher"]


def test_owner_removes_a_member(client, workspace, owner, researcher):
    membership = Membership.objects.get(user=researcher)
    client.force_login(owner)
    response = client.post(f"/workspaces/cardiac/members/{membership.pk}/remove/", follow=True)
    assert b"is no longer a member" in response.content
    assert not Membership.objects.filter(pk=membership.pk).exists()
    client.force_login(researcher)
    assert client.get("/workspaces/cardiac/").status_code == 404


def test_last_owner_cannot_remove_themselves(client, workspace, owner):
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)
    response = client.post(f"/workspaces/cardiac/members/{membership.pk}/remove/", follow=True)
    assert b"must keep at least one owner" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_owner_who_leaves_lands_on_their_workspaces(client, workspace, owner):
    MembershipFactory(workspace=workspace, user=UserFactory(), roles=["owner"])
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)
    response = client.post(f"/workspaces/cardiac/members/{membership.pk}/remove/")
    assert response["Location"] == "/workspaces/"


def test_member_changes_through_the_portal_are_audited_with_the_actor(
    client, workspace, owner, researcher
):
    membership = Membership.objects.get(user=researcher)
    client.force_login(owner)
    client.post(
        f"/workspaces/cardiac/members/{membership.pk}/roles/",
        {f"member-{membership.pk}-roles": ["owner"]},
    )
    event = AuditEvent.objects.get(action="membership.roles_changed")
    assert event.actor == owner
    assert event.workspace == workspace
