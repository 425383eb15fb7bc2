import pytest
from django.apps import apps
from django.urls import reverse

from tests.factories import UserFactory
from tre import audit
from tre.models import AuditEvent
from tre.permissions import MANAGE_MEMBERS, VIEW_WORKSPACE, may
from workspaces.models import Membership, Workspace

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"tre", "accounts", "workspaces", "jobs"}


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


def project_models():
    return [model for model in apps.get_models() if model._meta.app_label in PROJECT_APPS]


def test_every_project_model_is_in_the_admin():
    from django.contrib import admin

    missing = [model.__name__ for model in project_models() if not admin.site.is_registered(model)]
    assert missing == []


def test_every_changelist_renders_with_search_and_filters(admin_client, workspace, owner):
    audit.record(action="test.seed", by=owner, target=workspace)
    for model in project_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url, {"q": "a"}).status_code == 200, url


def test_non_staff_cannot_open_the_admin(client, owner):
    client.force_login(owner)
    response = client.get("/admin/workspaces/membership/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_creating_a_workspace_in_the_admin_is_audited(admin_client, site_admin):
    response = admin_client.post(
        "/admin/workspaces/workspace/add/",
        {
            "name": "Renal",
            "slug": "renal",
            "description": "",
            "real_runs_per_day": "20",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    workspace = Workspace.objects.get(slug="renal")
    assert AuditEvent.objects.filter(action="workspace.created", workspace=workspace).exists()
    assert AuditEvent.objects.filter(action="admin.added", target_id=str(workspace.pk)).exists()


def test_adding_a_membership_in_the_admin_goes_through_the_service(
    admin_client, workspace, site_admin
):
    user = UserFactory(username="nia")
    response = admin_client.post(
        "/admin/workspaces/membership/add/",
        {"workspace": workspace.pk, "user": user.pk, "roles": ["owner", "researcher"]},
    )
    assert response.status_code == 302, response.content
    assert may(user, MANAGE_MEMBERS, workspace)
    added = AuditEvent.objects.get(action="membership.added")
    assert added.actor == site_admin
    assert AuditEvent.objects.filter(action="admin.added", actor=site_admin).exists()


def test_changing_roles_in_the_admin_updates_permissions(
    admin_client, workspace, owner, researcher
):
    membership = Membership.objects.get(user=researcher)
    response = admin_client.post(
        f"/admin/workspaces/membership/{membership.pk}/change/", {"roles": ["output_checker"]}
    )
    assert response.status_code == 302, response.content
    assert AuditEvent.objects.get(action="membership.roles_changed").details["after"] == [
        "output_checker"
    ]
    assert may(researcher, VIEW_WORKSPACE, workspace)


def test_the_admin_refuses_to_strip_the_last_owner(admin_client, workspace, owner):
    membership = Membership.objects.get(user=owner)
    response = admin_client.post(
        f"/admin/workspaces/membership/{membership.pk}/change/", {"roles": ["researcher"]}
    )
    assert response.status_code == 200
    assert b"must keep at least one owner" in response.content
    response = admin_client.post(
        f"/admin/workspaces/membership/{membership.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_deleting_a_membership_in_the_admin_revokes_and_audits(
    admin_client, workspace, owner, researcher
):
    membership = Membership.objects.get(user=researcher)
    response = admin_client.post(
        f"/admin/workspaces/membership/{membership.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not may(researcher, VIEW_WORKSPACE, workspace)
    assert AuditEvent.objects.filter(action="membership.removed").exists()
    assert AuditEvent.objects.filter(action="admin.deleted").exists()


def test_the_audit_trail_is_read_only_in_the_admin(admin_client, owner, workspace):
    event = audit.record(action="test.seed", by=owner, target=workspace)
    assert admin_client.get("/admin/tre/auditevent/add/").status_code == 403
    assert admin_client.get(f"/admin/tre/auditevent/{event.pk}/change/").status_code == 200
    response = admin_client.post(
        f"/admin/tre/auditevent/{event.pk}/change/", {"action": "test.rewritten"}
    )
    assert response.status_code == 403
    assert (
        admin_client.post(f"/admin/tre/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert audit.verify_chain().is_intact


def test_an_admin_sets_a_workspaces_job_limits(admin_client, workspace):
    response = admin_client.post(
        f"/admin/workspaces/workspace/{workspace.pk}/change/",
        {
            "name": workspace.name,
            "description": "",
            "job_limits": '{"wall_seconds": 60}',
            "real_runs_per_day": "5",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    workspace.refresh_from_db()
    assert workspace.job_limits == {"wall_seconds": 60}
    from jobs.runtime import limits_for

    assert limits_for(workspace).wall_seconds == 60
    details = AuditEvent.objects.get(action="workspace.changed").details
    assert details["job_limits"] == {"wall_seconds": 60}
    assert details["real_runs_per_day"] == workspace.real_runs_per_day == 5


def test_unknown_or_silly_job_limits_are_refused(admin_client, workspace):
    for limits, message in [
        ('{"warp_speed": 9}', b"Unknown limit"),
        ('{"wall_seconds": -5}', b"positive whole number"),
    ]:
        response = admin_client.post(
            f"/admin/workspaces/workspace/{workspace.pk}/change/",
            {
                "name": workspace.name,
                "description": "",
                "job_limits": limits,
                "real_runs_per_day": "20",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 200
        assert message in response.content
    workspace.refresh_from_db()
    assert workspace.job_limits == {}
