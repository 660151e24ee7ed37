"""Give an editor an API token (or a new one with --rotate)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of an editor account, creating it if needed. "
        "The account's Django permissions decide what the token may change."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Replace any existing token (the old one stops working)."
        )

    def handle(self, username, rotate, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is called {username!r}. Create the account first (make superuser).")
        if not user.is_active:
            raise CommandError(f"The account {username!r} is inactive; activate it before issuing a token.")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if not user.is_superuser and not user.user_permissions.exists() and not user.groups.exists():
            self.stderr.write(
                f"Note: {username!r} has no permissions yet, so the token can only read. "
                "Grant model permissions in the admin to allow writes."
            )
        self.stdout.write(token.key)
        state = "new token" if created else "existing token"
        self.stderr.write(f"{state} for {username}; send it as 'Authorization: Token <key>'.")
