"""The structure of the API's paths: `/api/products/` is two peer views, one per method.

docs/API.md, "Commands" and "Queries": GET lists products (a query: open to readers, not
throttled) and POST registers one (a command: authenticated, permitted, throttled) on one path.
Each method keeps its own policies; every other route is served by exactly one view.
"""

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.test import APIClient

from products.api.views import ProductCommandApi, ProductRegisterApi
from projections.api import views as query_views

from .helpers import PRODUCTS, assert_error, command_path, post_json, register_body, stores_events, stores_nothing

pytestmark = pytest.mark.integration

ALL_METHODS = "GET, POST, HEAD, OPTIONS"
COMMAND_ROUTES = ["update-details", "change-price", "receive-stock", "ship-stock", "discontinue"]


def client_for(user=None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_authenticate(user)
    return client


def test_get_and_post_on_the_product_path_keep_their_own_policies(make_user, settings):
    cache.clear()
    settings.COMMAND_THROTTLE_RATE = "1/minute"
    anonymous, forbidden, commander = client_for(), client_for(make_user(can_command=False)), client_for(make_user())

    for client in (anonymous, forbidden):
        assert client.get(PRODUCTS).status_code == 200  # queries are open to readers
    with stores_nothing():
        assert_error(post_json(anonymous, PRODUCTS, register_body()), 401, "not_authenticated")
        assert_error(post_json(forbidden, PRODUCTS, register_body()), 403, "permission_denied")

    with stores_events(1):
        accepted = post_json(commander, PRODUCTS, register_body())
    assert accepted.status_code == 202, accepted.content
    with stores_nothing():
        assert_error(post_json(commander, PRODUCTS, register_body()), 429, "throttled")
    # The command's throttle is the command's: the same user still reads, as often as they like.
    for _ in range(3):
        listed = commander.get(PRODUCTS)
        assert listed.status_code == 200
    assert listed["Allow"] == accepted["Allow"] == ALL_METHODS


def test_the_product_path_answers_options_and_refuses_other_methods_with_its_allow(committed_db):
    options = client_for().options(PRODUCTS)
    assert options.status_code == 200 and options["Allow"] == ALL_METHODS

    refused = client_for().put(PRODUCTS, {}, format="json")
    assert_error(refused, 405, "method_not_allowed")
    assert refused["Allow"] == ALL_METHODS


def test_the_list_and_the_register_command_are_peers_not_parent_and_child():
    products = resolve(PRODUCTS).func.cls

    assert products.peers == {"GET": query_views.ProductListApi, "POST": ProductRegisterApi}
    assert not issubclass(query_views.ProductListApi, ProductCommandApi)
    assert not issubclass(ProductRegisterApi, query_views.ProductListApi)


@pytest.mark.parametrize(
    "view, generic",
    [
        (query_views.ProductListApi, ListAPIView),
        (query_views.PriceHistoryApi, ListAPIView),
        (query_views.CategoryListApi, ListAPIView),
        (query_views.EventListApi, ListAPIView),
        (query_views.ProjectionListApi, ListAPIView),
        (query_views.ProductDetailApi, RetrieveAPIView),
        (query_views.CategoryDetailApi, RetrieveAPIView),
    ],
)
def test_the_query_views_are_drf_generic_views(view, generic):
    assert issubclass(view, generic)


def test_each_command_view_names_its_command_itself():
    product_id = "00000000-0000-0000-0000-000000000007"
    views = [ProductRegisterApi] + [resolve(command_path(product_id, route)).func.cls for route in COMMAND_ROUTES]

    names = [view.__dict__.get("command_name") for view in views]
    assert names == ["register", "update_details", "change_price", "receive_stock", "ship_stock", "discontinue"]
    assert all(view.__dict__.get("name") for view in views), "each command page needs a title of its own"


def test_no_api_route_is_shadowed_by_another():
    routes = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    api_routes = [route for route in routes if route.startswith("api/")]
    assert len(api_routes) == len(set(api_routes)), sorted(r for r in api_routes if api_routes.count(r) > 1)
