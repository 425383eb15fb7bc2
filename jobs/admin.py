from django.contrib import admin

from jobs.models import Job, JobOutput
from tre.admin import ReadOnlyAdmin


class JobOutputInline(admin.TabularInline):
    model = JobOutput
    fields = ["name", "type", "kind", "size_bytes", "sha256", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Jobs are looked at here; they change only through their services and workers.
    Logs are not shown: a real run's log may quote data."""

    list_display = ["__str__", "workspace", "mode", "status", "submitted_by", "created_at",
                    "wall_seconds", "worker"]  # fmt: skip
    list_filter = ["status", "mode", "workspace"]
    search_fields = ["title", "submitted_by__username", "workspace__name", "worker"]
    list_select_related = ["workspace", "submitted_by"]
    date_hierarchy = "created_at"
    exclude = ["log", "script"]
    inlines = [JobOutputInline]


@admin.register(JobOutput)
class JobOutputAdmin(ReadOnlyAdmin):
    list_display = ["name", "job", "type", "kind", "size_bytes", "created_at"]
    list_filter = ["type"]
    search_fields = ["name", "description"]
    exclude = ["file"]
