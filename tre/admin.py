from django.contrib import admin

from tre.models import AuditChainHead, AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """For models that change only through their services (or never): look, don't touch."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "sequence",
        "created_at",
        "actor_label",
        "action",
        "target_type",
        "target_label",
        "workspace_id",
        "ip_address",
    ]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor_label", "action", "target_label", "target_id", "ip_address"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "entry_hash"]
