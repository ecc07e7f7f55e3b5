"""Bad input to the command API: a clear 4xx with the contract's body shape, and nothing stored.

docs/API.md, "Commands" ("Validation", "Errors"): 400 for malformed JSON and invalid fields (DRF's
{"field": ["message"]}), 404 product_not_found for an unknown product, 415 for a body that is
not JSON, never a 500 for anything a client can send, and "any error means no event was stored".
"""

import json
import uuid

import pytest

from products import eventstore

from .helpers import (
    JSON,
    PRODUCT_COMMANDS,
    PRODUCTS,
    assert_error,
    assert_field_errors,
    assert_json,
    assert_parse_error,
    command_path,
    post_json,
    post_raw,
    register_body,
    stores_events,
    stores_nothing,
)

pytestmark = pytest.mark.integration


def register_raw(client, body, content_type=JSON):
    with stores_nothing():
        return post_raw(client, PRODUCTS, body, content_type)


def register(client, data):
    with stores_nothing():
        return post_json(client, PRODUCTS, data)


def command(client, product_id, name, data, **extra):
    with stores_nothing():
        response = post_json(client, command_path(product_id, name), data, **extra)
    assert len(eventstore.load(product_id)) == 1, "the product's stream grew"
    return response


# --- Bodies that are not a JSON object -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"sku":', id="truncated-object"),
        pytest.param(b"{", id="open-brace"),
        pytest.param(b'{"sku": "A1",}', id="trailing-comma"),
        pytest.param(b"{'sku': 'A1'}", id="single-quotes"),
        pytest.param(b'{"sku": "A1"} {"sku": "B2"}', id="two-documents"),
        pytest.param(b'{"sku": "unterminated}', id="unterminated-string"),
        pytest.param(b'{"name": "\\x41"}', id="bad-escape"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf8-bom"),
    ],
)
def test_malformed_json_is_a_400_parse_error(client, body):
    assert_parse_error(register_raw(client, body))


def test_an_empty_json_body_names_every_required_field(client):
    response = register_raw(client, b"")

    assert_field_errors(response, "sku", "name", "category", "price", "currency")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": "\xff\xfe\xfd"}', id="invalid-start-bytes"),
        pytest.param(b'{"name": "caf\xe9"}', id="latin-1"),
        pytest.param(b'{"name": "\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
        pytest.param(b'{"name": "\xc0\xaf"}', id="overlong"),
        pytest.param(json.dumps(register_body(name="Caf\u00e9")).encode("utf-16"), id="utf-16"),
    ],
)
def test_bytes_that_are_not_utf8_are_a_400_parse_error(client, body):
    assert_parse_error(register_raw(client, body))


def test_a_charset_that_is_not_a_text_encoding_is_a_400(client):
    response = register_raw(client, json.dumps(register_body()), content_type="application/json; charset=rot13")

    assert_parse_error(response)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'[{"sku": "A1"}]', id="array"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b'"a string"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"true", id="true"),
        pytest.param(b"null", id="null"),
    ],
)
def test_a_json_body_that_is_not_an_object_is_a_400(client, body):
    assert_field_errors(register_raw(client, body), "non_field_errors")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/xml",
        "text/xml",
        "application/octet-stream",
        "application/jsonx",
        "",
    ],
)
def test_a_body_that_is_not_json_is_a_415(client, content_type):
    response = register_raw(client, json.dumps(register_body()), content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")


def test_a_body_without_any_content_type_is_a_415(client):
    from django.test.client import FakePayload

    body = json.dumps(register_body()).encode()
    with stores_nothing():
        # No CONTENT_TYPE in the environ at all (the test client's generic() would set one).
        response = client.request(
            PATH_INFO=PRODUCTS,
            REQUEST_METHOD="POST",
            CONTENT_LENGTH=str(len(body)),
            **{"wsgi.input": FakePayload(body)},
        )

    assert "CONTENT_TYPE" not in response.wsgi_request.META
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100000-nested-arrays"),
        pytest.param(b'{"a":' * 40_000 + b"1" + b"}" * 40_000, id="40000-nested-objects"),
        pytest.param(b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nested-in-a-field"),
        pytest.param(b'{"extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="nested-in-an-unknown-field"),
    ],
)
def test_json_nested_too_deeply_is_a_400_not_a_500(client, body, settings):
    assert len(body) < settings.COMMAND_MAX_BODY_BYTES  # refused by the parser, not by the size limit

    assert_parse_error(register_raw(client, body))


@pytest.mark.parametrize("depth", [500, 850, 900])
@pytest.mark.parametrize("field", ["name", "price", "initial_stock", "expected_version", "product_id"])
def test_json_nested_just_under_the_parser_limit_is_a_field_error(client, field, depth):
    body = register_body()
    body.pop(field, None)
    raw = json.dumps(body)[:-1] + f', "{field}": ' + "[" * depth + "]" * depth + "}"

    response = register_raw(client, raw)

    assert response.status_code == 400, response.content
    assert_json(response, 400)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["price", "initial_stock", "expected_version"])
