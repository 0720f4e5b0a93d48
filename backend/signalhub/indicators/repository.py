"""All SQL for technical indicators."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Row, and_, func, select
from sqlalchemy.orm import Session

from signalhub.core.db import upsert_rows
from signalhub.core.time import utcnow
from signalhub.indicators.compute import INDICATOR_COLUMNS
from signalhub.models.price_bar import PriceBar
from signalhub.models.stock import Stock
from signalhub.models.technical_indicator import TechnicalIndicator


def upsert_indicators(session: Session, frame: pd.DataFrame, interval: str) -> int:
    """Store indicator rows from a long frame (ticker, ts, <INDICATOR_COLUMNS>); NaN is stored as NULL."""
    if frame.empty:
        return 0
    now = utcnow()
    values = frame[INDICATOR_COLUMNS].to_numpy(dtype="float64")
    rows: list[dict[str, Any]] = []
    for ticker, ts, row in zip(frame["ticker"], frame["ts"], values, strict=True):
        record: dict[str, Any] = {"ticker": ticker, "interval": interval, "ts": ts.to_pydatetime(),
                                  "computed_at": now}
        record.update({col: (None if math.isnan(v) else float(v)) for col, v in zip(INDICATOR_COLUMNS, row,
                                                                                   strict=True)})
        rows.append(record)
    return upsert_rows(session, TechnicalIndicator.__table__, rows, key=["ticker", "interval", "ts"],
                       update=[*INDICATOR_COLUMNS, "computed_at"])


def get_indicators(session: Session, ticker: str, interval: str, start: datetime | None,
                   end: datetime | None, limit: int, offset: int) -> tuple[list[TechnicalIndicator], int]:
    """Return one page of a ticker's indicator rows (oldest first) and the total in the range."""
    stmt = select(TechnicalIndicator).where(TechnicalIndicator.ticker == ticker,
                                            TechnicalIndicator.interval == interval)
    if start is not None:
        stmt = stmt.where(TechnicalIndicator.ts >= start)
    if end is not None:
        stmt = stmt.where(TechnicalIndicator.ts < end)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(stmt.order_by(TechnicalIndicator.ts).limit(limit).offset(offset))
    return list(page), total


def latest_snapshot(session: Session, interval: str, tickers: Sequence[str] | None = None) -> list[Row[Any]]:
    """Latest indicator row per ticker with that bar's close and the stock's name and exchange."""
    newest = select(TechnicalIndicator.ticker, func.max(TechnicalIndicator.ts).label("ts")).where(
        TechnicalIndicator.interval == interval)
    if tickers is not None:
        newest = newest.where(TechnicalIndicator.ticker.in_(list(tickers)))
    newest = newest.group_by(TechnicalIndicator.ticker).subquery()
    ti = TechnicalIndicator
    stmt = (
        select(ti, PriceBar.close, PriceBar.volume, Stock.name, Stock.exchange, Stock.currency)
        .join(newest, and_(ti.ticker == newest.c.ticker, ti.ts == newest.c.ts))
        .join(PriceBar, and_(PriceBar.ticker == ti.ticker, PriceBar.interval == ti.interval,
                             PriceBar.ts == ti.ts))
        .join(Stock, Stock.ticker == ti.ticker)
        .where(ti.interval == interval)
        .order_by(ti.ticker)
    )
    return list(session.execute(stmt).all())


def load_indicator_frame(session: Session, ticker: str, interval: str, start: datetime,
                         end_inclusive: datetime) -> pd.DataFrame:
    """Stored bars joined with stored indicators for one ticker in [start, end_inclusive], oldest first."""
    ti = TechnicalIndicator
    stmt = (
        select(PriceBar.ticker, PriceBar.ts, PriceBar.open, PriceBar.high, PriceBar.low, PriceBar.close,
               PriceBar.volume, *[getattr(ti, c) for c in INDICATOR_COLUMNS])
        .join(ti, and_(ti.ticker == PriceBar.ticker, ti.interval == PriceBar.interval, ti.ts == PriceBar.ts))
        .where(PriceBar.ticker == ticker, PriceBar.interval == interval, PriceBar.ts >= start,
               PriceBar.ts <= end_inclusive)
        .order_by(PriceBar.ts)
    )
    columns = ["ticker", "ts", "open", "high", "low", "close", "volume", *INDICATOR_COLUMNS]
    frame = pd.DataFrame(session.execute(stmt).all(), columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame[INDICATOR_COLUMNS] = frame[INDICATOR_COLUMNS].astype("float64")
    return frame
