"""Who may command, how much, and how big: 401/403, token and session auth, 413 and 429.

docs/API.md, "Users" and "Commands": commands need an authenticated user holding
products.issue_product_commands (superusers have it); 401 carries WWW-Authenticate; bodies
above the limit (256 KiB by default) are 413 request_too_large; a throttled client gets 429
with Retry-After; every error body is JSON {"detail", "code"} and stores nothing.
"""

import json
import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from products import eventstore

from .helpers import (
    JSON,
    PRODUCT_COMMANDS,
    PRODUCTS,
    assert_error,
    assert_json,
    command_path,
    post_json,
    post_raw,
    register_body,
    stores_events,
    stores_nothing,
)

pytestmark = pytest.mark.integration

TEN_MB = 10 * 1024 * 1024


def anonymous_client() -> APIClient:
    return APIClient(raise_request_exception=False)


def client_for(user) -> APIClient:
    client = anonymous_client()
    client.force_authenticate(user)
    return client


def all_command_requests(product_id):
    """(path, body) for each of the six commands, valid for an existing product."""
    yield PRODUCTS, register_body()
    for name, body in PRODUCT_COMMANDS.items():
        yield command_path(product_id, name), body


def assert_not_authenticated(response, code: str = "not_authenticated"):
    assert_error(response, 401, code)
    assert response.get("WWW-Authenticate"), "a 401 must say how to authenticate"
    assert response["WWW-Authenticate"].startswith("Token")


# --- 401: not authenticated -----------------------------------------------------------------


def test_every_command_without_credentials_is_a_401_with_www_authenticate(client, product):
    anonymous = anonymous_client()

    for path, body in all_command_requests(product):
        with stores_nothing():
            response = post_json(anonymous, path, body)
        assert_not_authenticated(response)

    assert len(eventstore.load(product)) == 1


def test_authentication_comes_before_parsing(committed_db):
    with stores_nothing():
        response = post_raw(anonymous_client(), PRODUCTS, b'{"sku":')

    assert_not_authenticated(response)


@pytest.mark.parametrize(
    "authorization, code",
    [
        ("Token nope", "authentication_failed"),
        ("Token " + "0" * 40, "authentication_failed"),
        ("Token", "authentication_failed"),
        ("Token a b", "authentication_failed"),
        ("Token caf\u00e9", "authentication_failed"),
        ("Bearer nope", "authentication_failed"),
        ("Bearer " + "0" * 40, "authentication_failed"),
        ("Bearer", "authentication_failed"),
        ("Basic dXNlcjpwdw==", "not_authenticated"),
        ("", "not_authenticated"),
    ],
    ids=["nope", "unknown-key", "no-key", "two-keys", "non-ascii", "bearer", "bearer-unknown-key", "bearer-no-key", "basic", "empty"],
)
def test_invalid_credentials_are_a_401_with_www_authenticate(committed_db, authorization, code):
    with stores_nothing():
        response = post_json(anonymous_client(), PRODUCTS, register_body(), HTTP_AUTHORIZATION=authorization)

    assert_not_authenticated(response, code)


def test_the_token_of_an_inactive_user_is_a_401(make_user, token_for):
    user = make_user(is_active=False)
    key = token_for(user)

    with stores_nothing():
        response = post_json(anonymous_client(), PRODUCTS, register_body(), HTTP_AUTHORIZATION=f"Token {key}")

    assert_not_authenticated(response, "authentication_failed")


# --- 403: authenticated without the permission ----------------------------------------------


def test_every_command_without_the_permission_is_a_403(make_user, product):
    forbidden = client_for(make_user(can_command=False))

    for path, body in all_command_requests(product):
        with stores_nothing():
            response = post_json(forbidden, path, body)
        assert_error(response, 403, "permission_denied")

    assert len(eventstore.load(product)) == 1


def test_staff_without_the_permission_is_a_403(make_user):
    with stores_nothing():
        response = post_json(client_for(make_user(can_command=False, is_staff=True)), PRODUCTS, register_body())

    assert_error(response, 403, "permission_denied")


def test_a_token_without_the_permission_is_a_403(make_user, token_for):
    key = token_for(make_user(can_command=False))

    with stores_nothing():
        response = post_json(anonymous_client(), PRODUCTS, register_body(), HTTP_AUTHORIZATION=f"Token {key}")

    assert_error(response, 403, "permission_denied")


def test_a_superuser_without_the_explicit_permission_can_command(make_user):
    superuser = make_user(can_command=False, is_superuser=True)
    assert not superuser.user_permissions.exists()

    with stores_events(1):
        response = post_json(client_for(superuser), PRODUCTS, register_body())

    assert response.status_code == 202, response.content


# --- Token and session authentication -------------------------------------------------------


def test_token_authentication_works_for_every_command(make_user, token_for):
    key = token_for(make_user())
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    with stores_events(1):
        response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
    assert response["Location"] == f"{PRODUCTS}{response.json()['product_id']}/"
    product_id = response.json()["product_id"]

    for name, body in PRODUCT_COMMANDS.items():
        with stores_events(1):
            response = post_json(client, command_path(product_id, name), body)
        assert response.status_code == 202, (name, response.content)


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_the_token_is_taken_under_the_token_and_the_bearer_scheme(make_user, token_for, settings, scheme):
    settings.QUERIES_REQUIRE_AUTHENTICATION = True
    client = anonymous_client()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token_for(make_user())}")

    with stores_events(1):
        response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
    assert client.get(PRODUCTS).status_code == 200


