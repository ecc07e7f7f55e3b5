import getpass

from django.core.management.base import BaseCommand, CommandError

from projections import operations


class Command(BaseCommand):
    help = (
        "Move a stalled projection past the one event it cannot apply, recording why. Use it only "
        "when that event can never be applied (see projection_status for its position); the read "
        "model then lacks that event's effect until a rebuild with a fixed projector."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--event", type=int, required=True, metavar="POSITION",
                            help="The position of the event to skip: it must be the next one the projection applies.")
        parser.add_argument("--reason", required=True, help="Why; recorded with the skip.")

    def handle(self, *args, name, event, reason, **options):
        try:
            skipped = operations.skip(name, event, reason, skipped_by=f"manage.py:{os_user()}")
        except (operations.CannotSkip, LookupError) as error:
            raise CommandError(str(error.args[0])) from error
        self.stdout.write(
            f"{name}: skipped event {skipped.position} ({skipped.event_type} {skipped.event_id}) "
            f"because: {skipped.reason}"
        )


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry, as in some containers
        return "unknown"
