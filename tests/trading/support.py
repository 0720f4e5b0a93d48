"""Arrangements shared by the trading tests: a KRX stock with bars, a signal, an opted-in user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from signalhub.core.db import session_scope
from signalhub.models.price_bar import PriceBar
from signalhub.models.signal import Signal
from signalhub.models.stock import Stock
from signalhub.models.trading_settings import TradingSettings
from signalhub.models.user import User

TICKER = "005930.KS"
# Wednesday 2025-01-15 10:00 KST: a regular KRX session, outside the default blackout window.
OPEN_AT = datetime(2025, 1, 15, 1, 0, tzinfo=UTC)
CLOSED_AT = datetime(2025, 1, 15, 8, 0, tzinfo=UTC)  # 17:00 KST


def add_stock(ticker: str = TICKER, close: float = 70_000.0, volume: float = 1_000_000.0,
              ts: datetime | None = None) -> None:
    """A KRX stock with one daily bar."""
    with session_scope() as session:
        if session.get(Stock, ticker) is None:
            session.add(Stock(ticker=ticker, name="Samsung Electronics", exchange="XKRX", currency="KRW"))
            session.flush()
        add_bar_in(session, ticker, close, volume, ts or datetime(2025, 1, 14, tzinfo=UTC), "1d")


def add_bar_in(session, ticker: str, close: float, volume: float, ts: datetime, interval: str = "1m") -> None:
    """One bar."""
    session.add(PriceBar(ticker=ticker, interval=interval, ts=ts, open=close, high=close, low=close, close=close,
                         volume=volume, source="test"))


def add_bar(ticker: str, close: float, volume: float, ts: datetime, interval: str = "1m") -> None:
    """One bar, committed."""
    with session_scope() as session:
        add_bar_in(session, ticker, close, volume, ts, interval)


def add_signal(ticker: str = TICKER, action: str = "BUY", grade: str = "STRONG_BUY", confidence: float = 0.9,
               price: float = 70_000.0, bar_ts: datetime | None = None) -> int:
    """A stored signal; returns its id."""
    bar_ts = bar_ts or datetime(2025, 1, 14, tzinfo=UTC)
    with session_scope() as session:
        signal = Signal(ticker=ticker, strategy="sma_cross", interval="1d", bar_ts=bar_ts, action=action, grade=grade,
                        technical_confidence=confidence, combined_confidence=confidence, price=price, reasons=[],
                        params={}, params_hash="p", inputs_hash="i", input_start_ts=bar_ts - timedelta(days=30))
        session.add(signal)
        session.flush()
        return signal.id


def user_id(email: str) -> int:
    """The id of a registered user."""
    with session_scope() as session:
        return session.scalars(select(User.id).where(User.email == email)).one()


def opt_in_direct(uid: int, **limits: object) -> None:
    """Opt a user in to internal paper trading of TICKER with the given limits."""
    with session_scope() as session:
        settings = session.get(TradingSettings, uid) or TradingSettings(user_id=uid)
        settings.opted_in, settings.mode, settings.kill_switch, settings.tickers = True, "paper", False, [TICKER]
        for key, value in limits.items():
            setattr(settings, key, value)
        session.add(settings)
