import io
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.services import enrol_authenticator_app
from privacy import services as privacy_services
from tre.demo import PRIVACY_COLUMNS, admissions_csv
from tre.permissions import Role, steward_group
from workspaces import services
from workspaces.models import Classification, Dataset, Membership, Workspace
from workspaces.services.datasets import Upload, suggested_decisions

DEMO_WORKSPACE = {
    "slug": "demo",
    "name": "Demo: hospital readmissions",
    "description": "A demo workspace. Researchers study readmissions without seeing a patient row.",
}
# username -> (first name, last name, roles in the demo workspace). Nobody is both a
# researcher and an output checker; `checker` is also the site's data steward.
DATA_STEWARDS = {"checker"}
DEMO_USERS = {
    "owner": ("Olu", "Owner", [Role.OWNER, Role.RESEARCHER]),
    "researcher": ("Rae", "Researcher", [Role.RESEARCHER]),
    "checker": ("Chen", "Checker", [Role.OUTPUT_CHECKER]),
    "checker2": ("Kai", "Checker", [Role.OUTPUT_CHECKER]),
}


class Command(BaseCommand):
    help = "Create (or refresh) the demo users and workspace, and print fresh passwords."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Use this password for every demo user "
            "instead of a fresh random one each (for scripted demos).",
        )

    def handle(self, *args, password=None, **options):
        User = get_user_model()
        passwords = {}
        with transaction.atomic():
            admin, _ = User.objects.get_or_create(
                username="admin",
                defaults={"email": "admin@example.org", "first_name": "Ada", "last_name": "Admin"},
            )
            admin.is_staff = admin.is_superuser = admin.is_active = True
            passwords["admin"] = password or secrets.token_urlsafe(12)
            admin.set_password(passwords["admin"])
            admin.save()
            enrol_authenticator_app(user=admin)

            workspace = Workspace.objects.filter(slug=DEMO_WORKSPACE["slug"]).first()
            if workspace is None:
                workspace = services.create_workspace(by=admin, **DEMO_WORKSPACE)

            for username, (first_name, last_name, roles) in DEMO_USERS.items():
                user, _ = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "first_name": first_name,
                        "last_name": last_name,
                        "email": f"{username}@example.org",
                    },
                )
                user.is_active = True
                user.is_staff = username in DATA_STEWARDS
                passwords[username] = password or secrets.token_urlsafe(12)
                user.set_password(passwords[username])
                user.save()
                if username in DATA_STEWARDS:
                    user.groups.add(steward_group())
                enrol_authenticator_app(user=user)
                membership = Membership.objects.filter(workspace=workspace, user=user).first()
                if membership is None:
                    services.add_member(workspace=workspace, user=user, roles=roles, by=admin)
                else:
                    services.change_member_roles(membership=membership, roles=roles, by=admin)

        self._seed_dataset(workspace)

        self.stdout.write(
            self.style.SUCCESS(f"Demo workspace: {workspace.name} (/workspaces/{workspace.slug}/)")
        )
        self.stdout.write(
            "Demo users (passwords are new on every run; each signs in with a second factor, "
            "an authenticator app whose current code `python3 dev.py code USER` prints):"
        )
        roles_of = {
            name: ", ".join(Role(r).label for r in spec[2]) for name, spec in DEMO_USERS.items()
        }
        roles_of["admin"] = "site admin (Django admin at /admin/)"
        for username in DATA_STEWARDS:
            roles_of[username] += "; the site's data steward"
        for username, secret in passwords.items():
            self.stdout.write(f"  {username:<11} {secret:<18} {roles_of[username]}")

    def _seed_dataset(self, workspace):
        """The demo dataset, ingested by the demo steward with the scan's suggestions;
        its synthetic sample is queued for the worker."""
        if Dataset.objects.filter(workspace=workspace, name="admissions", erased_at=None).exists():
            return
        steward = get_user_model().objects.get(username="checker")
        content = admissions_csv(rows=5000).encode()
        version = services.ingest_dataset(
            workspace=workspace,
            upload=Upload(open_binary=lambda: io.BytesIO(content), size_bytes=len(content)),
            by=steward,
            name="admissions",
            description="Made-up hospital admissions: one row per stay.",
            classification=Classification.RESTRICTED,
        )
        version = services.decide_columns(
            version=version, decisions=suggested_decisions(version), by=steward
        )
        privacy_services.set_budget(
            version=version, by=steward, epsilon=10, epsilon_per_researcher=5,
            columns=PRIVACY_COLUMNS,
        )  # fmt: skip
        self.stdout.write("Demo dataset: admissions (its synthetic sample is being built)")
