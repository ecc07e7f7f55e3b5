"""The `eventsourcing` library's baseline: one-event aggregates saved through its PostgreSQL module."""

from __future__ import annotations

from decimal import Decimal

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Product(Aggregate):
    @event("Registered")
    def __init__(self, sku: str, name: str, description: str, category: str, price: Decimal, currency: str,
                 initial_stock: int) -> None:
        self.sku = sku
        self.name = name
        self.description = description
        self.category = category
        self.price = price
        self.currency = currency
        self.stock = initial_stock


class Catalog(Application):
    name = "BenchCatalog"

    def register(self, data: dict) -> None:
        self.save(Product(**{**data, "price": Decimal(data["price"])}))


def environment(dbname: str, host: str, port: str, user: str, password: str, create_table: bool) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": port,
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y" if create_table else "n",
    }
