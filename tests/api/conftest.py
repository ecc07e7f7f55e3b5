import uuid

import pytest

from tests.api.helpers import PRODUCTS, post_json, register_body


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


