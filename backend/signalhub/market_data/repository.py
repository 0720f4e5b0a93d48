"""All SQL for stocks and price bars."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub.core.db import upsert_rows
from signalhub.core.time import utcnow
from signalhub.models.price_bar import PriceBar
from signalhub.models.stock import Stock

_BAR_VALUE_COLUMNS = ["open", "high", "low", "close", "volume", "source", "ingested_at"]


def get_stock(session: Session, ticker: str) -> Stock | None:
    """Return the stock with this ticker, or None."""
    return session.get(Stock, ticker)


def list_stocks(session: Session, exchange: str | None = None, active_only: bool = True) -> list[Stock]:
    """Return stocks ordered by ticker, optionally for one exchange."""
    stmt = select(Stock).order_by(Stock.ticker)
    if exchange:
        stmt = stmt.where(Stock.exchange == exchange)
    if active_only:
        stmt = stmt.where(Stock.is_active.is_(True))
    return list(session.scalars(stmt))


def existing_tickers(session: Session, tickers: Iterable[str]) -> set[str]:
    """Return which of `tickers` are known stocks."""
    wanted = list(set(tickers))
    if not wanted:
        return set()
    return set(session.scalars(select(Stock.ticker).where(Stock.ticker.in_(wanted))))


def upsert_stocks(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert stocks or refresh their reference fields."""
    now = utcnow()
    rows = [{"created_at": now, "updated_at": now, "is_active": True, **row} for row in rows]
    update = [c for c in rows[0] if c not in ("ticker", "created_at")] if rows else []
    return upsert_rows(session, Stock.__table__, rows, key=["ticker"], update=update)


def upsert_bars(session: Session, bars: pd.DataFrame, interval: str, source: str) -> int:
    """Store bars from a long frame (ticker, ts, open, high, low, close, volume); re-runs are harmless."""
    if bars.empty:
        return 0
    now = utcnow()
    frame = bars.dropna(subset=["open", "high", "low", "close"])
    rows = [
        {"ticker": t, "interval": interval, "ts": ts.to_pydatetime(), "open": float(o), "high": float(h),
         "low": float(lo), "close": float(c), "volume": 0.0 if pd.isna(v) else float(v),
         "source": source, "ingested_at": now}
        for t, ts, o, h, lo, c, v in zip(frame["ticker"], frame["ts"], frame["open"], frame["high"],
                                         frame["low"], frame["close"], frame["volume"], strict=True)
    ]
    return upsert_rows(session, PriceBar.__table__, rows, key=["ticker", "interval", "ts"],
                       update=_BAR_VALUE_COLUMNS)


def bars_query(ticker: str, interval: str, start: datetime | None, end: datetime | None):
    """Select bars of one ticker in [start, end), oldest first."""
    stmt = select(PriceBar).where(PriceBar.ticker == ticker, PriceBar.interval == interval)
    if start is not None:
        stmt = stmt.where(PriceBar.ts >= start)
    if end is not None:
        stmt = stmt.where(PriceBar.ts < end)
    return stmt.order_by(PriceBar.ts)


def get_bars(session: Session, ticker: str, interval: str, start: datetime | None, end: datetime | None,
             limit: int, offset: int) -> tuple[list[PriceBar], int]:
    """Return one page of bars and the total count in the range."""
    stmt = bars_query(ticker, interval, start, end)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def latest_bar_times(session: Session, tickers: Sequence[str], interval: str) -> dict[str, datetime]:
    """Return the newest stored bar time per ticker."""
    if not tickers:
        return {}
    rows = session.execute(
        select(PriceBar.ticker, func.max(PriceBar.ts, type_=PriceBar.ts.type))
        .where(PriceBar.interval == interval, PriceBar.ticker.in_(list(tickers)))
        .group_by(PriceBar.ticker)
    )
    return {ticker: ts for ticker, ts in rows}


def load_bars_frame(session: Session, tickers: Sequence[str], interval: str,
                    start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Load bars of several tickers as a long frame (ticker, ts, open, high, low, close, volume)."""
    stmt = select(PriceBar.ticker, PriceBar.ts, PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
                  PriceBar.volume).where(PriceBar.interval == interval, PriceBar.ticker.in_(list(tickers)))
    if start is not None:
        stmt = stmt.where(PriceBar.ts >= start)
    if end is not None:
        stmt = stmt.where(PriceBar.ts < end)
    return _frame(session.execute(stmt.order_by(PriceBar.ticker, PriceBar.ts)).all())


def load_last_bars(session: Session, tickers: Sequence[str], interval: str, per_ticker: int) -> pd.DataFrame:
    """Load the newest `per_ticker` bars of each ticker as a long frame, oldest first per ticker."""
    ranked = (
        select(PriceBar.ticker, PriceBar.ts, PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
               PriceBar.volume,
               func.row_number().over(partition_by=PriceBar.ticker, order_by=PriceBar.ts.desc()).label("rn"))
        .where(PriceBar.interval == interval, PriceBar.ticker.in_(list(tickers)))
        .subquery()
    )
    stmt = (select(ranked.c.ticker, ranked.c.ts, ranked.c.open, ranked.c.high, ranked.c.low, ranked.c.close,
                   ranked.c.volume)
            .where(ranked.c.rn <= per_ticker).order_by(ranked.c.ticker, ranked.c.ts))
    return _frame(session.execute(stmt).all())


def _frame(rows: Sequence[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["ticker", "ts", "open", "high", "low", "close", "volume"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame



def close_after(session: Session, ticker: str, interval: str, base_ts: datetime, bars_ahead: int) -> float | None:
    """Close of the bar `bars_ahead` bars after `base_ts` (None until that bar exists)."""
    stmt = (select(PriceBar.close).where(PriceBar.ticker == ticker, PriceBar.interval == interval,
                                         PriceBar.ts > base_ts)
            .order_by(PriceBar.ts).offset(bars_ahead - 1).limit(1))
    return session.scalar(stmt)
