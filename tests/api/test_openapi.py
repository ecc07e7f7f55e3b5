"""The OpenAPI schema (drf-spectacular): generated without a warning, valid, and complete.

Every command and query route of the HTTP contract (docs/API.md) is in it with its answers, the
documentation pages load nothing from another host, and a split deployment still serves them.
"""

from __future__ import annotations

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

COMMANDS = {
    "/api/products/": "products_register",
    "/api/products/{product_id}/update-details/": "products_update_details",
    "/api/products/{product_id}/change-price/": "products_change_price",
    "/api/products/{product_id}/receive-stock/": "products_receive_stock",
    "/api/products/{product_id}/ship-stock/": "products_ship_stock",
    "/api/products/{product_id}/discontinue/": "products_discontinue",
}
QUERIES = {
    "/api/products/": "products_list",
    "/api/products/{product_id}/": "products_retrieve",
    "/api/products/{product_id}/price-history/": "products_price_history",
    "/api/categories/": "categories_list",
    "/api/categories/{name}/": "categories_retrieve",
    "/api/events/": "events_list",
    "/api/projections/": "projections_list",
    "/api/alerts/low-stock/": "alerts_low_stock",
}
LISTS = {path for path, operation in QUERIES.items()
         if operation.endswith("_list") or "history" in operation or path.startswith("/api/alerts/")}
COMMAND_ERRORS = {"400", "401", "403", "404", "409", "412", "413", "414", "415", "422", "429", "503", "504"}
CONFLICT_CODES = {"duplicate_sku", "product_exists", "insufficient_stock", "product_discontinued", "version_conflict"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """Generated as `manage.py spectacular --validate --fail-on-warn` does: any warning fails."""
    path = tmp_path_factory.mktemp("openapi") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def json_schema(schema: dict, response: dict) -> dict:
    return resolve(schema, response["content"]["application/json"]["schema"])


def parameters(operation: dict) -> dict[tuple[str, str], dict]:
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def test_the_schema_holds_exactly_the_command_and_query_routes(schema):
    operations = {
        (path, method): operation["operationId"]
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }

    expected = {(path, "post"): op for path, op in COMMANDS.items()} | {(path, "get"): op for path, op in QUERIES.items()}
    assert operations == expected
    assert schema["info"]["title"] and schema["info"]["version"] and schema["info"]["description"]


@pytest.mark.parametrize("path", COMMANDS)
def test_each_command_documents_its_body_answer_headers_and_errors(schema, path):
    operation = schema["paths"][path]["post"]
    registers = path == "/api/products/"

    body = resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    assert "expected_version" in body["properties"]
    assert operation["requestBody"]["content"]["application/json"]["examples"]
    success = {"202"} if registers else {"200", "202"}
    for status in success:
        result = json_schema(schema, operation["responses"][status])
        assert set(result["required"]) == {"product_id", "version", "position", "events"}
        event = resolve(schema, result["properties"]["events"]["items"])
        assert set(event["required"]) == {"id", "type", "version"}
        assert "ETag" in operation["responses"][status]["headers"]
    if registers:
        assert "Location" in operation["responses"]["202"]["headers"]

    errors = COMMAND_ERRORS - ({"404"} if registers else set())
    assert set(operation["responses"]) == success | errors
    for status in errors - {"400", "414"}:  # 414 comes from the web server, before the service
        error = json_schema(schema, operation["responses"][status])
        assert {"detail", "code"} <= set(error["required"]), status
    conflict = json_schema(schema, operation["responses"]["409"])
    assert set(resolve(schema, conflict["properties"]["code"])["enum"]) == CONFLICT_CODES
    bad_request = json_schema(schema, operation["responses"]["400"])
    assert len(bad_request["oneOf"]) == 2  # field errors, or {"detail", "code"} for a body that is not JSON
    for status in ("429", "503"):
        assert "Retry-After" in operation["responses"][status]["headers"]
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]

    headers = parameters(operation)
    assert ("header", "Idempotency-Key") in headers and ("header", "If-Match") in headers
    if not registers:
        assert headers[("path", "product_id")]["schema"]["format"] == "uuid"


@pytest.mark.parametrize("path", QUERIES)
def test_each_query_documents_min_position_pagination_and_errors(schema, path):
    operation = schema["paths"][path]["get"]
    params = parameters(operation)

    assert re.fullmatch(params[("query", "min_position")]["schema"]["pattern"], "812-5")
    assert {"200", "400", "401", "414", "503"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    answer = json_schema(schema, operation["responses"]["200"])
    if path in LISTS:
        assert set(answer["properties"]) == {"next", "previous", "results"}
        assert ("query", "page") in params and ("query", "page_size") in params
        assert "404" in operation["responses"]
    if path in ("/api/events/", "/api/projections/", "/api/alerts/low-stock/"):
        assert "403" in operation["responses"]
        assert {} not in operation["security"]  # staff only
    else:
        assert {} in operation["security"]  # open to anonymous readers by default


def test_the_product_list_documents_its_filters_and_ordering(schema):
    params = {name for (location, name) in parameters(schema["paths"]["/api/products/"]["get"]) if location == "query"}

    assert {"category", "status", "min_price", "max_price", "in_stock", "sku", "search", "ordering"} <= params


def test_the_event_log_documents_its_filters(schema):
    params = parameters(schema["paths"]["/api/events/"]["get"])

    assert {("query", "stream_id"), ("query", "type"), ("query", "after")} <= set(params)
    assert re.fullmatch(params[("query", "after")]["schema"]["pattern"], "812-5")


def test_the_product_detail_documents_its_etag_and_304(schema):
    operation = schema["paths"]["/api/products/{product_id}/"]["get"]

    assert ("header", "If-None-Match") in parameters(operation)
    assert "ETag" in operation["responses"]["200"]["headers"]
    assert "content" not in operation["responses"]["304"]
    assert "404" in operation["responses"]


def get(path: str, **headers):
    return Client(raise_request_exception=False).get(path, **headers)


def test_the_schema_is_served_as_yaml_and_json():
    response = get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")

    response = get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["paths"]


@pytest.mark.parametrize(
    "path, assets",
    [
        ("/api/docs/", ["swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui-dist/swagger-ui.css"]),
        ("/api/docs/redoc/", ["redoc/bundles/redoc.standalone.js"]),
    ],
)
def test_the_documentation_pages_load_everything_from_this_service(path, assets):
    response = get(path)

    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "/api/schema/" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page loads something from another host"
    for asset in assets:
        assert f"/static/drf_spectacular_sidecar/{asset}" in page
        assert finders.find(f"drf_spectacular_sidecar/{asset}"), f"{asset} is not among the static files"


@pytest.mark.parametrize("role", ["command", "query"])
def test_a_split_deployment_still_serves_the_schema_and_its_pages(settings, role):
    settings.SERVICE_ROLE = role

    for path in ("/api/schema/", "/api/docs/", "/api/docs/redoc/"):
        assert get(path).status_code == 200, (role, path)
    if role == "command":
        assert get("/api/categories/").status_code == 405  # the other queries are still refused
