"""GET /api/alerts/low-stock/: the low-stock consumer's alerts, for staff (docs/CONSUMERS.md)."""

import pytest
from django.test import Client

from projections import engine, projectors

from .helpers import PRODUCTS, post_json, register_body

pytestmark = pytest.mark.integration

ALERTS = "/api/alerts/low-stock/"


def test_staff_see_the_alert_a_shipment_raised_waiting_for_the_consumer_with_min_position(api, make_user, token_for,
                                                                                          settings):
    settings.LOW_STOCK_THRESHOLD = 5
    product_id = post_json(api, PRODUCTS, register_body(initial_stock=8)).json()["product_id"]
    shipped = post_json(api, f"{PRODUCTS}{product_id}/ship-stock/", {"quantity": 5}).json()
    staff = {"Authorization": f"Token {token_for(make_user(is_staff=True))}"}
    reader = {"Authorization": f"Token {token_for(make_user())}"}

    assert Client().get(ALERTS, headers=reader).status_code == 403
    assert engine.catch_up(projectors.get("low_stock_alert")).outcome == "caught_up"
    answer = Client().get(ALERTS, {"product_id": product_id, "min_position": shipped["position"]}, headers=staff)

    assert answer.status_code == 200, answer.content
    (alert,) = answer.json()["results"]
    assert (alert["stock"], alert["threshold"], alert["position"]) == (3, 5, shipped["position"])
    assert alert["event_id"] == shipped["events"][0]["id"]
    assert Client().get(ALERTS, {"product_id": "nope"}, headers=staff).status_code == 400
