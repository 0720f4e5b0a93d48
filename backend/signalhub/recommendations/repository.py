"""SQL for recommendations: each ticker's signals on its newest signal bar, and recent indicator history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Row, and_, func, select
from sqlalchemy.orm import Session

from signalhub.models.signal import Signal
from signalhub.models.stock import Stock
from signalhub.models.technical_indicator import TechnicalIndicator


def latest_signals(session: Session, interval: str) -> list[Row[tuple[Signal, str, float | None]]]:
    """Signals on each ticker's newest signal bar, with the stock name and the ATR at that bar."""
    newest = (select(Signal.ticker, func.max(Signal.bar_ts).label("bar_ts"))
              .where(Signal.interval == interval, Signal.grade != "HOLD").group_by(Signal.ticker).subquery())
    stmt = (
        select(Signal, Stock.name, TechnicalIndicator.atr_14)
        .join(newest, and_(Signal.ticker == newest.c.ticker, Signal.bar_ts == newest.c.bar_ts))
        .join(Stock, Stock.ticker == Signal.ticker)
        .outerjoin(TechnicalIndicator, and_(TechnicalIndicator.ticker == Signal.ticker,
                                            TechnicalIndicator.interval == Signal.interval,
                                            TechnicalIndicator.ts == Signal.bar_ts))
        .where(Signal.interval == interval, Signal.grade != "HOLD")
        .order_by(Signal.ticker, Signal.combined_confidence.desc())
    )
    return list(session.execute(stmt).all())


def recent_indicators(session: Session, interval: str, per_ticker: int,
                      columns: Sequence[str]) -> pd.DataFrame:
    """The newest `per_ticker` indicator rows of every ticker (ticker, ts, columns, close), oldest first."""
    from signalhub.models.price_bar import PriceBar

    ti = TechnicalIndicator
    ranked = (
        select(ti.ticker, ti.ts, *[getattr(ti, c) for c in columns], PriceBar.close, Stock.exchange,
               Stock.sector, func.row_number().over(partition_by=ti.ticker, order_by=ti.ts.desc()).label("rn"))
        .join(PriceBar, and_(PriceBar.ticker == ti.ticker, PriceBar.interval == ti.interval, PriceBar.ts == ti.ts))
        .join(Stock, Stock.ticker == ti.ticker)
        .where(ti.interval == interval).subquery()
    )
    names = ["ticker", "ts", *columns, "close", "exchange", "sector"]
    stmt = select(*[ranked.c[n] for n in names]).where(ranked.c.rn <= per_ticker).order_by(ranked.c.ticker,
                                                                                             ranked.c.ts)
    rows: list[Any] = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=names)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame
