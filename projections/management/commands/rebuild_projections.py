import time

from django.core.management.base import BaseCommand, CommandError

from products import eventstore
from products.eventstore import Checkpoint
from projections import engine, projectors
from projections.management.progress import ProgressBar
from projections.projectors.base import ProjectionFailed


class Command(BaseCommand):
    help = (
        "Empty the named read models and replay the whole event log into them (all but the "
        "integration relay by default). Use it after changing a projector or when a read model is "
        "suspect; its queries see partial rows until the replay ends."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "names", nargs="*", metavar="NAME",
            help="Projections to rebuild. Naming integration_relay publishes the whole log again.",
        )

    def handle(self, *args, names, **options):
        known = projectors.all_projectors()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CommandError(f"Unknown projection(s) {', '.join(unknown)}; known: {', '.join(known)}")
        for name in names or projectors.read_models():
            self.rebuild(name)

    def rebuild(self, name: str) -> None:
        bar = ProgressBar(self.stdout, name, total=eventstore.count_after(Checkpoint.START))
        started = time.monotonic()
        try:
            applied = engine.rebuild(projectors.get(name), progress=bar.update)
        except TimeoutError as error:
            raise CommandError(str(error)) from error
        except ProjectionFailed as error:
            # The replayed batches stay committed; catch-up resumes from there with its retries.
            event = error.event
            raise CommandError(
                f"{name}: the rebuild stopped at event {event.checkpoint} ({event.type} {event.event_id}): {error}. "
                "Catch-up resumes from there and retries; see projection_status."
            ) from error
        bar.finish(applied)
        self.stdout.write(
            self.style.SUCCESS(f"{name}: rebuilt from {applied:,} events in {time.monotonic() - started:.1f} s")
        )
