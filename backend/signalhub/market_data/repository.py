"""All SQL for stocks and price bars."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Double, String, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from signalhub.core import calendars
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
    stmt = select(PriceBar.ticker, _raw_ts(session), PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
                  PriceBar.volume).where(PriceBar.interval == interval, PriceBar.ticker.in_(list(tickers)))
    if start is not None:
        stmt = stmt.where(PriceBar.ts >= start)
    if end is not None:
        stmt = stmt.where(PriceBar.ts < end)
    return _frame(session, stmt.order_by(PriceBar.ticker, PriceBar.ts))


# Calendar time that surely holds N intraday bars (overnight, weekends, holidays), per bar minute.
_SPAN_PER_INTRADAY_MINUTE = timedelta(minutes=6)


def _window_start(tickers_latest: dict[str, datetime], interval: str, per_ticker: int) -> datetime:
    """Earliest bar time any ticker needs so that its newest `per_ticker` bars are all at or after it."""
    if interval != "1d":
        span = _SPAN_PER_INTRADAY_MINUTE * int(interval.rstrip("m")) * per_ticker + timedelta(days=10)
        return min(tickers_latest.values()) - span
    starts = []
    by_exchange: dict[str, datetime] = {}
    for ticker, latest in tickers_latest.items():
        exchange = calendars.exchange_for_ticker(ticker)
        by_exchange[exchange] = min(latest, by_exchange.get(exchange, latest))
    for exchange, latest in by_exchange.items():
        # The per_ticker-th session back on the exchange calendar bounds the window exactly; a ticker
        # with missing sessions gets fewer bars, never bars from outside its recent history.
        sessions = calendars.sessions_between(exchange, latest.date() - timedelta(days=2 * per_ticker + 30),
                                              latest.date())
        first = sessions[-per_ticker] if len(sessions) >= per_ticker else sessions[0]
        starts.append(calendars.daily_bar_ts(first).to_pydatetime())
    return min(starts)


def load_last_bars(session: Session, tickers: Sequence[str], interval: str, per_ticker: int,
                   latest: dict[str, datetime] | None = None) -> pd.DataFrame:
    """Load the newest `per_ticker` bars of each ticker as a long frame, oldest first per ticker.

    `latest` (newest stored bar per ticker) saves a query when the caller already knows it."""
    latest = latest if latest is not None else latest_bar_times(session, tickers, interval)
    if not latest:
        return _empty_frame()
    # A time bound from the calendar lets the primary key's range scan skip older history; ranking rows
    # in SQL instead costs ten times more on PostgreSQL.
    frame = load_bars_frame(session, list(latest), interval, start=_window_start(latest, interval, per_ticker))
    return frame.groupby("ticker", sort=False).tail(per_ticker).reset_index(drop=True)


_FRAME_COLUMNS = ["ticker", "ts", "open", "high", "low", "close", "volume"]


def _frame_by_copy(session: Session, stmt: Any) -> pd.DataFrame:
    """PostgreSQL: stream the query with COPY ... TO STDOUT (CSV) and parse it with pandas' C reader."""
    compiled = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    cursor = session.connection().connection.driver_connection.cursor()
    buffer = io.BytesIO()
    # The statement is ours and its parameters are bound by the driver, so nothing user-given is spliced in.
    with cursor.copy(f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)",
                     compiled.params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return _empty_frame()
    frame = pd.read_csv(buffer, names=_FRAME_COLUMNS, header=None, dtype={"ticker": "category"},
                        keep_default_na=False, na_values=[""])
    frame["ts"] = pd.to_datetime(frame["ts"], unit="s", utc=True).dt.as_unit("ns")
    return frame


def _raw_ts(session: Session) -> Any:
    """The bar time in a form parsed in bulk later (SQLite: ISO text; PostgreSQL: epoch seconds)."""
    if session.get_bind().dialect.name == "sqlite":
        return type_coerce(PriceBar.ts, String()).label("ts")
    return cast(func.extract("epoch", PriceBar.ts), Double).label("ts")


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series([], dtype="float64") for name in _FRAME_COLUMNS})
    frame["ticker"] = frame["ticker"].astype(str)
    frame["ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
    return frame


def _frame(session: Session, stmt: Any) -> pd.DataFrame:
    if session.get_bind().dialect.name == "postgresql":
        return _frame_by_copy(session, stmt)
    # Core execution and column-wise construction: the ORM row machinery and pandas' row-by-row
    # inference cost several times the query itself on 100k+ bars.
    rows = session.connection().execute(stmt).fetchall()
    if not rows:
        return _empty_frame()
    columns = list(zip(*rows, strict=True))
    ts = columns[1]
    frame = pd.DataFrame({
        # Categorical tickers make every later per-ticker groupby work on integer codes.
        "ticker": pd.Categorical(np.array(columns[0], dtype=object)),
        "ts": (pd.to_datetime(np.array(ts, dtype="float64"), unit="s", utc=True) if not isinstance(ts[0], str)
               else pd.to_datetime(np.array(ts, dtype=object), utc=True, format="ISO8601")),
        **{name: np.array(values, dtype="float64") for name, values in zip(_FRAME_COLUMNS[2:], columns[2:],
                                                                            strict=True)},
    })
    frame["ts"] = frame["ts"].dt.as_unit("ns")
    return frame


def close_after(session: Session, ticker: str, interval: str, base_ts: datetime, bars_ahead: int) -> float | None:
    """Close of the bar `bars_ahead` bars after `base_ts` (None until that bar exists)."""
    stmt = (select(PriceBar.close).where(PriceBar.ticker == ticker, PriceBar.interval == interval,
                                         PriceBar.ts > base_ts)
            .order_by(PriceBar.ts).offset(bars_ahead - 1).limit(1))
    return session.scalar(stmt)
