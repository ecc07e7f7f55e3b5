import argparse
import getpass

from django.core.management.base import BaseCommand, CommandError

from products.eventstore import Checkpoint
from projections import operations


class Command(BaseCommand):
    help = (
        "Move a stalled projection past the one event it cannot apply, recording why. Use it only "
        "when that event can never be applied (projection_status shows its token as failed_position); "
        "the read model then lacks that event's effect until a rebuild with a fixed projector."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--event", type=position_token, required=True, metavar="TOKEN",
                            help="The failed event's position token, as projection_status shows it "
                                 "(failed_position, such as 812-17): the next event the projection applies.")
        parser.add_argument("--reason", required=True, help="Why; recorded with the skip.")

    def handle(self, *args, name, event, reason, **options):
        try:
            skipped = operations.skip(name, event, reason, skipped_by=f"manage.py:{os_user()}")
        except (operations.CannotSkip, LookupError) as error:
            raise CommandError(str(error.args[0])) from error
        self.stdout.write(
            f"{name}: skipped event {event} ({skipped.event_type} {skipped.event_id}) because: {skipped.reason}"
        )


def position_token(text: str) -> Checkpoint:
    try:
        return Checkpoint.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a position token: give the failed_position projection_status shows, such as 812-17."
        ) from None


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry, as in some containers
        return "unknown"
