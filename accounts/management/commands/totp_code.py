from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from accounts.services import current_code


class Command(BaseCommand):
    help = (
        "Print the code a demo user's authenticator app would show now (development "
        "only: `python3 dev.py code USER`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}.")
        try:
            self.stdout.write(current_code(user))
        except PermissionDenied as refusal:
            raise CommandError(str(refusal)) from None
        except Authenticator.DoesNotExist:
            raise CommandError(f"{username} has no authenticator app enrolled.") from None
