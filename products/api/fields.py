"""Serializer fields that apply the domain's own rules, so a bad field is a 400 naming it.

Each field names the JSON types it takes (`json_types`, bool never counts as a number);
`CommandSerializer` refuses any other type in a JSON body before the field converts it.
"""

from rest_framework import serializers

from ..domain import rules
from ..domain.errors import InvalidCommand


class TextField(serializers.CharField):
    """A JSON string: `"sku": 12` is refused (DRF's CharField would read it as "12")."""

    json_types = (str,)
    json_type_message = "Must be a string."


class RuleMixin:
    def __init__(self, rule, **kwargs):
        self.rule = rule
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return self.rule(value)
        except InvalidCommand as error:
            raise serializers.ValidationError(error.detail)


class RuleCharField(RuleMixin, TextField):
    pass


class IdField(serializers.UUIDField):
    """A UUID as a JSON string (DRF would also read an integer as a UUID)."""

    json_types = (str,)
    json_type_message = "Must be a string holding a UUID."


class WholeNumberField(serializers.IntegerField):
    """A JSON number without a fractional part; `"5"` and `true` are refused."""

    json_types = (int, float)  # 5.0 is a whole number; 5.5 is refused by the field itself
    json_type_message = "Must be a whole number."


class PriceField(RuleMixin, serializers.DecimalField):
    """A price as a string ("12.50") or a number: > 0, 2 decimals, 10 digits before the point."""

    json_types = (str, int, float)
    json_type_message = 'Must be a number or a decimal string, such as "12.50".'

    def __init__(self, **kwargs):
        super().__init__(
            rules.price,
            max_digits=rules.PRICE_MAX_WHOLE_DIGITS + rules.PRICE_MAX_DECIMAL_PLACES,
            decimal_places=rules.PRICE_MAX_DECIMAL_PLACES,
            **kwargs,
        )


def quantity_field(**kwargs):
    return WholeNumberField(min_value=1, max_value=rules.MAX_QUANTITY, **kwargs)


REGISTRATION_EXPECTED_VERSION = "0: the product must not exist yet (409 `product_exists` if it does)."


def expected_version_field(
    help_text="The product's version you last read (`version`, or the `ETag`): 409 `version_conflict` if it has moved on.",
):
    return WholeNumberField(min_value=0, required=False, allow_null=True, help_text=help_text)
