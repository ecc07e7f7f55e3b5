import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.template.defaultfilters import truncatechars
from django.utils import timezone
from django.utils.html import format_html

from products.domain import events as domain_events
from products.eventstore import Checkpoint

from . import engine, generations, horizon, operations, projectors, tasks, timeline
from .models import CatalogProduct, CategoryMember, CategorySummary, PriceHistoryEntry, ProjectionState, SkippedEvent

ERROR_CHARS = 40  # of the last error's first line in the list; hover for the line, open the row for all of it
DOTTED_EXCEPTION = re.compile(r"^(?:\w+\.)+(?=\w+:)")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewing only: rows here are written by the engine or a projector, never by hand."""

    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadModelAdmin(ReadOnlyAdmin):
    """A read-model table: rebuilt from the log, so an edit here would only be overwritten."""


@admin.register(CatalogProduct)
class CatalogProductAdmin(ReadModelAdmin):
    list_display = ("sku", "name", "category", "price", "currency", "stock", "status", "version", "updated_at")
    list_filter = ("status", "currency")
    search_fields = ("sku", "name", "category", "=id")
    readonly_fields = ("events",)

    def get_urls(self):
        # "timeline", not "history": that is the admin's own page of changes made through it.
        timeline_url = path("<uuid:product_id>/timeline/", self.admin_site.admin_view(self.timeline_view),
                            name="projections_catalogproduct_timeline")
        return [timeline_url, *super().get_urls()]

    @admin.display(description="history")
    def events(self, product):
        url = reverse("admin:projections_catalogproduct_timeline", args=[product.id])
        return format_html('<a href="{}">Its events, and its state as of any version</a>', url)

    def timeline_view(self, request, product_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        version = request.GET.get("version")
        try:
            found = timeline.timeline(product_id, int(version) if version is not None else None)
        except (ValueError, timeline.VersionOutOfRange) as error:
            detail = str(error) if isinstance(error, timeline.VersionOutOfRange) else "The version must be a number."
            return HttpResponseBadRequest(detail)
        except (domain_events.FutureSchemaVersion, domain_events.UnknownEventType) as error:
            # Events written by newer code: say so rather than show a history this code misreads.
            return HttpResponse(f"This version of the service cannot read the product's history: {error}",
                                status=503, content_type="text/plain; charset=utf-8")
        if found is None:
            raise Http404(f"No product with id {product_id}.")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "timeline": found,
                   "title": f"History of product {product_id}"}
        return TemplateResponse(request, "admin/projections/catalogproduct/timeline.html", context)


@admin.register(CategorySummary)
class CategorySummaryAdmin(ReadModelAdmin):
    list_display = ("name", "active_products", "discontinued_products", "total_stock")
    search_fields = ("name",)


@admin.register(CategoryMember)
class CategoryMemberAdmin(ReadModelAdmin):
    list_display = ("product_id", "category", "active", "stock", "version")
    list_filter = ("active",)
    search_fields = ("category", "=product_id")


@admin.register(PriceHistoryEntry)
class PriceHistoryEntryAdmin(ReadModelAdmin):
    list_display = ("product_id", "version", "price", "currency", "changed_at")
    list_filter = ("currency",)
    search_fields = ("=product_id",)


@admin.register(SkippedEvent)
class SkippedEventAdmin(ReadOnlyAdmin):
    list_display = ("projection", "position_token", "event_type", "reason", "skipped_by", "skipped_at")
    list_filter = ("projection", "event_type")
    search_fields = ("reason", "skipped_by", "=event_id")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(event_tx=operations.tx_of_event_at("position"))

    @admin.display(description="position", ordering="position")
    def position_token(self, skipped):
        return str(Checkpoint(skipped.event_tx, skipped.position))


@admin.register(ProjectionState)
class ProjectionStateAdmin(ReadOnlyAdmin):
    """Each projection's health; operators move it only through the actions."""

    # Short cells and no filter panel (there are only a handful of rows), so the list fits a
    # laptop's screen beside the admin's navigation; the row's page has the whole error.
    list_display = ("name", "status", "versions", "position", "lag", "attempts", "failed_at", "error", "updated")
    fields = (
        "name", "status", "version", "position", "lag", "attempts", "next_retry_at", "failed_at", "last_error",
        "events_applied", "next_generation", "updated_at",
    )
    readonly_fields = fields
    actions = ["rebuild_selected", "retry_selected"]

    def changelist_view(self, request, extra_context=None):
        engine.ensure_states(projectors.all_projectors())  # a projection that never ran still shows
        self.warn_of_horizon_holders(request)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.warn_of_horizon_holders(request)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_queryset(self, request):
        # Rows of projections no longer configured can be neither run nor operated.
        states = super().get_queryset(request).filter(name__in=list(projectors.all_projectors()))
        return operations.with_failed_tx(states)

    def has_operate_permission(self, request):
        return request.user.has_perm("projections.operate_projections")

    def warn_of_horizon_holders(self, request):
        for holder in horizon.horizon_holders():
            self.message_user(request, f"Held back by a long writing transaction: {holder}", messages.WARNING)

    @admin.display(description="position")
    def position(self, state):
        return str(Checkpoint(state.last_tx, state.last_position))

    @admin.display(description="lag")
    def lag(self, state):
        return engine.lag(state)

    @admin.display(description="failed position")
    def failed_at(self, state):
        return operations.failed_token(state) or "-"

    @admin.display(description="last error")
    def error(self, state):
        first_line = state.last_error.split("\n", 1)[0]
        if not first_line:
            return "-"
        # Without the exception's module ("psycopg.errors."), the cell has room for its message.
        short = DOTTED_EXCEPTION.sub("", first_line)
        return format_html('<span title="{}">{}</span>', first_line, truncatechars(short, ERROR_CHARS))

    @admin.display(description="version")
    def versions(self, state):
        """`v1`, or `v1 → v2 40%` while a new generation is built (its row's page has the rest)."""
        building = generations.next_state(state.name)
        if building is None:
            return f"v{state.version}"
        lag = generations.progress_of(building).lag
        done = building.events_applied / (building.events_applied + lag) if building.events_applied + lag else 1
        return format_html('<span style="white-space: nowrap">v{} → v{} {}%</span>', state.version, building.version, int(done * 100))

    @admin.display(description="next generation")
    def next_generation(self, state):
        """A rebuild under way: its version, how far it is and when it should be done."""
        building = generations.next_state(state.name)
        if building is None:
            return "-"
        progress = generations.progress_of(building)
        eta = f", ETA {progress.eta_seconds:,.0f} s" if progress.eta_seconds is not None else ""
        rate = f", {progress.events_per_second:,.0f} events/s" if progress.events_per_second else ""
        return f"v{progress.version} {progress.status}, lag {progress.lag:,}{rate}{eta}"

    @admin.display(description="updated at", ordering="updated_at")
    def updated(self, state):
        # The date over the time at most: broken anywhere else, either is hard to read.
        moment = timezone.localtime(state.updated_at)
        return format_html(
            '<span style="white-space: nowrap">{}</span> <span style="white-space: nowrap">{}</span>',
            moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S"),
        )

    @admin.action(permissions=["operate"], description="Rebuild selected projections (in a new generation)")
    def rebuild_selected(self, request, queryset):
        for state in queryset:
            try:
                generations.refuse_if_unable(state.name)
            except generations.CannotRebuild as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                continue
            try:
                # A worker builds the generation; a request must never run a rebuild itself.
                tasks.rebuild.delay(state.name)
            except Exception as error:
                self.message_user(request, f"Could not enqueue the rebuild of {state.name}: {error}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Rebuild of {state.name} enqueued: a worker builds a new generation beside the live one, "
                    "which answers every query until the new one replaces it.",
                    messages.SUCCESS,
                )

    @admin.action(permissions=["operate"], description="Retry selected projections")
    def retry_selected(self, request, queryset):
        names = [state.name for state in queryset]
        for name in names:
            operations.retry(name)
        self.message_user(request, f"Retrying {', '.join(names)}: the next sweep runs them.", messages.SUCCESS)
