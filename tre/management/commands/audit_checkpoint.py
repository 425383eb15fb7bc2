from django.core.management.base import BaseCommand, CommandError

from tre.audit import make_checkpoint, save_checkpoint


class Command(BaseCommand):
    help = (
        "Print a checkpoint of the audit trail's head, MACed with the audit key, to keep "
        "outside the database; `verify_audit_chain --checkpoint` checks it later."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o",
            "--output",
            metavar="FILE",
            help="write it to this new file (mode 0600) instead; never over an existing one",
        )

    def handle(self, *args, output, **options):
        if output is None:
            self.stdout.write(make_checkpoint().to_json(), ending="")
            return
        try:
            checkpoint = save_checkpoint(output)
        except FileExistsError:
            raise CommandError(f"{output} exists: a checkpoint is never overwritten.") from None
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}.") from None
        self.stdout.write(f"Checkpoint of #{checkpoint.sequence} written to {output}.")
