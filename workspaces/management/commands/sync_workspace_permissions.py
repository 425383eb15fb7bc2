from django.core.management.base import BaseCommand

from tre.permissions import sync_all_workspace_permissions


class Command(BaseCommand):
    help = "Recompute every member's object permissions from their roles (idempotent)."

    def handle(self, *args, **options):
        count = sync_all_workspace_permissions()
        self.stdout.write(f"Permissions in step for {count} memberships.")
