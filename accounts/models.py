from django.contrib.auth.models import AbstractUser
from django.db import models
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
