from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person who signs in: researcher, data steward or site admin.

    Roles are not held here but per workspace, through memberships.
    """

    class Meta:
        ordering = ["username"]

    def __str__(self):
        full_name = self.get_full_name()
        return f"{full_name} ({self.username})" if full_name else self.username
