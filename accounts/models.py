from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac


class User(AbstractUser):
    """A person who signs in: researcher, data steward or site admin.

    Roles are not held here but per workspace, through memberships.
    """

    # Raised whenever a second factor is added or removed: it is part of the session
    # hash, so every session opened before the change ends, as after a password change.
    session_epoch = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["username"]

    def __str__(self):
        full_name = self.get_full_name()
        return f"{full_name} ({self.username})" if full_name else self.username

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password only; the epoch adds the second factors.
        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}\0{self.session_epoch}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()


class ApiToken(models.Model):
    """A personal token for the JSON API and the command-line client (accounts.tokens).

    Only a SHA-256 of the token is kept: the person sees the token once, when it is
    made. The token is 240 random bits, so a fast unsalted hash is enough (no one can
    guess their way back from it), and it lets a request find its row in one lookup.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        SUBMIT = "submit", "Read and submit"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The token's first characters ("tre_" and 8 more), kept plain: the list shows them so
    # people tell their tokens apart, and a request finds its row by them.
    prefix = models.CharField(max_length=12, db_index=True, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The rate limit's fixed window: when it began, and the requests counted in it.
    window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    window_requests = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_live(self) -> bool:
        return not self.is_revoked and not self.is_expired