def test_a_wrong_bearer_token_is_a_401_naming_the_token_scheme(make_user, token_for, settings):
    settings.QUERIES_REQUIRE_AUTHENTICATION = True
    right = token_for(make_user())
    wrong = anonymous_client()
    wrong.credentials(HTTP_AUTHORIZATION=f"Bearer {right[::-1]}")

    with stores_nothing():
        assert_not_authenticated(post_json(wrong, PRODUCTS, register_body()), "authentication_failed")
    assert_not_authenticated(wrong.get(PRODUCTS), "authentication_failed")


def _session_client(make_user) -> Client:
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(make_user())
    return client


def test_a_session_post_without_a_csrf_token_is_a_403(make_user):
    client = _session_client(make_user)

    with stores_nothing():
        response = client.post(PRODUCTS, json.dumps(register_body()), content_type=JSON)

    body = assert_error(response, 403, "permission_denied")
    assert "CSRF" in body["detail"]


def test_a_session_post_with_a_wrong_csrf_token_is_a_403(make_user):
    client = _session_client(make_user)
    client.get("/api-auth/login/")

    with stores_nothing():
        response = client.post(PRODUCTS, json.dumps(register_body()), content_type=JSON, HTTP_X_CSRFTOKEN="x" * 32)

    assert_error(response, 403, "permission_denied")


def test_a_session_post_with_the_csrf_token_is_accepted(make_user):
    client = _session_client(make_user)
    page = client.get("/api-auth/login/")
    assert page.status_code == 200
    csrf_token = client.cookies["csrftoken"].value

    with stores_events(1):
        response = client.post(PRODUCTS, json.dumps(register_body()), content_type=JSON, HTTP_X_CSRFTOKEN=csrf_token)

    assert response.status_code == 202, response.content


# --- 413: body too large ----------------------------------------------------------------------


def test_a_10_mb_json_body_is_a_413(client):
    body = json.dumps(register_body(description="d" * TEN_MB)).encode()

    with stores_nothing():
        response = post_raw(client, PRODUCTS, body)

    assert_error(response, 413, "request_too_large")


def test_a_10_mb_multipart_body_is_a_413(client):
    upload = SimpleUploadedFile("big.bin", b"\0" * TEN_MB, content_type="application/octet-stream")

    with stores_nothing():
        response = client.post(PRODUCTS, {**register_body(), "file": upload}, format="multipart")

    assert response.wsgi_request.META["CONTENT_TYPE"].startswith("multipart/form-data")
    assert_error(response, 413, "request_too_large")


def test_a_10_mb_form_body_is_a_413(client):
    with stores_nothing():
        response = post_raw(
            client, PRODUCTS, b"description=" + b"d" * TEN_MB, content_type="application/x-www-form-urlencoded"
        )

    assert_error(response, 413, "request_too_large")


def test_a_body_just_over_the_limit_is_a_413_and_just_under_is_parsed(client, product, settings):
    limit = settings.COMMAND_MAX_BODY_BYTES
    path = command_path(product, "receive-stock")

    def body_of(size: int) -> bytes:
        start = b'{"quantity": 1'  # padded with JSON whitespace: an unknown field would be a 400
        return start + b" " * (size - len(start) - 1) + b"}"

    with stores_nothing():
        response = post_raw(client, path, body_of(limit + 1))
    assert_error(response, 413, "request_too_large")

    with stores_events(1):
        response = post_raw(client, path, body_of(limit))
    assert response.status_code == 202, response.content


def test_a_body_too_large_for_the_anonymous_is_not_a_500(committed_db):
    with stores_nothing():
        response = post_raw(anonymous_client(), PRODUCTS, b"x" * TEN_MB)

    assert_error(response, 413, "request_too_large")


@pytest.mark.parametrize("length", ["abc", "-1", "+5", "1e9", " 12"])
def test_a_content_length_that_is_not_a_number_is_a_json_400(client, length):
    with stores_nothing():
        response = post_json(client, PRODUCTS, register_body(), CONTENT_LENGTH=length)

    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize(
    "length", ["\u00b2", "\u00b9\u00b3", "9" * 5000], ids=["superscript-two", "superscripts", "5000-digits"]
)
def test_an_odd_content_length_is_a_4xx_not_a_500(client, length):
    with stores_nothing():
        response = post_json(client, PRODUCTS, register_body(), CONTENT_LENGTH=length)

    body = assert_json(response, response.status_code)
    assert response.status_code in (400, 413), body
    assert body["code"] in ("bad_request", "request_too_large")


# --- 429: throttled ---------------------------------------------------------------------------


def test_the_fourth_command_within_the_rate_is_a_429_and_stores_nothing(client, make_user, settings):
    cache.clear()
    settings.COMMAND_THROTTLE_RATE = "3/minute"

    response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
    product_id = uuid.UUID(response.json()["product_id"])
    path = command_path(product_id, "receive-stock")
    for _ in range(2):
        assert post_json(client, path, {"quantity": 1}).status_code == 202

    with stores_nothing():
        response = post_json(client, path, {"quantity": 1})

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert len(eventstore.load(product_id)) == 3

    # Per user: someone else is not held back by this user's rate.
    with stores_events(1):
        other = post_json(client_for(make_user()), path, {"quantity": 1})
    assert other.status_code == 202, other.content


def test_the_throttle_covers_every_command_and_the_register_endpoint(client, product, settings):
    cache.clear()
    settings.COMMAND_THROTTLE_RATE = "1/minute"
    paths = [(p, b) for p, b in all_command_requests(product)]

    first_path, first_body = paths[1]
    assert post_json(client, first_path, first_body).status_code == 202

    for path, body in paths:
        with stores_nothing():
            response = post_json(client, path, body)
        assert_error(response, 429, "throttled")
        assert response["Retry-After"]
