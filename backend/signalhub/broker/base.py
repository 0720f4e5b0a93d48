"""The broker adapter interface every broker implements (KIS real, KIS paper, internal paper)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


class BrokerError(Exception):
    """A broker call failed; `retryable` says whether trying again later may succeed."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class BrokerRejectedError(BrokerError):
    """The broker refused the order (business reject: market closed, no cash, unknown symbol)."""


class OutcomeUnknownError(BrokerError):
    """The request may have reached the broker (e.g. a timeout after sending): look before resending."""

    def __init__(self, message: str, *, code: str = "timeout") -> None:
        super().__init__(message, code=code, retryable=True)


@dataclass(frozen=True)
class OrderRequest:
    """What we ask a broker to do; `client_order_id` is ours (KIS does not carry it)."""

    client_order_id: str
    ticker: str
    side: str  # BUY / SELL
    quantity: int
    limit_price: Decimal | None  # None: market order


@dataclass(frozen=True)
class BrokerAck:
    """The broker accepted a request: its order number, branch/org number and acceptance time."""

    order_no: str
    org_no: str
    accepted_at: datetime


@dataclass(frozen=True)
class BrokerExecution:
    """One execution the broker reported individually (paper books, KIS notices)."""

    quantity: int
    price: Decimal
    executed_at: datetime
    commission: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)


@dataclass(frozen=True)
class BrokerOrderStatus:
    """The broker's view of one order: cumulative fills, average price, cancelled, and the raw record."""

    order_no: str
    org_no: str
    ticker: str
    side: str
    ordered_qty: int
    filled_qty: int
    remaining_qty: int
    avg_price: Decimal
    cancelled: bool
    ordered_at: datetime | None
    executions: tuple[BrokerExecution, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerHolding:
    """A position at the broker."""

    ticker: str
    quantity: int
    avg_price: Decimal


@dataclass(frozen=True)
class BrokerBalance:
    """Cash and holdings at the broker."""

    cash: Decimal
    holdings: tuple[BrokerHolding, ...]


class BrokerAdapter(abc.ABC):
    """Submit, cancel, look up orders and read the balance of one user's account at one broker."""

    name: str  # paper, kis_paper, kis_real (also the ledger source of its fills)

    @abc.abstractmethod
    def submit(self, request: OrderRequest) -> BrokerAck:
        """Send an order; BrokerRejectedError, OutcomeUnknownError or BrokerError on failure."""

    @abc.abstractmethod
    def cancel(self, *, order_no: str, org_no: str, ticker: str, quantity: int) -> BrokerAck:
        """Cancel what remains of an order."""

    @abc.abstractmethod
    def daily_orders(self, day: date, *, ticker: str | None = None) -> list[BrokerOrderStatus]:
        """Every order of the account on `day` (KST), with cumulative fills."""

    @abc.abstractmethod
    def find_submitted(self, request: OrderRequest, since: datetime,
                       exclude: frozenset[str] = frozenset()) -> BrokerOrderStatus | None:
        """The broker's order matching a submission whose outcome we do not know, if it got there.

        `exclude` holds broker order numbers already linked to other orders of ours."""

    @abc.abstractmethod
    def balance(self) -> BrokerBalance:
        """Cash and holdings."""

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters hold no connection
        """Release connections (nothing by default)."""
