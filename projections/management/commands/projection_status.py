import json
from dataclasses import asdict
from datetime import datetime

from django.core.management.base import BaseCommand

from projections import horizon, operations

# failed_position: the token projection_skip --event takes, shown while the projection is held on it.
COLUMNS = ("name", "status", "position", "lag", "attempts", "failed_position", "last error", "updated")


class Command(BaseCommand):
    help = (
        "Show each projection's status, position, lag, the event it failed at and its last error, "
        "and any long transaction holding them all back. Use it when a read model looks stale, "
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
                s.name, s.status, s.position, f"{s.lag:,}", str(s.attempts), s.failed_position or "-",
                s.last_error.split("\n", 1)[0][:80] or "-",
                s.updated_at.strftime("%Y-%m-%d %H:%M:%S") if s.updated_at else "-",
            )
            for s in statuses
        ]
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if holders:
            self.stdout.write("\nEvery projection reads only below the oldest of these open writing transactions "
                              "(see docs/OPERATIONS.md):")
            for holder in holders:
                self.stdout.write(self.style.WARNING(f"  held back by {holder}"))
