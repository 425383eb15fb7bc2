from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import ApiToken, User
from accounts.tokens import revoke_token
from tre.admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "last_login",
        "date_joined",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email", "first_name", "last_name"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens change only through accounts.tokens: people make and revoke their own in
    the portal; a superuser may revoke any here."""

    list_display = [
        "user",
        "name",
        "prefix",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["scope", "revoked_at", "expires_at"]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    # The hash is of no use to anyone reading the admin, and the window is bookkeeping.
    exclude = ["secret_hash", "window_started_at", "window_requests"]
    actions = ["revoke"]

    def has_revoke_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = 0
        for token in queryset:
            if token.revoked_at is None:
                revoke_token(token=token, by=request.user)
                revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
