"""The admin's history of a product: its events, and its state as of any version."""

import uuid
from decimal import Decimal

import pytest
from django.test import Client

from products.domain.commands import ChangePrice, RegisterProduct, ShipStock
from products.handlers import handle

pytestmark = pytest.mark.integration


@pytest.fixture
def staff_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def product_id(committed_db) -> uuid.UUID:
    product_id = uuid.uuid4()
    handle(RegisterProduct(product_id=product_id, sku=f"TL-{product_id.hex[:10]}", name="Kettle", category="Kitchen",
                           price=Decimal("10.00"), currency="EUR", initial_stock=7))
    handle(ChangePrice(product_id=product_id, price=Decimal("12.50")))
    handle(ShipStock(product_id=product_id, quantity=2))
    return product_id


def timeline_url(product_id) -> str:
    return f"/admin/projections/catalogproduct/{product_id}/timeline/"


def test_the_timeline_lists_the_events_and_shows_the_latest_state(staff_client, product_id):
    page = staff_client.get(timeline_url(product_id)).content.decode()
    assert "State at version 3" in page
    for event_type in ("ProductRegistered", "ProductPriceChanged", "StockShipped"):
        assert event_type in page
    assert "<th>price</th><td>12.50</td>" in page and "<th>stock</th><td>5</td>" in page


def test_the_timeline_shows_the_state_at_an_earlier_version(staff_client, product_id):
    page = staff_client.get(timeline_url(product_id), {"version": 1}).content.decode()
    assert "State at version 1" in page
    assert "<th>price</th><td>10.00</td>" in page and "<th>stock</th><td>7</td>" in page  # before the change and the shipment
    assert '<a href="?version=3">state at version 3</a>' in page


def test_a_version_outside_the_history_or_an_unknown_product_is_refused(staff_client, product_id):
    assert staff_client.get(timeline_url(product_id), {"version": 4}).status_code == 400
    assert staff_client.get(timeline_url(product_id), {"version": "two"}).status_code == 400
    assert staff_client.get(timeline_url(uuid.uuid4())).status_code == 404


def test_only_staff_see_a_products_timeline(make_user, product_id):
    client = Client()
    client.force_login(make_user(is_staff=False))
    response = client.get(timeline_url(product_id))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_products_page_in_the_admin_links_to_its_timeline(staff_client, product_id):
    from projections import engine, projectors

    engine.catch_up(projectors.get("product_catalog"))
    page = staff_client.get(f"/admin/projections/catalogproduct/{product_id}/change/").content.decode()
    assert f'href="{timeline_url(product_id)}"' in page
