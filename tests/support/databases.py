"""PostgreSQL URLs for the processes a test or a benchmark starts."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def database_url(db_settings: dict) -> str:
    """A DATABASE_URL pointing at the database a Django DATABASES entry uses."""
    user = quote(db_settings.get("USER") or "postgres", safe="")
    password = db_settings.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = db_settings.get("HOST") or "127.0.0.1"
    port = db_settings.get("PORT") or "5432"
    return f"postgres://{credentials}@{host}:{port}/{quote(db_settings['NAME'], safe='')}"


def on_same_server(server_url: str, name: str) -> str:
    """The URL of database `name` on the server (and as the user) of `server_url`."""
    return urlsplit(server_url)._replace(path=f"/{quote(name, safe='')}").geturl()
