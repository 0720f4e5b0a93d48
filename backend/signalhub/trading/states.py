"""The order state machine, enforced here and nowhere else."""

from __future__ import annotations

from datetime import datetime

from signalhub.core import metrics
from signalhub.models.trading_order import TradingOrder

PENDING, SUBMITTED, PARTIALLY_FILLED, FILLED = "PENDING", "SUBMITTED", "PARTIALLY_FILLED", "FILLED"
CANCELLED, REJECTED, FAILED = "CANCELLED", "REJECTED", "FAILED"
TERMINAL = frozenset({FILLED, CANCELLED, REJECTED, FAILED})
OPEN = frozenset({SUBMITTED, PARTIALLY_FILLED})

_ALLOWED: dict[str, frozenset[str]] = {
    PENDING: frozenset({SUBMITTED, CANCELLED, REJECTED, FAILED}),
    SUBMITTED: frozenset({PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, FAILED}),
    PARTIALLY_FILLED: frozenset({FILLED, CANCELLED}),
    FILLED: frozenset(), CANCELLED: frozenset(), REJECTED: frozenset(), FAILED: frozenset(),
}


class InvalidTransitionError(ValueError):
    """A state change the machine does not allow (a bug, or a stale view of the order)."""


def can_transition(current: str, new: str) -> bool:
    """Whether `current` -> `new` is allowed (staying put always is)."""
    return current == new or new in _ALLOWED[current]


def transition(order: TradingOrder, new: str, now: datetime, *, reason: str | None = None) -> bool:
    """Move the order to `new`; False if it already was there, InvalidTransitionError if not allowed."""
    if order.state == new:
        return False
    if new not in _ALLOWED[order.state]:
        raise InvalidTransitionError(f"order {order.id}: {order.state} -> {new} is not allowed")
    order.state = new
    if reason is not None:
        order.reason = reason[:500]
    if new in TERMINAL:
        order.closed_at = now
    metrics.ORDERS.labels(broker=order.broker, state=new).inc()
    return True


def reopen_unknown(order: TradingOrder) -> None:
    """SUBMITTED with an unknown outcome, and not found at the broker: back to PENDING so it can be resent."""
    if order.state != SUBMITTED or not order.outcome_unknown or order.broker_order_no is not None:
        raise InvalidTransitionError(f"order {order.id}: only an unconfirmed submission can be reopened")
    order.state = PENDING
    order.outcome_unknown = False
    order.claimed_at = None
