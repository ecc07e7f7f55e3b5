"""The landing page at `/`: links to the API, its docs, the admin and the operations endpoints."""

import re

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

pytestmark = pytest.mark.integration

LINKED = ["/api/products/", "/api/categories/", "/api/docs/", "/api/docs/redoc/", "/api/schema/", "/api/asyncapi/",
          "/admin/",
          "/health/live", "/health/ready", "/metrics"]


@pytest.fixture
def browser_client(committed_db):
    return Client(raise_request_exception=False)


def links(response) -> list[str]:
    return re.findall(r'href="([^"]+)"', response.content.decode())


def test_the_landing_page_links_the_api_its_docs_the_admin_and_operations(browser_client):
    response = browser_client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    found = links(response)
    assert set(LINKED) <= set(found), found
    for href in found:
        path = href.split("?")[0]
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"the landing page links {href}, which no route serves")


def test_the_admin_view_site_link_goes_to_the_landing_page(browser_client):
    from django.contrib import admin

    assert admin.site.site_url == "/"
    assert browser_client.get(admin.site.site_url).status_code == 200


@pytest.mark.parametrize("role", ["command", "query"])
def test_the_landing_page_answers_in_a_split_deployment_and_says_which_side_it_is(browser_client, settings, role):
    settings.SERVICE_ROLE = role

    response = browser_client.get("/")

    assert response.status_code == 200
    assert f"This process serves {'commands' if role == 'command' else 'queries'} only" in response.content.decode()


def test_without_a_role_the_page_names_none(browser_client, settings):
    settings.SERVICE_ROLE = "all"

    assert "This process serves" not in browser_client.get("/").content.decode()
