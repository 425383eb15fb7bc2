from django.core.management.base import BaseCommand, CommandError

from tre.audit import CheckpointError, read_checkpoint, verify_chain


class Command(BaseCommand):
    help = (
        "Recompute every audit entry's keyed hash and check the chain end to end, and "
        "that each checkpoint given still holds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            nargs="+",
            action="extend",
            default=[],
            metavar="FILE",
            help="a checkpoint written by `audit_checkpoint` earlier; the entry it names "
            "must still be there with the hash it had",
        )

    def handle(self, *args, checkpoint, **options):
        try:
            checkpoints = [read_checkpoint(path) for path in checkpoint]
        except CheckpointError as error:
            raise CommandError(f"Checkpoint {error}") from None
        report = verify_chain(checkpoints=checkpoints)
        if not report.is_intact:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"The audit trail has been tampered with: {len(report.problems)} problem(s) "
                f"in {report.checked} entries."
            )
        held = f"; {len(checkpoints)} checkpoint(s) hold" if checkpoints else ""
        # Printing the head lets an operator anchor it somewhere outside this database.
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit trail intact: {report.checked} entries, head "
                f"#{report.head_sequence} {report.head_hash}{held}."
            )
        )
