"""The Query API's filter and ordering whitelists: only these names ever reach a query."""

from django import forms
from django.db.models import Q
from django_filters import filters as base_filters
from django_filters import rest_framework as filters
from django_filters.widgets import BooleanWidget
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from products import eventstore
from products.models import StoredEvent

from ..models import CatalogProduct


class StableOrderingFilter(OrderingFilter):
    """DRF's OrderingFilter, refusing an unknown field (DRF drops it), with the primary key as the
    last key, so equal values page stably."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = super().remove_invalid_fields(queryset, fields, view, request)
        if len(valid) < len(fields):
            names = ", ".join(name for name, _ in self.get_valid_fields(queryset, view, {"request": request}))
            raise ValidationError(
                {self.ordering_param: [f"Comma-separated fields among {names}, each with '-' for descending."]}
            )
        return valid

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        return ordering if ordering[-1:] in (["pk"], ["id"]) else [*ordering, "pk"]


class TrueOrFalseWidget(BooleanWidget):
    """django-filter's yes/no select, but handing the field the text as given (BooleanWidget turns
    anything it does not know into "no filter", so `in_stock=maybe` would list everything)."""

    def value_from_datadict(self, data, files, name):
        return data.get(name)

    def render(self, name, value, attrs=None, renderer=None):
        return super().render(name, parse_true_or_false(value), attrs, renderer)


TRUE_OR_FALSE = {"true": True, "1": True, "false": False, "0": False}


def parse_true_or_false(value):
    """True or False for "true"/"1"/"false"/"0" in any case; None for anything else."""
    return TRUE_OR_FALSE.get(value.strip().lower()) if isinstance(value, str) else value


class TrueOrFalseField(forms.Field):
    widget = TrueOrFalseWidget

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = parse_true_or_false(value)
        if parsed is None:
            raise forms.ValidationError("Give true or false.", code="invalid")
        return parsed


class TrueOrFalseFilter(base_filters.BooleanFilter):
    field_class = TrueOrFalseField


class ProductFilter(filters.FilterSet):
    """Filters of the product list. Unknown parameters are ignored; a bad value is a 400 naming it."""

    category = filters.CharFilter(field_name="category")
    status = filters.ChoiceFilter(choices=[("active", "active"), ("discontinued", "discontinued")])
    # Bounded like a price (10 digits before the point), so a huge number is a 400, not a database error.
    min_price = filters.NumberFilter(field_name="price", lookup_expr="gte", max_digits=20, decimal_places=10)
    max_price = filters.NumberFilter(field_name="price", lookup_expr="lte", max_digits=20, decimal_places=10)
    in_stock = TrueOrFalseFilter(method="filter_in_stock", label="In stock")
    sku = filters.CharFilter(field_name="sku", lookup_expr="iexact")
    search = filters.CharFilter(method="filter_search", label="Search", help_text="Part of the name, SKU or description.")

    class Meta:
        model = CatalogProduct
        fields = ["category", "status", "min_price", "max_price", "in_stock", "sku", "search"]

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock__gt=0) if value else queryset.filter(stock=0)

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(sku__icontains=value) | Q(description__icontains=value))


class PositionField(forms.CharField):
    """A position token, as commands and the event list give them out."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return eventstore.Checkpoint.parse(value)
        except ValueError:
            raise forms.ValidationError('Give a position token, such as "812-5".', code="invalid")


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{1,20}-[0-9]{1,20}$"})  # in the OpenAPI schema
class PositionFilter(filters.Filter):
    field_class = PositionField


class EventFilter(filters.FilterSet):
    """Filters of the event log: one stream, one event type, the events after a position."""

    stream_id = filters.UUIDFilter(field_name="stream_id")
    type = filters.CharFilter(field_name="type")
    after = PositionFilter(method="filter_after", label="After", help_text="A position token: only later events.")

    class Meta:
        model = StoredEvent
        fields = ["stream_id", "type", "after"]

    def filter_after(self, queryset, name, value):
        return queryset.filter(eventstore.after_filter(value, using=queryset.db))
