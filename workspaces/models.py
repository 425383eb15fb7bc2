from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from tre.permissions import Role


class Workspace(models.Model):
    """A project space: its members, the datasets they may study and their jobs."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        # view_workspace is one of Django's default permissions; guardian grants
        # these per workspace from the roles (tre.permissions.ACTIONS).
        permissions = [("manage_members", "Manage the workspace's members and their roles")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("workspaces:detail", kwargs={"slug": self.slug})


def validate_roles(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("A membership needs at least one role.")
    unknown = sorted(set(value) - set(Role.values))
    if unknown:
        raise ValidationError(f"Unknown role(s): {', '.join(unknown)}.")
    if len(set(value)) != len(value):
        raise ValidationError("A role is listed twice.")


class Membership(models.Model):
    """A user's roles in one workspace. Changes go through workspaces.services."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    roles = models.JSONField(validators=[validate_roles])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["workspace", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} in {self.workspace}"

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def get_roles_display(self) -> str:
        return ", ".join(Role(role).label for role in Role.values if role in self.roles)
