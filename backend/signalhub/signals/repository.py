"""All SQL for signals and predictions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, cast, func, select
from sqlalchemy.orm import Session

from signalhub.models.prediction import Prediction
from signalhub.models.signal import Signal


def insert_new_signals(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert signals whose dedup key is new; returns the ids of those actually inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    ids: list[int] = []
    for start in range(0, len(rows), 500):
        stmt = (insert(Signal).values(list(rows[start:start + 500]))
                .on_conflict_do_nothing(index_elements=["ticker", "strategy", "interval", "bar_ts"])
                .returning(Signal.id))
        ids.extend(session.scalars(stmt))
    return ids


def insert_new_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Record predictions once per (ticker, interval, bar, horizon, model version)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Prediction).values(list(rows)).on_conflict_do_nothing(
        index_elements=["ticker", "interval", "base_ts", "horizon", "model_version"])
    return session.execute(stmt).rowcount or 0


def signals_query(ticker: str | None = None, grade: Sequence[str] | None = None, strategy: str | None = None,
                  start: datetime | None = None, end: datetime | None = None,
                  interval: str | None = None) -> Select[tuple[Signal]]:
    """Signals matching the filters, newest bar first."""
    stmt = select(Signal)
    if ticker:
        stmt = stmt.where(Signal.ticker == ticker)
    if grade:
        stmt = stmt.where(Signal.grade.in_(list(grade)))
    if strategy:
        stmt = stmt.where(Signal.strategy == strategy)
    if interval:
        stmt = stmt.where(Signal.interval == interval)
    if start is not None:
        stmt = stmt.where(Signal.bar_ts >= start)
    if end is not None:
        stmt = stmt.where(Signal.bar_ts < end)
    return stmt.order_by(Signal.bar_ts.desc(), Signal.id.desc())


def list_signals(session: Session, stmt: Select[tuple[Signal]], limit: int, offset: int) -> tuple[list[Signal], int]:
    """One page of a signal query and its total."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), total


def get_signal(session: Session, signal_id: int) -> Signal | None:
    """The signal with this id, or None."""
    return session.get(Signal, signal_id)


def strategy_grades(session: Session, ids: Sequence[int]) -> list[tuple[str, str]]:
    """(strategy, grade) of each of these signals."""
    if not ids:
        return []
    return [(strategy, grade) for strategy, grade in
            session.execute(select(Signal.strategy, Signal.grade).where(Signal.id.in_(list(ids))))]


def unresolved_predictions(session: Session, limit: int = 5000) -> list[Prediction]:
    """Predictions whose outcome has not been recorded yet, oldest first."""
    stmt = select(Prediction).where(Prediction.resolved_at.is_(None)).order_by(Prediction.base_ts).limit(limit)
    return list(session.scalars(stmt))


def accuracy(session: Session, group_by: str, model_version: str | None = None,
             ticker: str | None = None) -> list[tuple[Any, ...]]:
    """Resolved predictions counted per model version or per ticker: (key, total, correct, mean return)."""
    column = Prediction.model_version if group_by == "model_version" else Prediction.ticker
    stmt = (select(column, func.count(), func.sum(cast(Prediction.correct, Integer)),
                   func.avg(Prediction.actual_return))
            .where(Prediction.resolved_at.is_not(None)).group_by(column).order_by(column))
    if model_version:
        stmt = stmt.where(Prediction.model_version == model_version)
    if ticker:
        stmt = stmt.where(Prediction.ticker == ticker)
    return [tuple(row) for row in session.execute(stmt)]
