"""The base of every command's input serializer: only the fields it declares, each of its JSON type."""

from collections.abc import Mapping

from django.http import QueryDict
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

# What the browsable API's HTML form posts besides the command's own fields.
FORM_ONLY_FIELDS = frozenset({"csrfmiddlewaretoken"})


# Refuses, each with a 400 naming it, a field the command does not declare and a JSON value of the
# wrong type. A form post (the browsable API) is all text: its values are parsed by the fields.
# (A comment, not a docstring: the OpenAPI schema would show a docstring on every command body.)
class CommandSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            is_form = isinstance(data, QueryDict)
            errors.update(self._unknown_fields(data, is_form))
            if not is_form:
                errors.update(self._wrong_json_types(data))
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if errors and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **errors})
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def _unknown_fields(self, data, is_form: bool) -> dict:
        allowed = self.fields.keys() | (FORM_ONLY_FIELDS if is_form else set())
        return {
            str(name): [ErrorDetail("Unknown field.", code="unknown_field")] for name in data if name not in allowed
        }

    def _wrong_json_types(self, data) -> dict:
        errors = {}
        for name, field in self.fields.items():
            value = data.get(name)
            if value is None:  # absent or null: the field's own required / allow_null rules apply
                continue
            json_types = getattr(field, "json_types", None)  # every command field has them (a test checks)
            if json_types and (isinstance(value, bool) or not isinstance(value, json_types)):
                errors[name] = [ErrorDetail(field.json_type_message, code="invalid_type")]
        return errors


class CommandSerializerExtension(OpenApiSerializerExtension):
    """The OpenAPI schema says it too: a command body has no properties beyond those listed."""

    target_class = CommandSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