def test_non_standard_json_literals_are_a_400_parse_error(client, field, literal):
    raw = json.dumps(register_body(**{field: "PLACEHOLDER"})).replace('"PLACEHOLDER"', literal)

    assert_parse_error(register_raw(client, raw))


def test_an_integer_too_long_to_convert_is_a_400(client):
    raw = _with_raw(register_body(), "initial_stock", "9" * 5000)

    response = register_raw(client, raw)

    assert response.status_code == 400, response.content
    assert_json(response, 400)


# --- Strings: NUL, surrogates, control characters, lengths, patterns --------------------------


NUL = "\u0000"
SURROGATE = "\ud800"


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", f"Wid{NUL}get"),
        ("name", NUL),
        ("category", f"Tools{NUL}"),
        ("description", f"A {NUL} widget"),
        ("sku", f"SKU{NUL}1"),
        ("name", f"Wid{SURROGATE}get"),
        ("description", f"Broken {SURROGATE} text"),
        ("category", SURROGATE),
        ("name", "\udfff"),
        ("name", "Bell\u0007"),
        ("name", "Escape \u001b[31mred"),
        ("name", "Line\nbreak"),
        ("name", "Tab\there"),
        ("name", "Delete\u007f"),
        ("name", "Next\u0085line"),
        ("category", "Back\u0008space"),
        ("description", "Start of heading \u0001"),
        ("description", "Escape \u001b[2J"),
    ],
)
def test_nul_surrogates_and_control_characters_are_refused_at_registration(client, field, value):
    response = register(client, register_body(**{field: value}))

    assert_field_errors(response, field)


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", f"Wid{NUL}get"),
        ("name", f"Wid{SURROGATE}get"),
        ("name", "Bell\u0007"),
        ("category", f"Tools{NUL}"),
        ("category", "Esc\u001b"),
        ("description", f"A {NUL} widget"),
        ("description", f"Broken {SURROGATE} text"),
        ("description", "Vertical\u000btab"),
    ],
)
def test_nul_surrogates_and_control_characters_are_refused_by_update_details(client, product, field, value):
    response = command(client, product, "update-details", {field: value})

    assert_field_errors(response, field)


@pytest.mark.parametrize(
    "value",
    [f"Out of {NUL}stock", f"Broken {SURROGATE}", "Bell\u0007", "\u001b[31m"],
    ids=["nul", "surrogate", "bell", "escape"],
)
def test_nul_surrogates_and_control_characters_are_refused_in_a_discontinue_reason(client, product, value):
    response = command(client, product, "discontinue", {"reason": value})

    assert_field_errors(response, "reason")


