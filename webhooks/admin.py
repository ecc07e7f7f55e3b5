from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.defaultfilters import truncatechars

from products.domain.events import EVENT_TYPES

from . import addresses
from .tasks import resume
from .models import Delivery, Subscription
from .outbox import STOCK_LOW
from .ping import ping

# A test delivery waits for its receiver (WEBHOOK_TIMEOUT_SECONDS at most): a few per request.
PINGS_AT_ONCE = 3

TYPES = [(name, name) for name in [*EVENT_TYPES, STOCK_LOW]]


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text="Where each event is POSTed (http or https).")
    event_types = forms.MultipleChoiceField(choices=TYPES, widget=forms.CheckboxSelectMultiple)
    # Write-only: shown empty, never sent back to the browser once set; left empty, it is kept.
    secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, min_length=16,
                             help_text="At least 16 characters; it signs every delivery. Leave empty to keep the one set.")

    class Meta:
        model = Subscription
        fields = ["name", "url", "event_types", "secret", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            addresses.check(url)
        except addresses.RefusedAddress as refused:
            raise forms.ValidationError(str(refused))
        return url

    def clean_secret(self):
        secret = self.cleaned_data.get("secret") or ""
        if not secret and not (self.instance.pk and self.instance.secret):
            raise forms.ValidationError("A new subscription needs a secret.")
        return secret or self.instance.secret


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["event_type", "token", "state", "attempts", "last_status_code", "error", "queued_at", "delivered_at"]
    readonly_fields = fields
    ordering = ["-tx", "-position", "-id"]
    verbose_name_plural = "last deliveries"

    def get_queryset(self, request):
        recent = super().get_queryset(request).order_by("-tx", "-position", "-id").values_list("pk", flat=True)[:20]
        return super().get_queryset(request).filter(pk__in=list(recent))

    @admin.display(description="position")
    def token(self, delivery):
        return delivery.token

    @admin.display(description="last error")
    def error(self, delivery):
        return truncatechars(delivery.last_error, 80)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "active", "status", "delivered_through", "lag", "last_status_code", "error"]
    list_filter = ["status", "active"]
    search_fields = ["name", "url"]
    readonly_fields = ["status", "parked_reason", "delivered_through", "lag", "last_status_code", "last_error",
                       "last_attempt_at", "created_at"]
    inlines = [DeliveryInline]
    actions = ["resume_parked", "send_test_delivery"]

    def get_queryset(self, request):
        # The lag of every row of the list in the list's own query, not one count per row.
        return super().get_queryset(request).annotate(
            pending=Count("deliveries", filter=Q(deliveries__state=Delivery.PENDING)))

    @admin.display(description="lag", ordering="pending")
    def lag(self, subscription):
        return subscription.pending

    @admin.display(description="last error")
    def error(self, subscription):
        return truncatechars(subscription.last_error, 60)

    @admin.action(description="Resume the selected parked subscriptions", permissions=["operate"])
    def resume_parked(self, request, queryset):
        parked = list(queryset.filter(status=Subscription.PARKED))
        for subscription in parked:
            resume(subscription)
        self.message_user(request, f"Resumed {len(parked)} subscription(s) from where each stopped.", messages.SUCCESS)

    @admin.action(description="Send a test delivery (catalog.ping) to the selected subscriptions",
                  permissions=["operate"])
    def send_test_delivery(self, request, queryset):
        chosen = list(queryset[:PINGS_AT_ONCE + 1])
        if len(chosen) > PINGS_AT_ONCE:
            self.message_user(request, f"Select at most {PINGS_AT_ONCE} subscriptions to test at once.",
                              messages.ERROR)
            return
        for subscription in chosen:
            status, error = ping(subscription)
            if status is not None and 200 <= status < 300:
                self.message_user(request, f"{subscription.name}: the test delivery was answered HTTP {status}.",
                                  messages.SUCCESS)
            else:
                self.message_user(request, f"{subscription.name}: the test delivery failed: {error}", messages.WARNING)

    def has_operate_permission(self, request):
        return request.user.has_perm("webhooks.operate_webhooks")
