import io

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import Client, RequestFactory

from tre.audit import verify_chain
from tre.permissions import MANAGE_MEMBERS, VIEW_WORKSPACE, may
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_demo_has_a_user_for_each_role_who_can_sign_in(capsys):
    call_command("seed_demo", password="demo-password-123")
    output = capsys.readouterr().out

    workspace = Workspace.objects.get(slug="demo")
    users = {user.username: user for user in get_user_model().objects.all()}
    assert may(users["owner"], MANAGE_MEMBERS, workspace)
    assert may(users["researcher"], VIEW_WORKSPACE, workspace)
    assert not may(users["researcher"], MANAGE_MEMBERS, workspace)
    assert may(users["checker"], VIEW_WORKSPACE, workspace)
    assert users["admin"].is_superuser
    version = workspace.datasets.get(name="admissions").versions.get()
    assert version.status == "ready"
    assert "patient_name" not in [column["name"] for column in version.schema]
    assert version.synthetic_sample.status == "queued"
    for username in ["admin", "owner", "researcher", "checker", "checker2"]:
        assert username in output
        sign_in_as_a_newcomer_would(username, "demo-password-123")
    assert "python3 dev.py code USER" in output


def sign_in_as_a_newcomer_would(username, password):
    """With the printed password, and the code `python3 dev.py code USER` prints."""
    client = Client()
    response = client.post("/accounts/login/", {"login": username, "password": password})
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    code = io.StringIO()
    call_command("totp_code", username, stdout=code)
    response = client.post("/accounts/2fa/authenticate/", {"code": code.getvalue().strip()})
    assert response.status_code == 302
    assert client.get("/workspaces/").status_code == 200


def test_codes_are_printed_in_development_only(settings):
    call_command("seed_demo", password="demo-password-123")
    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError, match="development only"):
        call_command("totp_code", "researcher")


def test_running_it_again_refreshes_passwords_and_keeps_one_workspace(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert Workspace.objects.filter(slug="demo").count() == 1
    password_of = {
        line.split()[0]: line.split()[1] for line in first.splitlines() if line.startswith("  ")
    }
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="owner", password=password_of["owner"]) is None
    assert password_of["owner"] not in second
    # The second factor stays: the authenticator app a person set up keeps working.
    assert Authenticator.objects.filter(user__username="owner", type="totp").count() == 1
    assert verify_chain().is_intact