@pytest.mark.parametrize(
    "sku",
    [
        "S" * 65,
        "",
        "   ",
        "has space",
        "-leading-dash",
        ".leading-dot",
        "_leading-underscore",
        "slash/inside",
        "semi;colon",
        "caf\u00e9",
        "\u65e5\u672c",
        "quote'",
        "A\n1",
        None,
        ["A1"],
    ],
)
def test_bad_skus_are_refused(client, sku):
    assert_field_errors(register(client, register_body(sku=sku)), "sku")


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "n" * 201),
        ("name", " " * 3),
        ("name", ""),
        ("name", None),
        ("name", {"en": "Widget"}),
        ("name", ["Widget"]),
        ("category", "c" * 101),
        ("category", ""),
        ("description", "d" * 5001),
        ("currency", "eur"),
        ("currency", "EURO"),
        ("currency", "EU"),
        ("currency", "E1R"),
        ("currency", ""),
        ("currency", None),
        ("product_id", "not-a-uuid"),
    ],
)
def test_invalid_string_fields_are_refused_at_registration(client, field, value):
    assert_field_errors(register(client, register_body(**{field: value})), field)


def test_a_name_of_200_characters_is_accepted_but_201_is_not(client):
    assert_field_errors(register(client, register_body(name="n" * 201)), "name")
    with stores_events(1):
        response = post_json(client, PRODUCTS, register_body(name="n" * 200))
    assert response.status_code == 202, response.content


def test_an_over_long_reason_is_refused(client, product):
    assert_field_errors(command(client, product, "discontinue", {"reason": "r" * 1001}), "reason")


def test_update_details_without_any_detail_is_a_400(client, product):
    assert_field_errors(command(client, product, "update-details", {}), "non_field_errors")
    assert_field_errors(command(client, product, "update-details", {"expected_version": 1}), "non_field_errors")


def test_a_missing_required_field_is_named(client):
    body = register_body()
    del body["price"], body["currency"]

    assert_field_errors(register(client, body), "price", "currency")


# --- Numbers: prices, quantities ------------------------------------------------------------


BAD_PRICES = [
    pytest.param("1e309", id="1e309-number"),
    pytest.param("-1e309", id="minus-1e309-number"),
    pytest.param('"1e309"', id="1e309-string"),
    pytest.param('"NaN"', id="NaN-string"),
    pytest.param('"nan"', id="nan-string"),
    pytest.param('"sNaN"', id="sNaN-string"),
    pytest.param('"Infinity"', id="Infinity-string"),
    pytest.param('"-Infinity"', id="minus-Infinity-string"),
    pytest.param('"inf"', id="inf-string"),
    pytest.param('"12.345"', id="3-decimals-string"),
    pytest.param("12.345", id="3-decimals-number"),
    pytest.param('"0.001"', id="a-tenth-of-a-cent"),
    pytest.param("1e-400", id="underflows-to-zero"),
    pytest.param("0", id="zero-number"),
    pytest.param('"0"', id="zero-string"),
    pytest.param('"0.00"', id="zero-decimals"),
    pytest.param("-1", id="negative-number"),
    pytest.param('"-5.00"', id="negative-string"),
    pytest.param('"12345678901"', id="11-digits-string"),
    pytest.param('"12345678901.00"', id="11-digits-decimals"),
    pytest.param("12345678901", id="11-digits-number"),
    pytest.param("1e10", id="1e10-number"),
    pytest.param('"1e999999999"', id="huge-exponent"),
    pytest.param('"1e-999999999"', id="tiny-exponent"),
    pytest.param('"abc"', id="abc"),
    pytest.param('""', id="empty-string"),
    pytest.param("true", id="true"),
    pytest.param("null", id="null"),
    pytest.param("[12.5]", id="array"),
    pytest.param('{"amount": 12.5}', id="object"),
    pytest.param('"' + "9" * 2000 + '"', id="2000-digit-string"),
]


def _with_raw(body: dict, field: str, raw_value: str) -> str:
    body = {**body, field: "PLACEHOLDER"}
    return json.dumps(body).replace('"PLACEHOLDER"', raw_value)


@pytest.mark.parametrize("raw_price", BAD_PRICES)
def test_bad_prices_are_refused_at_registration(client, raw_price):
    response = register_raw(client, _with_raw(register_body(), "price", raw_price))

    assert_field_errors(response, "price")


