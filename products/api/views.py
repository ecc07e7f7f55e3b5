"""One small view per command: validate the body, build the command, hand it to the handler."""

import hashlib
import json
import re
import uuid

from django.urls import reverse
from drf_spectacular.utils import extend_schema_serializer, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from .. import metrics
from ..domain import commands, rules
from ..domain.errors import ProductNotFound
from ..handlers import Idempotency, Outcome, handle
from .fields import (
    REGISTRATION_EXPECTED_VERSION,
    IdField,
    PriceField,
    RuleCharField,
    WholeNumberField,
    expected_version_field,
    quantity_field,
)
from .openapi import command_schema
from .permissions import CanIssueProductCommands
from .serializers import CommandSerializer
from .throttles import CommandRateThrottle

_HEADER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_ETAG = re.compile(r'\s*(?:W/)?"(\d{1,10})"\s*')


class ProductCommandApi(GenericAPIView):
    """Base of the command endpoints: POST only, 202 with the stored events' version and position.

    Each command view names itself: `command_name` (metrics, logs, its OpenAPI operation
    `products_<command_name>`), `name` (the title of its page and operation) and `example` (a body
    it accepts), and documents itself with its docstring.
    """

    command_name: str
    name: str
    example: dict
    permission_classes = [IsAuthenticated, CanIssueProductCommands]
    throttle_classes = [CommandRateThrottle]
    success_status = status.HTTP_202_ACCEPTED
    registers = False  # a new product: no 404 and no "nothing changed", but a Location
    generated_id = False  # set by a view that makes up the product id itself

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Its OpenAPI operation, from the names above, so they are written once per command.
        extend_schema_view(post=command_schema(cls))(cls)

    def build_command(self, product_id: uuid.UUID, data: dict) -> commands.Command:
        raise NotImplementedError

    def http_method_not_allowed(self, request, *args, **kwargs):
        # A browser can only open a page with a GET, and the browsable API is where DRF users
        # try a POST-only endpoint: asked for HTML, the GET answers 200 with the command's
        # title, description, form and an example body, not a red 405. A client asking for
        # JSON still gets 405, and Allow stays "POST, OPTIONS" for both, so gateways and the
        # SERVICE_ROLE middleware still see a command route as POST only.
        if request.method in ("GET", "HEAD") and isinstance(request.accepted_renderer, BrowsableAPIRenderer):
            return Response({"method": "POST", "example": self.example})
        return super().http_method_not_allowed(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        if request.method == "POST":
            metrics.observe_command(self, response)  # counted and logged once, success or refusal
        return super().finalize_response(request, response, *args, **kwargs)

    def post(self, request, product_id=None):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        expected_version = data.pop("expected_version", None)
        if_match = _if_match(request)
        command = self.build_command(self.product_id(product_id, data), data)
        outcome = handle(
            command,
            expected_version=expected_version,
            if_match=if_match,
            idempotency=_idempotency(request, serializer.validated_data, if_match),
            metadata=_metadata(request),
            new_stream=self.generated_id,
        )
        return self.respond(outcome)

    def product_id(self, given, data) -> uuid.UUID:
        try:
            return uuid.UUID(str(given))
        except ValueError:
            raise ProductNotFound(f"No product with id {given}.")

    def respond(self, outcome: Outcome) -> Response:
        body = {
            "product_id": str(outcome.product_id),
            "version": outcome.version,
            "position": None if outcome.position is None else str(outcome.position),
            "events": [{"id": str(e.event_id), "type": e.type, "version": e.version} for e in outcome.events],
        }
        headers = {"ETag": f'"{outcome.version}"'}
        if outcome.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=self.success_status if outcome.events else status.HTTP_200_OK, headers=headers)


class ProductRegisterApi(ProductCommandApi):
    """Register a product. Answers 202 with its id; `Location` is where it can be read."""

    command_name = "register"
    name = "Register a product"
    registers = True
    example = {
        "sku": "KETTLE-01", "name": "Kettle", "category": "Kitchen", "price": "24.90", "currency": "EUR", "initial_stock": 10
    }

    @extend_schema_serializer(component_name="RegisterProduct")
    class InputSerializer(CommandSerializer):
        product_id = IdField(required=False, allow_null=True, help_text="Optional; generated if absent.")
        sku = RuleCharField(rules.sku, max_length=64)
        name = RuleCharField(rules.name, max_length=rules.MAX_NAME * 2)
        description = RuleCharField(
            rules.description, max_length=rules.MAX_DESCRIPTION * 2, required=False, allow_blank=True, default=""
        )
        category = RuleCharField(rules.category, max_length=rules.MAX_CATEGORY * 2)
        price = PriceField()
        currency = RuleCharField(rules.currency, max_length=3)
        initial_stock = WholeNumberField(min_value=0, max_value=rules.MAX_QUANTITY, required=False, default=0)
        expected_version = expected_version_field(REGISTRATION_EXPECTED_VERSION)

    serializer_class = InputSerializer

    def product_id(self, given, data):
        given = data.pop("product_id", None)
        self.generated_id = given is None  # then no event can exist for it yet: handle() skips the read
        return given or uuid.uuid4()

    def build_command(self, product_id, data):
        return commands.RegisterProduct(product_id=product_id, **data)

    def respond(self, outcome):
        response = super().respond(outcome)
        response["Location"] = f"{reverse('product-list')}{outcome.product_id}/"
        return response


