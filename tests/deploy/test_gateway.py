"""The APISIX gateway's files: what standalone mode needs, and routes that match Django's URLs.

For every URL Django serves under /api/ and every method its view answers, the route APISIX
would pick must send it to a service whose SERVICE_ROLE serves that method there: POSTs to the
command service, GETs to the query service. No static copy of the URLs: they come from Django.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from feed import websocket
from project.http import service_role as role_middleware
from tests.deploy import compose

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SAMPLES = {"product_id": str(uuid.UUID(int=7)), "name": "Kitchen"}
KNOWN_PLUGINS = {"limit-req", "limit-count", "client-control", "request-id", "proxy-rewrite", "cors", "real-ip"}


@pytest.fixture(scope="module")
def apisix():
    return compose.load_apisix()


@pytest.fixture(scope="module")
def all_routes(apisix):
    return compose.routes(apisix[1])


@pytest.fixture(scope="module")
def stack():
    return compose.load_compose()


def role_of(stack, apisix_config, upstream_id: str) -> str:
    """SERVICE_ROLE of the compose service behind an upstream (its node is service:port)."""
    upstream = next(u for u in apisix_config["upstreams"] if str(u["id"]) == upstream_id)
    (node,) = upstream["nodes"]
    host, port = node.rsplit(":", 1)
    service = stack["services"][host]
    environment = compose.service_environment(service)
    listens = environment.get("UVICORN_PORT") or environment.get("PORT")
    assert listens == port, f"{host} listens on {listens}, the gateway calls {port}"
    assert compose.command_line(service)[0] in ("gunicorn", "uvicorn")
    return environment.get("SERVICE_ROLE", "all")


def server_of(stack, apisix_config, upstream_id: str) -> str:
    """The server program of the compose service behind an upstream: gunicorn (WSGI) or uvicorn (ASGI)."""
    upstream = next(u for u in apisix_config["upstreams"] if str(u["id"]) == upstream_id)
    (node,) = upstream["nodes"]
    return compose.command_line(stack["services"][node.rsplit(":", 1)[0]])[0]


def serves(role: str, path: str, method: str) -> bool:
    """Whether a service of that role answers `method` at `path` (project/http/service_role.py)."""
    always_served = tuple(getattr(role_middleware, "ALWAYS_SERVED", ()))
    if role == "all" or not path.startswith("/api/") or (always_served and path.startswith(always_served)):
        return True
    return method in role_middleware.SERVED[role]


def django_api_paths() -> list[str]:
    """A sample path for every URL pattern Django has under /api/."""
    paths = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = str(pattern.pattern)
            assert not route.startswith("^"), f"regex URL {route!r}: give it a sample here"
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLES.get(m[1], "sample"), prefix + route))

    walk([p for p in get_resolver().url_patterns if str(p.pattern).startswith("api/")], "")
    return sorted(set(paths))


def view_methods(path: str) -> set[str]:
    view = resolve(path).func
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    assert view_class is not None, path
    methods = {m.upper() for m in view_class.http_method_names if hasattr(view_class, m)} & set(METHODS)
    return methods | ({"HEAD"} if "GET" in methods else set())


# --- The files standalone mode reads ---------------------------------------------------------


def test_apisix_yaml_ends_with_the_end_marker_standalone_mode_waits_for(apisix):
    text, _ = apisix
    assert text.rstrip("\n").splitlines()[-1] == "#END"


def test_config_yaml_makes_apisix_a_standalone_data_plane():
    config = compose.load_apisix_config()
    assert config["deployment"]["role"] == "data_plane"
    assert config["deployment"]["role_data_plane"]["config_provider"] == "yaml"
    assert config["apisix"]["node_listen"] == 9080


def test_apisix_yaml_has_the_structure_standalone_mode_expects(apisix):
    _, config = apisix
    assert set(config) <= {"routes", "upstreams", "services", "global_rules", "plugin_configs", "consumers", "ssls"}
    upstream_ids = set()
    for upstream in config["upstreams"]:
        upstream_ids.add(str(upstream["id"]))
        assert upstream["type"] == "roundrobin"
        assert isinstance(upstream["nodes"], dict) and upstream["nodes"]
        for node, weight in upstream["nodes"].items():
            assert re.fullmatch(r"[a-z][a-z0-9-]*:\d+", node) and isinstance(weight, int)
    ids = [str(route["id"]) for route in config["routes"]]
    assert len(ids) == len(set(ids)), "route ids must be unique"
    for route in config["routes"]:
        assert ("uri" in route) != ("uris" in route), route
        assert route["upstream_id"] in upstream_ids
        assert set(route["methods"]) <= set(METHODS)
        for uri in route.get("uris", [route.get("uri")]):
            assert uri.startswith("/") and "*" not in uri[:-1], uri
        for name, plugin in (route.get("plugins") or {}).items():
            assert name in KNOWN_PLUGINS and isinstance(plugin, dict), name
    for rule in config.get("global_rules", []):
        assert rule["id"] and set(rule["plugins"]) <= KNOWN_PLUGINS


def test_the_compose_file_mounts_both_files_where_apisix_reads_them(stack):
    gateway = stack["services"]["apisix"]
    assert gateway["image"].startswith("apache/apisix:")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in gateway["volumes"]}
    assert mounts["/usr/local/apisix/conf/config.yaml"] == "./deploy/apisix/config.yaml"
    assert mounts["/usr/local/apisix/conf/apisix.yaml"] == "./deploy/apisix/apisix.yaml"
    assert {name: dependency["condition"] for name, dependency in gateway["depends_on"].items()} == {
        "command": "service_healthy",
        "query": "service_healthy",
        "feed": "service_healthy",
    }


# --- The routes against Django's URLs --------------------------------------------------------


def test_every_api_url_and_method_reaches_a_service_that_serves_it(apisix, all_routes, stack):
    _, config = apisix
    paths = django_api_paths()
    assert "/api/products/" in paths and f"/api/products/{SAMPLES['product_id']}/change-price/" in paths
    checked = []
    for path in paths:
        for method in sorted(view_methods(path)):
            route = compose.match(all_routes, path, method)
            assert route is not None, f"{method} {path}: no gateway route (APISIX would answer 404)"
            role = role_of(stack, config, route.upstream_id)
            assert serves(role, path, method), f"{method} {path} goes to {route.upstream_id} (SERVICE_ROLE={role})"
            checked.append((method, path, role))
    roles = {(method, role) for method, _, role in checked}
    assert ("POST", "command") in roles and ("GET", "query") in roles
    assert ("GET", "command") not in roles and ("POST", "query") not in roles


def test_the_change_feeds_streams_reach_an_asgi_server_and_nothing_else_does(apisix, all_routes, stack):
    """A stream held open by a WSGI worker would hold one of its threads per follower."""
    from feed.views import FeedApi

    _, config = apisix
    streams = [path for path in django_api_paths() if issubclass(_view_class(path), FeedApi)]
    assert {"/api/events/stream/", "/api/products/changes/"} <= set(streams)
    for path in django_api_paths():
        for method in sorted(view_methods(path)):
            server = server_of(stack, config, compose.match(all_routes, path, method).upstream_id)
            assert (server == "uvicorn") == (path in streams), f"{method} {path} goes to {server}"


def test_the_websocket_route_is_upgraded_and_reaches_the_feed_service(apisix, all_routes, stack):
    _, config = apisix
    route = compose.match(all_routes, websocket.PATH, "GET")
    assert route.upstream_id == "feed" and server_of(stack, config, "feed") == "uvicorn"
    (raw,) = [r for r in config["routes"] if r.get("uri") == websocket.PATH]
    assert raw["enable_websocket"] is True


def _view_class(path: str):
    view = resolve(path).func
    return getattr(view, "view_class", None) or getattr(view, "cls", None)


def test_every_command_is_rate_limited_and_size_limited_at_the_gateway(all_routes):
    for path in django_api_paths():
        if "POST" in view_methods(path):
            plugins = compose.match(all_routes, path, "POST").plugins
            assert plugins["limit-req"]["rate"] > 0 and plugins["limit-req"]["rejected_code"] == 429
            assert plugins["limit-req"]["key"] == "remote_addr"
            assert plugins["client-control"]["max_body_size"] == settings.COMMAND_MAX_BODY_BYTES


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
def test_the_health_endpoints_are_routed_for_get_and_head(all_routes, path):
    assert resolve(path).url_name in ("health-live", "health-ready")
    for method in ("GET", "HEAD"):
        assert compose.match(all_routes, path, method) is not None


@pytest.mark.parametrize("path", ["/admin", "/admin/", "/admin/login/", "/admin/projections/projectionstate/", "/api-auth/login/"])
def test_the_admin_and_the_login_take_get_and_post_on_one_service(apisix, all_routes, stack, path):
    _, config = apisix
    get, post = compose.match(all_routes, path, "GET"), compose.match(all_routes, path, "POST")
    assert get is not None and post is not None, path
    assert get.upstream_id == post.upstream_id  # one service sees the login form and its post
    if path != "/admin":  # Django redirects it to /admin/
        resolve(path)


@pytest.mark.parametrize("path, name", [("/", "landing"), ("/products/live/", "products-live")])
def test_the_pages_are_routed_to_a_service_that_serves_them(apisix, all_routes, stack, path, name):
    _, config = apisix
    assert resolve(path).url_name == name
    for method in ("GET", "HEAD"):
        route = compose.match(all_routes, path, method)
        assert route is not None, f"{method} {path}: no gateway route"
        assert role_of(stack, config, route.upstream_id) in ("all", "query")


def test_static_files_are_routed_and_metrics_are_not(all_routes):
    assert compose.match(all_routes, f"/{settings.STATIC_URL.strip('/')}/admin/css/base.css", "GET") is not None
    for method in METHODS:
        assert compose.match(all_routes, "/metrics", method) is None, "scrape /metrics on each service, not via the gateway"


def test_no_route_leads_nowhere(all_routes):
    """Every uri of every route matches something Django (or WhiteNoise) serves."""
    served = django_api_paths() + ["/", "/products/live/", "/health/live", "/health/ready", "/admin", "/admin/",
                                   "/api-auth/login/", "/static/x.css"] + [websocket.PATH]
    for route in all_routes:
        for uri in route.uris:
            assert any(compose._uri_match(uri, path) for path in served), f"{route.id}: {uri} matches no URL"


def test_the_matcher_follows_apisix_precedence():
    routes = [
        compose.Route("prefix", ("/api/*",), ("GET",), "query", 0, {}),
        compose.Route("deeper", ("/api/products/*",), ("GET",), "command", 0, {}),
        compose.Route("exact", ("/api/products/",), ("POST",), "command", 0, {}),
    ]
    assert compose.match(routes, "/api/categories/", "GET").id == "prefix"
    assert compose.match(routes, "/api/products/1/", "GET").id == "deeper"
    assert compose.match(routes, "/api/products/", "POST").id == "exact"
    assert compose.match(routes, "/api/products/", "DELETE") is None
    assert compose.match(routes, "/apix", "GET") is None
    tie = [compose.Route("a", ("/api/*",), ("GET",), "query", 0, {}), compose.Route("b", ("/api/*",), ("GET",), "command", 0, {})]
    with pytest.raises(AssertionError, match="alike"):
        compose.match(tie, "/api/products/", "GET")