@pytest.mark.parametrize(
    "raw_price",
    [p for p in BAD_PRICES if p.id in {"1e309-number", "NaN-string", "Infinity-string", "3-decimals-string",
                                       "zero-number", "negative-number", "11-digits-decimals", "abc"}],
)
def test_bad_prices_are_refused_by_change_price(client, product, raw_price):
    with stores_nothing():
        response = post_raw(client, command_path(product, "change-price"), _with_raw({}, "price", raw_price))

    assert_field_errors(response, "price")
    assert len(eventstore.load(product)) == 1


def test_a_bad_currency_is_refused_by_change_price(client, product):
    assert_field_errors(command(client, product, "change-price", {"price": "5.00", "currency": "eur"}), "currency")


@pytest.mark.parametrize("raw_price", ["12.5", '"12.50"', "9999999999.99", '"0.01"', "12"])
def test_good_prices_are_accepted(client, raw_price):
    with stores_events(1):
        response = post_raw(client, PRODUCTS, _with_raw(register_body(), "price", raw_price))

    assert response.status_code == 202, response.content


BAD_QUANTITIES = [
    pytest.param("1.5", id="1.5"),
    pytest.param("0", id="zero"),
    pytest.param("-1", id="minus-one"),
    pytest.param("1000001", id="1000001"),
    pytest.param("1e309", id="1e309"),
    pytest.param('"abc"', id="abc"),
    pytest.param('""', id="empty-string"),
    pytest.param('"1.5"', id="1.5-string"),
    pytest.param("true", id="true"),
    pytest.param("false", id="false"),
    pytest.param("null", id="null"),
    pytest.param("[1]", id="array"),
    pytest.param('{"n": 1}', id="object"),
    pytest.param("99999999999999999999999999", id="huge"),
]


@pytest.mark.parametrize("raw_quantity", BAD_QUANTITIES)
@pytest.mark.parametrize("name", ["receive-stock", "ship-stock"])
def test_bad_quantities_are_refused(client, product, name, raw_quantity):
    with stores_nothing():
        response = post_raw(client, command_path(product, name), _with_raw({}, "quantity", raw_quantity))

    assert_field_errors(response, "quantity")
    assert len(eventstore.load(product)) == 1


@pytest.mark.parametrize("name", ["receive-stock", "ship-stock"])
def test_a_missing_quantity_is_refused(client, product, name):
    assert_field_errors(command(client, product, name, {}), "quantity")


@pytest.mark.parametrize(
    "raw_stock",
    ["-1", "1.5", "1000001", "1e309", '"abc"', "true"],
    ids=["-1", "1.5", "1000001", "1e309", "abc", "true"],
)
def test_bad_initial_stock_is_refused(client, raw_stock):
    response = register_raw(client, _with_raw(register_body(), "initial_stock", raw_stock))

    assert_field_errors(response, "initial_stock")


# --- expected_version ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_version",
    ["-1", '"abc"', "1.5", "true", "1e309", "[0]", '""'],
    ids=["-1", "abc", "1.5", "true", "1e309", "array", "empty-string"],
)
def test_bad_expected_versions_are_refused_at_registration(client, raw_version):
    response = register_raw(client, _with_raw(register_body(), "expected_version", raw_version))

    assert_field_errors(response, "expected_version")


@pytest.mark.parametrize("raw_version", ["-1", '"abc"', "1.5"], ids=["-1", "abc", "1.5"])
def test_bad_expected_versions_are_refused_by_product_commands(client, product, raw_version):
    with stores_nothing():
        raw = _with_raw({"quantity": 1}, "expected_version", raw_version)
        response = post_raw(client, command_path(product, "receive-stock"), raw)

    assert_field_errors(response, "expected_version")
    assert len(eventstore.load(product)) == 1


def test_a_null_expected_version_is_treated_as_absent(client, product):
    with stores_events(1):
        response = post_json(client, PRODUCTS, register_body(expected_version=None))
    assert response.status_code == 202, response.content

    with stores_events(1):
        response = post_json(
            client, command_path(product, "receive-stock"), {"quantity": 2, "expected_version": None}
        )
    assert response.status_code == 202, response.content
    assert response.json()["version"] == 2


