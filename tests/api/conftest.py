import uuid

import pytest

from tests.api.helpers import PRODUCTS, post_json, register_body
from tests.support.processes import feed_server


@pytest.fixture
def client(api):
    """The authorized client of conftest, answering a 500 as a response instead of raising."""
    api.raise_request_exception = False
    return api


@pytest.fixture
def product(client):
    """An active product with a stock of 10; its id."""
    response = post_json(client, PRODUCTS, register_body())
    assert response.status_code == 202, response.content
    return uuid.UUID(response.json()["product_id"])




@pytest.fixture(scope="module")
def server(django_db_setup):
    """uvicorn serving the whole service as the feed service runs it, one per test module; a
    heartbeat every second, so that an idle stream shows it soon."""
    with feed_server(FEED_HEARTBEAT_SECONDS="1") as base_url:
        yield base_url
