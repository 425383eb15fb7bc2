from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count

from tre.admin import ReadOnlyAdmin
from tre.permissions import check_separated, is_data_steward
from workspaces import services
from workspaces.forms import RolesField
from workspaces.models import (
    DataKey,
    Dataset,
    DatasetVersion,
    EncryptedFile,
    Membership,
    SyntheticSample,
    Workspace,
)


class MembershipInline(admin.TabularInline):
    """Members at a glance; changes go through the Membership admin and its services."""

    model = Membership
    fk_name = "workspace"
    fields = ["user", "roles_display", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="roles")
    def roles_display(self, membership):
        return membership.get_roles_display()

    def has_add_permission(self, request, obj=None):
        return False


class WorkspaceAdminForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["name", "slug", "description", "job_limits", "real_runs_per_day"]
        help_texts = {
            "job_limits": 'Overrides of the job sandbox\'s limits, e.g. {"wall_seconds": 3600, '
            '"memory_bytes": 8589934592}. Empty: the defaults.'
        }

    def clean_job_limits(self):
        try:
            return services.validate_job_limits(self.cleaned_data["job_limits"] or {})
        except ValidationError as error:
            raise forms.ValidationError(error.message_dict["job_limits"]) from None


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    form = WorkspaceAdminForm
    list_display = ["name", "slug", "member_count", "created_at", "created_by"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(ordering="member_count", description="members")
    def member_count(self, workspace):
        return workspace.member_count

    def get_readonly_fields(self, request, obj=None):
        # The slug is in every link to the workspace; it does not change after creation.
        return ["slug", "created_at", "created_by"] if obj else ["created_at", "created_by"]

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        if change:
            services.update_workspace(
                workspace=obj,
                name=obj.name,
                description=obj.description,
                job_limits=obj.job_limits,
                real_runs_per_day=obj.real_runs_per_day,
                by=request.user,
            )
        else:
            created = services.create_workspace(
                name=obj.name, slug=obj.slug, description=obj.description, by=request.user
            )
            if (obj.job_limits, obj.real_runs_per_day) != (
                created.job_limits,
                created.real_runs_per_day,
            ):
                created = services.update_workspace(
                    workspace=created,
                    name=created.name,
                    description=created.description,
                    job_limits=obj.job_limits,
                    real_runs_per_day=obj.real_runs_per_day,
                    by=request.user,
                )
            obj.pk = created.pk
            obj.created_at = created.created_at


class MembershipAdminForm(forms.ModelForm):
    roles = RolesField()

    class Meta:
        model = Membership
        fields = ["workspace", "user", "roles"]

    acting_user = None  # set by MembershipAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        if "roles" in cleaned:
            check_separated(cleaned["roles"])
            workspace = self.instance.workspace if self.instance.pk else cleaned.get("workspace")
            if workspace is not None and self.acting_user is not None:
                try:
                    services.authorize_role_change(
                        by=self.acting_user,
                        workspace=workspace,
                        before=self.instance.roles if self.instance.pk else [],
                        after=cleaned["roles"],
                    )
                except PermissionDenied as error:
                    raise forms.ValidationError(str(error)) from None
        if self.instance.pk and "roles" in cleaned:
            services.ensure_an_owner_remains(membership=self.instance, new_roles=cleaned["roles"])
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "workspace", "roles_display", "created_at", "created_by"]
    list_filter = ["workspace"]
    search_fields = ["user__username", "user__email", "workspace__name", "workspace__slug"]
    list_select_related = ["user", "workspace", "created_by"]
    autocomplete_fields = ["user", "workspace"]

    @admin.display(description="roles")
    def roles_display(self, membership):
        return membership.get_roles_display()

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", "user"] if obj else []

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.acting_user = request.user
        return form

    # Data stewards grant and remove the output-checker role here; the services refuse
    # them anything else (tre.permissions).
    def has_module_permission(self, request):
        return super().has_module_permission(request) or is_data_steward(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or is_data_steward(request.user)

    def has_add_permission(self, request):
        return super().has_add_permission(request) or is_data_steward(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or is_data_steward(request.user)

    def save_model(self, request, obj, form, change):
        if change:
            services.change_member_roles(
                membership=Membership.objects.get(pk=obj.pk),
                roles=form.cleaned_data["roles"],
                by=request.user,
            )
        else:
            created = services.add_member(
                workspace=obj.workspace,
                user=obj.user,
                roles=form.cleaned_data["roles"],
                by=request.user,
            )
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        if obj is not None:
            try:
                services.ensure_an_owner_remains(membership=obj, new_roles=[])
            except ValidationError:
                return False
        return super().has_delete_permission(request, obj) or is_data_steward(request.user)

    def delete_model(self, request, obj):
        services.remove_member(membership=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("workspace", "user"):
            try:
                services.remove_member(membership=membership, by=request.user)
            except ValidationError as error:
                self.message_user(
                    request, f"{membership}: {' '.join(error.messages)}", messages.ERROR
                )


class DatasetVersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ["number", "status", "row_count", "created_at", "created_by", "erased_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class DatasetAdminForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=500,
        required=False,
        help_text="Why the classification changes (needed then; kept in the audit trail).",
    )

    class Meta:
        model = Dataset
        fields = ["classification", "description"]

    def clean(self):
        cleaned = super().clean()
        changed = "classification" in self.changed_data
        if changed and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "Say why the classification changes.")
        return cleaned


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Datasets are ingested and erased through the portal or `manage.py ingest_dataset`,
    where the encryption and the identifier decisions happen; here they are looked at."""

    list_display = ["name", "workspace", "classification", "created_at", "created_by", "erased_at"]
    list_filter = ["classification", "workspace", "erased_at"]
    search_fields = ["name", "description", "workspace__name", "workspace__slug"]
    list_select_related = ["workspace", "created_by"]
    readonly_fields = ["workspace", "name", "created_at", "created_by", "erased_at"]
    form = DatasetAdminForm
    fields = [
        *readonly_fields[:2], "classification", "description", "reason", *readonly_fields[2:]
    ]  # fmt: skip
    inlines = [DatasetVersionInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.update_dataset(
            dataset=obj,
            classification=obj.classification,
            description=obj.description,
            reason=form.cleaned_data.get("reason", ""),
            by=request.user,
        )


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "row_count", "source_format", "created_at", "created_by"]
    list_filter = ["status", "source_format", "dataset__workspace"]
    search_fields = ["dataset__name", "dataset__workspace__name"]
    list_select_related = ["dataset", "created_by"]
    exclude = ["staged_file", "data_file"]


@admin.register(SyntheticSample)
class SyntheticSampleAdmin(ReadOnlyAdmin):
    list_display = ["version", "status", "progress", "row_count", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["version__dataset__name"]
    exclude = ["file"]


@admin.register(EncryptedFile)
class EncryptedFileAdmin(ReadOnlyAdmin):
    list_display = ["storage_name", "size_bytes", "sha256", "data_key", "created_at"]
    search_fields = ["storage_name", "sha256"]


@admin.register(DataKey)
class DataKeyAdmin(ReadOnlyAdmin):
    list_display = ["pk", "purpose", "master_key_id", "created_at"]
    list_filter = ["purpose", "master_key_id"]
    search_fields = ["master_key_id"]
    exclude = ["wrapped_key"]
