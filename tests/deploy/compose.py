"""Reading docker-compose.yml and the APISIX files the way Docker Compose and APISIX would.

Docker does not run on the development machines, so tests/deploy runs each service's command
itself: the environment is the compose file's, interpolated with .env.example the way
`docker compose` interpolates it with .env, and the route matching follows APISIX's radixtree
router (an exact uri before the longest prefix ending in `*`, then the route's methods).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
APISIX_DIR = ROOT / "deploy" / "apisix"

# The services whose command is ours (the image built from the Dockerfile).
OUR_SERVICES = ("migrate", "command", "query", "feed", "worker", "beat", "flower")

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines, as compose reads .env (comments and blank lines ignored)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR and $$."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("plain"):
            return variables.get(match.group("plain"), "")
        expression = match.group("braced")
        found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?", expression, re.S)
        if not found:
            raise InterpolationError(f"invalid interpolation: ${{{expression}}}")
        name, operator, argument = found.groups()
        value = variables.get(name)
        unset = value is None or (operator and operator.startswith(":") and value == "")
        if operator in ("-", ":-"):
            return argument if unset else value
        if operator in ("?", ":?"):
            if unset:
                raise InterpolationError(f"{name}: {argument}")
            return value
        return value or ""

    return _VARIABLE.sub(replace, text)


def _interpolate_all(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_all(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_all(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: dict[str, str] | None = None) -> dict:
    """docker-compose.yml with its anchors merged and its variables interpolated."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return _interpolate_all(raw, read_env_file() if variables is None else variables)


def service_environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def image_environment() -> dict[str, str]:
    """The ENV the Dockerfile sets, which every service of ours starts with."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    values = {}
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            for item in shlex.split(line.strip()[4:]):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def command_line(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def local_argv(argv: list[str]) -> list[str]:
    """The same command with this test run's Python: `gunicorn ...` as `python -m gunicorn ...`."""
    program, *rest = argv
    if program == "python":
        return [sys.executable, *rest]
    if program in ("gunicorn", "celery", "uvicorn"):
        return [sys.executable, "-m", program, *rest]
    raise AssertionError(f"unexpected program {program!r} in the compose file")


def healthcheck_argv(service: dict) -> tuple[list[str], bool]:
    """The health check's command and whether it runs in a shell (CMD-SHELL)."""
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return [test], True
    kind, *rest = test
    if kind == "CMD-SHELL":
        return [" ".join(rest)], True
    assert kind == "CMD", test
    return rest, False


# --- APISIX ---------------------------------------------------------------------------------


def load_apisix() -> tuple[str, dict]:
    text = (APISIX_DIR / "apisix.yaml").read_text()
    return text, yaml.safe_load(text)


def load_apisix_config() -> dict:
    return yaml.safe_load((APISIX_DIR / "config.yaml").read_text())


@dataclass(frozen=True)
class Route:
    id: str
    uris: tuple[str, ...]
    methods: tuple[str, ...]
    upstream_id: str
    priority: int
    plugins: dict


def routes(config: dict) -> list[Route]:
    found = []
    for route in config["routes"]:
        uris = tuple(route["uris"]) if "uris" in route else (route["uri"],)
        found.append(
            Route(
                id=str(route["id"]),
                uris=uris,
                methods=tuple(route.get("methods") or ()),
                upstream_id=str(route["upstream_id"]),
                priority=int(route.get("priority", 0)),
                plugins=route.get("plugins") or {},
            )
        )
    return found


def _uri_match(pattern: str, path: str) -> tuple[int, int] | None:
    """(kind, length): 1 for an exact match, 0 for a prefix match of that length; None if no match."""
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return (0, len(prefix)) if path.startswith(prefix) else None
    return (1, len(pattern)) if path == pattern else None


def match(all_routes: list[Route], path: str, method: str) -> Route | None:
    """The route APISIX's radixtree_uri router picks for this request, or None (404)."""
    candidates = []
    for route in all_routes:
        if route.methods and method not in route.methods:
            continue
        scores = [score for uri in route.uris if (score := _uri_match(uri, path)) is not None]
        if scores:
            candidates.append((max(scores), route.priority, route))
    if not candidates:
        return None
    candidates.sort(key=lambda item: (item[0], item[1]), reverse=True)
    best = candidates[0]
    tied = [route.id for score, priority, route in candidates if (score, priority) == best[:2]]
    # APISIX would pick one of them by chance of load order: a route table must not leave that open.
    assert len(tied) == 1, f"{method} {path} matches {tied} alike: give them distinct methods or a priority"
    return best[2]
