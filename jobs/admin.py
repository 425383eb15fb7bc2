from django.contrib import admin

from jobs.models import (
    Job,
    JobOutput,
    ReleaseRequest,
    RequestedOutput,
    Review,
    SupportingFile,
    Vote,
)
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


class RequestedOutputInline(admin.TabularInline):
    model = RequestedOutput
    fields = ["output", "what_it_is", "revision", "added_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReleaseRequest)
class ReleaseRequestAdmin(ReadOnlyAdmin):
    """Release requests move only through the airlock's review in the portal."""

    list_display = ["__str__", "job", "requested_by", "status", "round", "approvals_required",
                    "created_at", "decided_at"]  # fmt: skip
    list_filter = ["status", "job__workspace"]
    search_fields = ["description", "requested_by__username"]
    list_select_related = ["job", "requested_by"]
    inlines = [RequestedOutputInline]


@admin.register(RequestedOutput)
class RequestedOutputAdmin(ReadOnlyAdmin):
    list_display = ["output", "request", "revision", "added_at"]
    search_fields = ["what_it_is", "why_needed"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ["request", "reviewer", "round", "submitted_at"]
    list_filter = ["round"]
    search_fields = ["reviewer__username"]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ["item", "review", "decision", "comment_visibility", "updated_at"]
    list_filter = ["decision", "comment_visibility"]
    search_fields = ["comment"]


@admin.register(SupportingFile)
class SupportingFileAdmin(ReadOnlyAdmin):
    list_display = ["name", "request", "size_bytes", "uploaded_at"]
    search_fields = ["name"]
    exclude = ["file"]