# --- Headers: If-Match, Idempotency-Key -----------------------------------


@pytest.mark.parametrize(
    "if_match",
    ["abc", '"abc"', "1", '"-1"', '"1.0"', '"12345678901"', '"1", "2"', '""', "W/", "\"1"],
    ids=["word", "quoted-word", "unquoted", "negative", "decimal", "11-digits", "list", "empty-tag", "weak-only",
         "unterminated"],
)
def test_a_malformed_if_match_is_a_400(client, product, if_match):
    response = command(client, product, "receive-stock", {"quantity": 1}, HTTP_IF_MATCH=if_match)

    assert_field_errors(response, "If-Match")


def test_a_stale_if_match_is_a_412_for_contrast(client, product):
    response = command(client, product, "receive-stock", {"quantity": 1}, HTTP_IF_MATCH='"7"')

    body = assert_error(response, 412, "version_conflict")
    assert body["current_version"] == 1


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "", "caf\u00e9", "tab\there", "bell\u0007", "\u007f"],
    ids=["256-chars", "empty", "non-ascii", "tab", "control", "delete"],
)
def test_a_bad_idempotency_key_is_a_400(client, product, key):
    response = command(client, product, "receive-stock", {"quantity": 1}, HTTP_IDEMPOTENCY_KEY=key)

    assert_field_errors(response, "Idempotency-Key")


def test_an_idempotency_key_of_255_characters_is_accepted(client, product):
    with stores_events(1):
        response = post_json(
            client, command_path(product, "receive-stock"), {"quantity": 1}, HTTP_IDEMPOTENCY_KEY="k" * 255
        )

    assert response.status_code == 202, response.content


# --- Form posts (the browsable API's parsers) ---------------------------------------------


def test_a_form_body_with_invalid_fields_is_a_400_with_field_errors(client):
    with stores_nothing():
        response = client.post(PRODUCTS, {"sku": "bad sku", "name": "Widget"}, format="multipart")

    assert_field_errors(response, "sku", "category", "price", "currency")


def test_a_multipart_body_without_a_boundary_is_a_400(client):
    assert_parse_error(register_raw(client, b"--x\r\n", content_type="multipart/form-data"))


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=BB"


def _multipart(parts: int, *, files: bool) -> bytes:
    filename = b'; filename="f.txt"' if files else b""
    part = b'--BB\r\nContent-Disposition: form-data; name="f%d"' + filename + b"\r\n\r\n1\r\n"
    return b"".join(part % i for i in range(parts)) + b"--BB--\r\n"


@pytest.mark.parametrize(
    "path, body, content_type",
    [
        pytest.param(PRODUCTS, b"&".join([b"f=1"] * 1001), FORM, id="form-1001-fields"),
        pytest.param(PRODUCTS, _multipart(1001, files=False), MULTIPART, id="multipart-1001-fields"),
        pytest.param(PRODUCTS, _multipart(101, files=True), MULTIPART, id="multipart-101-files"),
        pytest.param(
            PRODUCTS + "?" + "&".join(["f=1"] * 1001), json.dumps(register_body()).encode(), JSON,
            id="query-string-1001-params",
        ),
    ],
)
def test_too_many_form_fields_or_files_is_a_json_400(client, path, body, content_type):
    assert len(body) < 256 * 1024

    with stores_nothing():
        response = post_raw(client, path, body, content_type=content_type)

    assert_error(response, 400)


# --- Refusals of well-formed commands store nothing -----------------------------------------


def test_a_duplicate_sku_in_another_case_is_a_409_and_stores_nothing(client):
    body = register_body()
    assert post_json(client, PRODUCTS, body).status_code == 202

    response = register(client, register_body(sku=body["sku"].lower()))

    assert_error(response, 409, "duplicate_sku")


