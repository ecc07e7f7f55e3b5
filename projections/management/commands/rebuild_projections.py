import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from products import eventstore
from products.eventstore import Checkpoint
from projections import engine, folding, generations, projectors
from projections.management.progress import ProgressBar
from projections.projectors.base import ProjectionFailed


class Command(BaseCommand):
    help = (
        "Rebuild the named read models from the event log (all but the integration relay by default), "
        "each in a new generation beside the live one: queries keep answering from the live tables, "
        "complete and current, until the new ones have caught up and replace them in one transaction. "
        "A rebuild that is stopped resumes when run again. Use it after changing a projector or when "
        "a read model is suspect."
    )

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME", help="Projections to rebuild.")
        parser.add_argument(
            "--workers", type=int, default=settings.PROJECTION_REBUILD_WORKERS, metavar="N",
            help="Processes to fold the log with, each over a range of streams (default: "
                 "PROJECTION_REBUILD_WORKERS, the CPU count).",
        )
        parser.add_argument(
            "--cancel", action="store_true",
            help="Drop the new generation under way (its tables and progress) instead; the live one stays.",
        )
        parser.add_argument(
            "--in-place", action="store_true",
            help="Empty the projections and replay the log into them where they are: their queries see "
                 "partial rows until it ends. The way to publish the whole log again with integration_relay.",
        )

    def handle(self, *args, names, in_place, cancel, workers, **options):
        known = projectors.all_projectors()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise CommandError(f"Unknown projection(s) {', '.join(unknown)}; known: {', '.join(known)}")
        names = names or projectors.read_models()
        if cancel:
            for name in names:
                self.cancel(name)
            return
        if in_place:
            for name in names:
                self.replay_in_place(name)
            return
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        started = time.monotonic()
        try:
            for name in names:  # refuse before starting anything
                generations.refuse_if_unable(name)
        except generations.CannotRebuild as refusal:
            raise CommandError(str(refusal)) from None
        begun = {}
        for name in names:
            try:
                begun[name] = generations.start(name)
            except generations.CannotRebuild as refusal:  # another process started it meanwhile
                raise CommandError(str(refusal)) from None
            verb = "Resuming the rebuild of" if begun[name].resumed else "Rebuilding"
            self.stdout.write(f"{verb} {name} in generation v{begun[name].version}; "
                              "queries are answered from the live one meanwhile.")
        self.fold(names, workers)
        for name in names:
            self.build_generation(name, begun[name], started)

    def fold(self, names: list[str], workers: int) -> None:
        """The generations still empty, filled in one read of the log (see projections/folding.py)."""
        bar = ProgressBar(self.stdout, "fold", total=eventstore.count_after(Checkpoint.START))
        try:
            folded = generations.fill(names, progress=bar.update, workers=workers)
        except generations.CannotRebuild as refusal:
            raise CommandError(str(refusal)) from None
        if folded:
            events = max(folded.values())
            bar.finish(events)
            used = folding.processes(workers, DEFAULT_DB_ALIAS)
            self.stdout.write(f"Folded {events:,} events into {', '.join(folded)} with {used} process(es).")

    def build_generation(self, name: str, begun, started: float) -> None:
        first = generations.next_state(name)
        bar = ProgressBar(self.stdout, name, total=eventstore.count_after(Checkpoint.START), initial=first.events_applied)
        applied = first.events_applied
        reached = None

        def report(state) -> None:
            nonlocal applied, reached
            if state is not None:
                applied, reached = state.events_applied, state
                bar.update(applied)

        try:
            built = generations.build(name, progress=report)
        except generations.CannotRebuild as refusal:
            raise CommandError(str(refusal)) from None
        if not built.swapped:
            error = reached.last_error.split("\n", 1)[0] if reached and reached.last_error else built.outcome
            raise CommandError(
                f"{name}: the new generation stopped ({built.outcome}): {error}. The live generation is untouched; "
                f"the worker retries the new one (projection_status shows {generations.next_name(name)}), "
                "or run this command again to resume it."
            )
        bar.finish(applied)
        seconds = time.monotonic() - started  # since the command started: its part of the fold included
        self.stdout.write(self.style.SUCCESS(
            f"{name}: rebuilt from {applied:,} events in {seconds:.1f} s ({applied / max(seconds, 1e-9):,.0f} events/s); "
            f"generation v{begun.version} is live"
        ))

    def cancel(self, name: str) -> None:
        try:
            dropped = generations.cancel(name)
        except generations.CannotRebuild as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(f"{name}: {'new generation dropped' if dropped else 'no rebuild was under way'}")

    def replay_in_place(self, name: str) -> None:
        bar = ProgressBar(self.stdout, name, total=eventstore.count_after(Checkpoint.START))
        started = time.monotonic()
        try:
            applied = engine.replay_in_place(projectors.get(name), progress=bar.update)
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
