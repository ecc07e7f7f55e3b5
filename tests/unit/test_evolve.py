"""evolve and fold: a product's state is its history replayed, and history is never refused."""

from decimal import Decimal

from products.domain.commands import ChangePrice, ReceiveStock, ShipStock, UpdateProductDetails
from products.domain.events import (
    Money,
    ProductDetailsUpdated,
    ProductDiscontinued,
    ProductPriceChanged,
    StockReceived,
    StockShipped,
)
from products.domain.product import Product, decide, evolve, fold

from .builders import PRODUCT_ID, registered


def test_no_history_is_no_product():
    assert fold([]) is None


def test_registration_gives_an_active_product_with_its_initial_stock():
    assert fold([registered()]) == Product(
        sku="WIDGET-1",
        name="Widget",
        description="A small widget.",
        category="Gadgets",
        price=Decimal("10.00"),
        currency="EUR",
        stock=5,
        discontinued=False,
    )


def test_folding_a_history_reproduces_stock_price_details_and_status():
    history = [
        registered(initial_stock=5),
        StockReceived(quantity=10, stock=15),
        StockShipped(quantity=4, stock=11),
        ProductPriceChanged(old_price=Money(Decimal("10.00"), "EUR"), price=Money(Decimal("12.50"), "USD")),
        ProductDetailsUpdated(name="Gizmo", description="Bigger.", category="Tools"),
        ProductDiscontinued(reason="Replaced."),
    ]

    assert fold(history) == Product(
        sku="WIDGET-1",
        name="Gizmo",
        description="Bigger.",
        category="Tools",
        price=Decimal("12.50"),
        currency="USD",
        stock=11,
        discontinued=True,
    )


def test_the_stock_level_comes_from_the_event_not_from_arithmetic():
    # Events carry the level after the move, so a reader (or evolve) needs no sum.
    assert fold([registered(initial_stock=5), StockReceived(quantity=3, stock=8)]).stock == 8


def test_evolve_never_refuses_what_decide_would_have():
    # History has already happened: a shipment below zero in the log is still applied.
    state = evolve(fold([registered(initial_stock=1)]), StockShipped(quantity=3, stock=-2))

    assert state.stock == -2


def test_evolve_leaves_the_earlier_state_untouched():
    before = fold([registered()])

    after = evolve(before, ProductDiscontinued(reason=""))

    assert (before.discontinued, after.discontinued) == (False, True)


def test_decided_events_folded_onto_their_history_give_the_state_the_commands_describe():
    history = [registered(initial_stock=5)]
    for command in [
        ReceiveStock(PRODUCT_ID, quantity=7),
        ShipStock(PRODUCT_ID, quantity=12),
        ChangePrice(PRODUCT_ID, price=Decimal("3.5"), currency="GBP"),
        UpdateProductDetails(PRODUCT_ID, category=" Tools "),
    ]:
        history += decide(command, fold(history))

    state = fold(history)

    assert (state.stock, state.price, state.currency, state.category) == (0, Decimal("3.50"), "GBP", "Tools")
    assert len(history) == 5, "each of the four commands should have recorded exactly one event"
