from django.core.management.base import BaseCommand
from django.db.models import Count

from products.domain.events import SCHEMAS
from products.models import StoredEvent


class Command(BaseCommand):
    help = (
        "List each event type with its current schema version and how many stored events there are "
        "of each version (one grouped query). Before removing an upcaster, check that no event of "
        "its version is left; after a rollback, look for versions newer than the code knows."
    )

    def handle(self, *args, **options):
        stored: dict[str, dict[int, int]] = {}
        rows = StoredEvent.objects.values_list("type", "schema_version").annotate(events=Count("position")).order_by()
        for type_name, version, events in rows:
            stored.setdefault(type_name, {})[version] = events
        lines = [("type", "current", "stored (version: events)")]
        for type_name in sorted(set(SCHEMAS.current) | set(stored)):
            current_name = SCHEMAS.current_name(type_name)
            current = SCHEMAS.current.get(current_name)
            versions = stored.get(type_name, {})
            shown = ", ".join(f"v{version}: {events:,}" for version, events in sorted(versions.items())) or "none"
            notes = []
            if current_name != type_name:
                notes.append(f"old name of {current_name}")
            elif current is None:
                notes.append("not a type this code knows")
            newer = [version for version in versions if current is not None and version > current]
            if newer:
                notes.append(f"NEWER than this code: v{', v'.join(map(str, sorted(newer)))}")
            label = f"v{current}" if current is not None else "-"
            lines.append((type_name, label, shown + (f"  ({'; '.join(notes)})" if notes else "")))
        widths = [max(len(line[i]) for line in lines) for i in range(2)]
        for name, current, shown in lines:
            self.stdout.write(f"{name.ljust(widths[0])}  {current.ljust(widths[1])}  {shown}".rstrip())
