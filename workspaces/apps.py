from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _resync_permissions(sender, **kwargs):
    from tre.permissions import sync_all_workspace_permissions

    sync_all_workspace_permissions()


class WorkspacesConfig(AppConfig):
    name = "workspaces"

    def ready(self):
        from workspaces import signals  # noqa: F401  (keeps guardian in step with memberships)

        post_migrate.connect(_resync_permissions, sender=self)
