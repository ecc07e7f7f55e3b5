from django.core.management.base import BaseCommand, CommandError

from projections import engine, operations
from projections.models import ProjectionState


class Command(BaseCommand):
    help = (
        "Give a stalled (or backing-off) projection a fresh set of attempts now. Use it once the "
        "cause of its last error is fixed; if one event can never be applied, skip it instead. "
        "A rebuild's new generation is NAME.next."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")

    def handle(self, *args, name, **options):
        try:
            operations.retry(name)
        except LookupError as error:
            raise CommandError(str(error.args[0])) from error
        state = ProjectionState.objects.get(name=name)
        lag = engine.lag(state)
        self.stdout.write(f"{name}: {state.status}, {lag:,} events to apply; the next sweep (or nudge) runs it.")
