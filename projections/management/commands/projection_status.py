import json
from dataclasses import asdict
from datetime import datetime

from django.core.management.base import BaseCommand

from projections import horizon, operations

# failed_position: the token projection_skip --event takes, shown while the projection is held on it.
COLUMNS = ("name", "status", "version", "position", "lag", "attempts", "failed_position", "last error", "updated")


class Command(BaseCommand):
    help = (
        "Show each projection's status, version, position, lag, the event it failed at and its last error, "
        "any rebuild under way (its new generation's progress and ETA), and any long transaction holding "
        "them all back. Use it when a read model looks stale, "
        "before and after a retry or a skip; --json for scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options):
        statuses = operations.statuses()
        holders = horizon.horizon_holders()
        if options["json"]:
            report = {
                "projections": [asdict(status) for status in statuses],
                "horizon_holders": [holder.as_dict() for holder in holders],
            }
            self.stdout.write(json.dumps(report, indent=2, default=datetime.isoformat))
            return
        rows = [
            (
                s.name, s.status, f"v{s.version}", s.position, f"{s.lag:,}", str(s.attempts), s.failed_position or "-",
                s.last_error.split("\n", 1)[0][:80] or "-",
                s.updated_at.strftime("%Y-%m-%d %H:%M:%S") if s.updated_at else "-",
            )
            for s in statuses
        ]
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        building = [s for s in statuses if s.next is not None]
        if building:
            self.stdout.write("\nRebuilding in a new generation (the live one answers meanwhile):")
            for s in building:
                self.stdout.write(f"  {s.name}: {describe_next(s.next)}")
        if holders:
            self.stdout.write("\nEvery projection reads only below the oldest of these open writing transactions "
                              "(see docs/OPERATIONS.md):")
            for holder in holders:
                self.stdout.write(self.style.WARNING(f"  held back by {holder}"))


def describe_next(building) -> str:
    """`v2 running at 812-5, lag 1,200, 5,000 events/s, ETA 0 s, started 2026-12-07 12:00:00`"""
    parts = [f"v{building.version} {building.status} at {building.position}", f"lag {building.lag:,}"]
    if building.events_per_second:
        parts.append(f"{building.events_per_second:,.0f} events/s")
    if building.eta_seconds is not None:
        parts.append(f"ETA {building.eta_seconds:,.0f} s")
    if building.started_at:
        parts.append(f"started {building.started_at:%Y-%m-%d %H:%M:%S}")
    if building.last_error:
        parts.append(f"last error: {building.last_error.splitlines()[0][:80]}")
    return ", ".join(parts)
