from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from workspaces import services
from workspaces.models import Classification, Dataset, Workspace
from workspaces.services.datasets import Upload, suggested_decisions


class Command(BaseCommand):
    help = (
        "Ingest a CSV or Parquet file as a dataset (or a new version of one), the same way "
        "the portal's upload does. For site admins and for files too large for a browser."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="The workspace's slug.")
        parser.add_argument("--name", required=True, help="The dataset's name.")
        parser.add_argument("--file", required=True, type=Path)
        parser.add_argument("--by", required=True, help="Username of the acting steward or admin.")
        parser.add_argument(
            "--classification", default=Classification.CONFIDENTIAL, choices=Classification.values
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--encoding", default="utf-8")
        parser.add_argument(
            "--accept-suggestions",
            action="store_true",
            help="Apply the identifier scan's suggested action to every flagged column "
            "instead of leaving the decision to a steward in the portal.",
        )

    def handle(self, *args, **options):
        try:
            workspace = Workspace.objects.get(slug=options["workspace"])
            by = get_user_model().objects.get(username=options["by"])
        except (Workspace.DoesNotExist, get_user_model().DoesNotExist) as error:
            raise CommandError(str(error)) from None
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        dataset = Dataset.objects.filter(
            workspace=workspace, name=options["name"], erased_at=None
        ).first()
        try:
            version = services.ingest_dataset(
                workspace=workspace,
                upload=Upload(open_binary=lambda: path.open("rb"), size_bytes=path.stat().st_size),
                by=by,
                name=options["name"],
                classification=options["classification"],
                description=options["description"],
                dataset=dataset,
                encoding=options["encoding"],
            )
            self.stdout.write(f"Staged {version}: {version.row_count} rows.")
            for finding in version.findings:
                self.stdout.write(f"  flagged {finding['column']}: {finding['reason']}")
            if options["accept_suggestions"]:
                version = services.decide_columns(
                    version=version, decisions=suggested_decisions(version), by=by
                )
                self.stdout.write(f"{version} is ready; its synthetic sample is queued.")
        except (ValidationError, PermissionDenied) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)]))) from None
