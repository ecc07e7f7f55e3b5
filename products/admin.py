import json
import uuid

from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html

from .eventstore import Checkpoint
from .models import StoredEvent


def as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def as_checkpoint(text: str) -> Checkpoint | None:
    try:
        return Checkpoint.parse(text)
    except ValueError:
        return None


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


@admin.register(StoredEvent)
class StoredEventAdmin(admin.ModelAdmin):
    """The event log, read-only: events are appended by commands, never edited."""

    list_display = ("position_token", "type", "stream_type", "stream_id", "version", "recorded_at")
    list_filter = ("type", "stream_type")
    search_fields = ("=stream_id", "=event_id")
    search_help_text = "An event's position token (such as 812-17), or its stream id or event id (a uuid)."
    ordering = ("-position",)
    fields = (
        "position_token", "type", "schema_version", "stream_type", "stream_id", "version",
        "event_id", "recorded_at", "data_json", "metadata_json",
    )
    readonly_fields = fields
    actions = None
    # Counting the whole log on every page would cost more than the page itself.
    show_full_result_count = False

    @admin.display(description="position", ordering="position")
    def position_token(self, event):
        return str(Checkpoint(event.tx, event.position))

    @admin.display(description="data")
    def data_json(self, event):
        return pretty_json(event.data)

    @admin.display(description="metadata")
    def metadata_json(self, event):
        return pretty_json(event.metadata)

    def get_search_results(self, request, queryset, search_term):
        """Exact matches only; a term that is not a token, a uuid or a position matches nothing (never a 500).

        A bare position (as in the admin's own URLs) is found too: positions are unique.
        """
        if not search_term.split():
            return queryset, False
        matches = Q(pk__in=[])
        for term in search_term.split():
            if (checkpoint := as_checkpoint(term)) is not None:
                matches |= Q(tx=checkpoint.tx, position=checkpoint.position)
            elif term.isdigit() and len(term) < 19:  # fits a bigint
                matches |= Q(position=int(term))
            elif (value := as_uuid(term)) is not None:
                matches |= Q(stream_id=value) | Q(event_id=value)
        return queryset.filter(matches), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
