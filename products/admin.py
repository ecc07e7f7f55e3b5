from django.contrib import admin

from .models import StoredEvent


@admin.register(StoredEvent)
class StoredEventAdmin(admin.ModelAdmin):
    """The event log, read-only: events are appended by commands, never edited."""

    list_display = ("position", "type", "stream_id", "version", "recorded_at")
    list_filter = ("type", "stream_type")
    search_fields = ("=stream_id", "=event_id")
    ordering = ("-position",)
    readonly_fields = [f.name for f in StoredEvent._meta.fields]
    actions = None
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