class ProductUpdateDetailsApi(ProductCommandApi):
    """Change the name, description or category; fields left out keep their value."""

    command_name = "update_details"
    name = "Update a product's details"
    example = {"name": "Electric kettle"}

    @extend_schema_serializer(component_name="UpdateProductDetails")
    class InputSerializer(CommandSerializer):
        name = RuleCharField(rules.name, max_length=rules.MAX_NAME * 2, required=False)
        description = RuleCharField(
            rules.description, max_length=rules.MAX_DESCRIPTION * 2, required=False, allow_blank=True
        )
        category = RuleCharField(rules.category, max_length=rules.MAX_CATEGORY * 2, required=False)
        expected_version = expected_version_field()

        def validate(self, attrs):
            if not {"name", "description", "category"} & attrs.keys():
                raise ValidationError("Give at least one of name, description or category.")
            return attrs

    serializer_class = InputSerializer

    def build_command(self, product_id, data):
        return commands.UpdateProductDetails(product_id=product_id, **data)


class ProductChangePriceApi(ProductCommandApi):
    """Set a new price; without `currency` the current currency stays."""

    command_name = "change_price"
    name = "Change a product's price"
    example = {"price": "19.90"}

    @extend_schema_serializer(component_name="ChangePrice")
    class InputSerializer(CommandSerializer):
        price = PriceField()
        currency = RuleCharField(rules.currency, max_length=3, required=False)
        expected_version = expected_version_field()

    serializer_class = InputSerializer

    def build_command(self, product_id, data):
        return commands.ChangePrice(product_id=product_id, **data)


class ProductReceiveStockApi(ProductCommandApi):
    """Add received units to the stock."""

    command_name = "receive_stock"
    name = "Receive stock"
    example = {"quantity": 5}

    @extend_schema_serializer(component_name="ReceiveStock")
    class InputSerializer(CommandSerializer):
        quantity = quantity_field()
        expected_version = expected_version_field()

    serializer_class = InputSerializer

    def build_command(self, product_id, data):
        return commands.ReceiveStock(product_id=product_id, **data)


class ProductShipStockApi(ProductCommandApi):
    """Take shipped units out of the stock; more than is in stock is refused (409)."""

    command_name = "ship_stock"
    name = "Ship stock"
    example = {"quantity": 1}

    @extend_schema_serializer(component_name="ShipStock")
    class InputSerializer(CommandSerializer):
        quantity = quantity_field()
        expected_version = expected_version_field()

    serializer_class = InputSerializer

    def build_command(self, product_id, data):
        return commands.ShipStock(product_id=product_id, **data)


class ProductDiscontinueApi(ProductCommandApi):
    """Discontinue the product; it accepts no further commands."""

    command_name = "discontinue"
    name = "Discontinue a product"
    example = {"reason": "End of line"}

    @extend_schema_serializer(component_name="DiscontinueProduct")
    class InputSerializer(CommandSerializer):
        reason = RuleCharField(rules.reason, max_length=rules.MAX_REASON * 2, required=False, allow_blank=True)
        expected_version = expected_version_field()

    serializer_class = InputSerializer

    def build_command(self, product_id, data):
        return commands.DiscontinueProduct(product_id=product_id, **data)


def _if_match(request) -> int | str | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    if header.strip() == "*":
        return "*"
    match = _ETAG.fullmatch(header)
    if not match:
        raise ValidationError({"If-Match": ['Give the product version as an entity tag, such as "3".']})
    return int(match[1])


def _idempotency(request, validated_data, if_match) -> Idempotency | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationError({"Idempotency-Key": ["1 to 255 printable ASCII characters."]})
    # The request as the command sees it: a different body, path or precondition is a different request.
    canonical = json.dumps(
        {"path": request.path, "if_match": if_match, "data": validated_data}, sort_keys=True, default=str
    )
    return Idempotency(
        scope=str(request.user.pk), key=key, request_hash=hashlib.sha256(canonical.encode()).hexdigest()
    )


def _metadata(request) -> dict:
    request_id = getattr(request, "request_id", None) or uuid.uuid4().hex
    return {
        "user_id": request.user.pk,
        "username": request.user.get_username(),
        "request_id": request_id,
        "correlation_id": _header_id(request, "X-Correlation-ID") or request_id,
        "causation_id": request_id,
    }


def _header_id(request, name: str) -> str | None:
    value = request.headers.get(name, "")
    return value if _HEADER_ID.fullmatch(value) else None
