"""Which broker serves a user, and the KIS real/paper adapters over the KIS REST client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from signalhub.broker.base import (
    BrokerAck,
    BrokerAdapter,
    BrokerBalance,
    BrokerError,
    BrokerHolding,
    BrokerOrderStatus,
    BrokerRejectedError,
    OrderRequest,
    OutcomeUnknownError,
)
from signalhub.broker.paper import PaperBroker
from signalhub.core import calendars
from signalhub.core.config import get_settings

if TYPE_CHECKING:
    from signalhub.broker.kis.client import KisClient

PAPER, KIS_PAPER, KIS_REAL = "paper", "kis_paper", "kis_real"
BROKERS = (PAPER, KIS_PAPER, KIS_REAL)
KST = calendars.KST
# KIS order times are whole seconds (ORD_TMD HHMMSS), our clock is not: match with this much slack.
_MATCH_SLACK = timedelta(seconds=5)
T = TypeVar("T")


def kis_symbol(ticker: str) -> str:
    """The KIS product code (PDNO) of a KRX ticker: "005930.KS" -> "005930"; other markets are refused."""
    if calendars.exchange_for_ticker(ticker) != calendars.XKRX:
        raise BrokerRejectedError(f"{ticker} is not a KRX ticker; KIS domestic orders only", code="KIS_UNSUPPORTED")
    return ticker.rsplit(".", 1)[0]


def _ticker_of(symbol: str, reference: str) -> str:
    # KIS reports bare codes; give them back the suffix of the ticker we asked about.
    return f"{symbol}.{reference.rsplit('.', 1)[1]}" if "." in reference else symbol


class KisAdapter(BrokerAdapter):
    """KIS real (실전) or paper (모의투자) through the KIS REST client; which host is the client's business."""

    def __init__(self, client: KisClient, name: str) -> None:
        self.client = client
        self.name = name

    def _call(self, fn: Callable[[], T], *, sends_order: bool = False) -> T:
        from signalhub.broker.kis.client import KisError

        try:
            return fn()
        except KisError as exc:
            message = f"KIS {exc.msg_cd}: {exc}"
            if sends_order and getattr(exc, "outcome_unknown", False):
                # The order may have been accepted before the connection failed: look before resending.
                raise OutcomeUnknownError(message, code=exc.msg_cd) from exc
            if exc.retryable:
                raise BrokerError(message, code=exc.msg_cd, retryable=True) from exc
            raise BrokerRejectedError(message, code=exc.msg_cd) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached KIS: safe to try again.
            raise BrokerError(f"KIS unreachable: {exc}", code="connect", retryable=True) from exc
        except httpx.HTTPError as exc:
            if sends_order:
                # The order may have been accepted before the connection failed: look before resending.
                raise OutcomeUnknownError(f"KIS order outcome unknown: {exc!r}") from exc
            raise BrokerError(f"KIS request failed: {exc!r}", code="transport", retryable=True) from exc

    def submit(self, request: OrderRequest) -> BrokerAck:
        """Send a cash order (limit if a price is given, else market)."""
        symbol = kis_symbol(request.ticker)
        try:
            ack = self._call(lambda: self.client.place_order(
                ticker=symbol, side=request.side, quantity=request.quantity, price=request.limit_price),
                sends_order=True)
        except ValueError as exc:  # refused by the client before sending (e.g. a price in fractions of a won)
            raise BrokerRejectedError(str(exc), code="KIS_INVALID") from exc
        return BrokerAck(order_no=ack.order_no, org_no=ack.org_no, accepted_at=ack.ordered_at)

    def cancel(self, *, order_no: str, org_no: str, ticker: str, quantity: int) -> BrokerAck:
        """Cancel the remaining quantity."""
        ack = self._call(lambda: self.client.cancel_order(order_no=order_no, org_no=org_no,
                                                                    ticker=kis_symbol(ticker), quantity=quantity))
        return BrokerAck(order_no=ack.order_no, org_no=ack.org_no, accepted_at=ack.ordered_at)

    def daily_orders(self, day: date, *, ticker: str | None = None) -> list[BrokerOrderStatus]:
        """The day's orders from inquire-daily-ccld, with cumulative fills and average prices."""
        symbol = kis_symbol(ticker) if ticker else None
        records = self._call(lambda: self.client.daily_orders(day, ticker=symbol))
        # Cancel/modify rows are orders of their own referring to the original; our orders are the originals.
        return [self._status(r, ticker or r.ticker) for r in records if not getattr(r, "original_order_no", "")]

    @staticmethod
    def _status(record: Any, reference: str) -> BrokerOrderStatus:
        """Our view type from a KIS ccld record."""
        raw = record.raw if isinstance(record.raw, dict) else {"raw": str(record.raw)}
        return BrokerOrderStatus(
            order_no=record.order_no, org_no=record.org_no, ticker=_ticker_of(record.ticker, reference),
            side=record.side, ordered_qty=int(record.ordered_qty), filled_qty=int(record.filled_qty),
            remaining_qty=int(record.remaining_qty), avg_price=Decimal(record.avg_price),
            cancelled=bool(record.cancelled), ordered_at=record.ordered_at, raw=raw)

    def find_submitted(self, request: OrderRequest, since: datetime,
                       exclude: frozenset[str] = frozenset()) -> BrokerOrderStatus | None:
        """KIS keeps no client order id: the earliest unlinked order with our ticker, side and quantity since
        the claim is ours (the claim serialises our submissions for one order, so there is at most one)."""
        day = since.astimezone(KST).date()
        candidates = [
            s for s in self.daily_orders(day, ticker=request.ticker)
            if s.order_no not in exclude and s.side == request.side and s.ordered_qty == request.quantity
            and (s.ordered_at is None or s.ordered_at >= since - _MATCH_SLACK)]
        candidates.sort(key=lambda s: (s.ordered_at or since, s.order_no))
        return candidates[0] if candidates else None

    def balance(self) -> BrokerBalance:
        """Cash and holdings from inquire-balance."""
        result = self._call(self.client.balance)
        holdings = tuple(BrokerHolding(ticker=_ticker_of(h.ticker, h.ticker + ".KS"), quantity=int(h.quantity),
                                       avg_price=Decimal(h.avg_price)) for h in result.positions)
        return BrokerBalance(cash=Decimal(result.cash), holdings=holdings)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def build_adapter(broker: str, user_id: int, credentials: dict[str, str] | None,
                  base_url: str | None = None) -> BrokerAdapter:
    """The adapter for one user at one broker (KIS needs the user's decrypted credentials)."""
    if broker == PAPER:
        return PaperBroker(user_id)
    if broker not in (KIS_PAPER, KIS_REAL):
        raise ValueError(f"unknown broker {broker!r}")
    if not credentials:
        raise BrokerRejectedError("no KIS credentials stored", code="KIS_NO_CREDENTIALS")
    from signalhub.broker.kis.client import KisClient, KisCredentials

    creds = KisCredentials(credentials["app_key"], credentials["app_secret"], paper=broker == KIS_PAPER,
                           account_no=credentials["account_no"], product_code=credentials.get("product_code", "01"),
                           hts_id=credentials.get("hts_id", ""))
    client = KisClient(creds, base_url=base_url, timeout=get_settings().broker_timeout_seconds)
    return KisAdapter(client, broker)