@pytest.mark.parametrize("expected_version", [None, 0])
def test_registering_an_existing_product_id_is_a_409(client, product, expected_version):
    body = register_body(product_id=str(product))
    if expected_version is not None:
        body["expected_version"] = expected_version

    response = register(client, body)

    assert_error(response, 409, "product_exists")
    assert len(eventstore.load(product)) == 1


@pytest.mark.parametrize("expected_version", [0, 2, 10**30])
def test_a_wrong_expected_version_is_a_409_version_conflict(client, product, expected_version):
    response = command(client, product, "receive-stock", {"quantity": 1, "expected_version": expected_version})

    body = assert_error(response, 409, "version_conflict")
    assert body["expected_version"] == expected_version
    assert body["current_version"] == 1


def test_shipping_more_than_the_stock_is_a_409(client, product):
    response = command(client, product, "ship-stock", {"quantity": 11})

    body = assert_error(response, 409, "insufficient_stock")
    assert (body["available"], body["requested"]) == (10, 11)


@pytest.mark.parametrize("name", list(PRODUCT_COMMANDS))
def test_a_discontinued_product_refuses_every_command(client, product, name):
    assert post_json(client, command_path(product, "discontinue"), {}).status_code == 202

    with stores_nothing():
        response = post_json(client, command_path(product, name), PRODUCT_COMMANDS[name])

    assert_error(response, 409, "product_discontinued")
    assert len(eventstore.load(product)) == 2


def test_an_idempotency_key_reused_with_another_request_is_a_422(client, product):
    path = command_path(product, "receive-stock")
    assert post_json(client, path, {"quantity": 1}, HTTP_IDEMPOTENCY_KEY="key-1").status_code == 202

    with stores_nothing():
        response = post_json(client, path, {"quantity": 2}, HTTP_IDEMPOTENCY_KEY="key-1")

    assert_error(response, 422, "idempotency_key_reused")
    assert len(eventstore.load(product)) == 2


# --- Methods and Accept -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE"])
@pytest.mark.parametrize("name", [None, *PRODUCT_COMMANDS])
def test_other_methods_on_command_routes_are_a_json_405(client, product, method, name):
    path = PRODUCTS if name is None else command_path(product, name)
    body = register_body() if name is None else PRODUCT_COMMANDS[name]

    with stores_nothing():
        response = client.generic(method, path, json.dumps(body), content_type=JSON)

    assert_error(response, 405, "method_not_allowed")


def test_an_unsatisfiable_accept_header_is_a_json_406(client):
    with stores_nothing():
        response = post_json(client, PRODUCTS, register_body(), HTTP_ACCEPT="application/xml")

    assert_error(response, 406, "not_acceptable")


# --- Unknown products and paths -----------------------------------------------------------


@pytest.mark.parametrize("name", list(PRODUCT_COMMANDS))
def test_a_command_on_an_unknown_product_is_a_404(client, name):
    unknown = uuid.uuid4()

    with stores_nothing():
        response = post_json(client, command_path(unknown, name), PRODUCT_COMMANDS[name])

    assert_error(response, 404, "product_not_found")
    assert eventstore.load(unknown) == []


@pytest.mark.parametrize("name", list(PRODUCT_COMMANDS))
@pytest.mark.parametrize(
    "product_id",
    ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%ED%A0%80", "%00", "a" * 300],
    ids=["word", "number", "bad-hex", "encoded-surrogate", "encoded-nul", "long"],
)
def test_a_command_on_a_non_uuid_id_is_a_json_404(client, name, product_id):
    with stores_nothing():
        response = post_json(client, command_path(product_id, name), PRODUCT_COMMANDS[name])

    assert_error(response, 404, "product_not_found")


@pytest.mark.parametrize(
    "path",
    ["/api/", "/api/does-not-exist/", "/api/products/x/y/z/", "/api/products/%s/explode/" % uuid.uuid4()],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_api_path_is_a_json_404(client, path, method):
    with stores_nothing():
        if method == "post":
            response = post_json(client, path, register_body())
        else:
            response = client.get(path)

    assert_error(response, 404, "not_found")
