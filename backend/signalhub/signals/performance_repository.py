"""All SQL for signal performance: pending evaluations, stored outcomes and their aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Integer, and_, case, exists, func, literal, select, union_all
from sqlalchemy.orm import Session

from signalhub.core.db import upsert_rows
from signalhub.models.signal import Signal
from signalhub.models.signal_outcome import SignalOutcome

# Only directional signals are evaluated: a HOLD grade told the user to do nothing.
DIRECTIONAL_ACTIONS = ("BUY", "SELL")
_PENDING_COLUMNS = ["signal_id", "ticker", "interval", "bar_ts", "action", "horizon"]


def pending_evaluations(session: Session, horizons: Sequence[int]) -> pd.DataFrame:
    """Every (signal, horizon) pair still without an outcome, one row each (set-based, one query)."""
    selects = []
    for horizon in horizons:
        done = exists().where(SignalOutcome.signal_id == Signal.id, SignalOutcome.horizon == horizon)
        selects.append(
            select(Signal.id, Signal.ticker, Signal.interval, Signal.bar_ts, Signal.action,
                   literal(horizon, Integer()).label("horizon"))
            .where(Signal.action.in_(DIRECTIONAL_ACTIONS), Signal.grade != "HOLD", ~done))
    rows = session.execute(union_all(*selects)).all() if selects else []
    if not rows:
        frame = pd.DataFrame({name: pd.Series([], dtype="object") for name in _PENDING_COLUMNS})
        frame["bar_ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
        return frame
    # Column-wise: pandas' row-by-row construction costs more than the query on 100k+ pairs.
    columns = list(zip(*rows, strict=True))
    return pd.DataFrame({
        "signal_id": np.array(columns[0], dtype="int64"), "ticker": np.array(columns[1], dtype=object),
        "interval": np.array(columns[2], dtype=object),
        "bar_ts": pd.to_datetime(list(columns[3]), utc=True).as_unit("ns"),
        "action": np.array(columns[4], dtype=object), "horizon": np.array(columns[5], dtype="int64"),
    })


def insert_outcomes(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Store outcomes; an existing (signal, horizon) pair is left as it is (outcomes never change)."""
    for start in range(0, len(rows), 2000):
        upsert_rows(session, SignalOutcome.__table__, rows[start:start + 2000], key=["signal_id", "horizon"],
                    update=[])
    return len(rows)


def recent_outcomes(session: Session, horizon: int, per_strategy: int) -> pd.DataFrame:
    """Each strategy's newest `per_strategy` evaluated signals at `horizon`, in signal order (bar time, id)."""
    rank = func.row_number().over(partition_by=Signal.strategy, order_by=(Signal.bar_ts.desc(), Signal.id.desc()))
    ranked = (select(Signal.strategy, Signal.id.label("signal_id"), Signal.ticker, Signal.action, Signal.bar_ts,
                     SignalOutcome.signal_return, rank.label("rank"))
              .join(SignalOutcome, SignalOutcome.signal_id == Signal.id)
              .where(SignalOutcome.horizon == horizon).subquery())
    stmt = (select(ranked.c.strategy, ranked.c.signal_id, ranked.c.ticker, ranked.c.action, ranked.c.bar_ts,
                   ranked.c.signal_return)
            .where(ranked.c.rank <= per_strategy)
            .order_by(ranked.c.strategy, ranked.c.rank.desc()))
    return pd.DataFrame(session.execute(stmt).all(),
                        columns=["strategy", "signal_id", "ticker", "action", "bar_ts", "signal_return"])


def aggregate(session: Session, horizon: int, group_by: str, threshold: float, strategy: str | None = None,
              ticker: str | None = None, since: datetime | None = None,
              interval: str | None = None) -> list[tuple[Any, ...]]:
    """Per group: (key, count, sum, sum of squares, minimum, wins, successes) of signal returns at `horizon`."""
    column = {"strategy": Signal.strategy, "ticker": Signal.ticker, "grade": Signal.grade}[group_by]
    value = SignalOutcome.signal_return
    stmt = (select(column, func.count(), func.sum(value), func.sum(value * value), func.min(value),
                   func.sum(case((value > 0, 1), else_=0)), func.sum(case((value > threshold, 1), else_=0)))
            .join(SignalOutcome, and_(SignalOutcome.signal_id == Signal.id, SignalOutcome.horizon == horizon))
            .group_by(column).order_by(column))
    if strategy:
        stmt = stmt.where(Signal.strategy == strategy)
    if ticker:
        stmt = stmt.where(Signal.ticker == ticker)
    if since is not None:
        stmt = stmt.where(Signal.bar_ts >= since)
    if interval:
        stmt = stmt.where(Signal.interval == interval)
    return [tuple(row) for row in session.execute(stmt)]
