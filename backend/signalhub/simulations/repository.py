"""All SQL for simulations; per-user reads are scoped here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from signalhub.models.price_bar import PriceBar
from signalhub.models.simulation import Simulation
from signalhub.models.stock import Stock


def list_for_user(session: Session, user_id: int, limit: int, offset: int) -> list[Simulation]:
    """The user's simulations, newest first."""
    stmt = (select(Simulation).where(Simulation.user_id == user_id)
            .order_by(Simulation.created_at.desc(), Simulation.id.desc()).limit(limit).offset(offset))
    return list(session.scalars(stmt))


def get_for_user(session: Session, user_id: int, simulation_id: int) -> Simulation | None:
    """The user's simulation with this id, or None (another user's is None too)."""
    return session.scalar(select(Simulation).where(Simulation.id == simulation_id,
                                                   Simulation.user_id == user_id))


def get(session: Session, simulation_id: int) -> Simulation | None:
    """Any simulation by id (the worker runs it on its owner's behalf)."""
    return session.get(Simulation, simulation_id)


def add(session: Session, simulation: Simulation) -> Simulation:
    """Stage a new simulation."""
    session.add(simulation)
    session.flush()
    return simulation


def stock_currencies(session: Session, tickers: Sequence[str]) -> dict[str, str]:
    """Currency of each known ticker among `tickers` (unknown ones are absent)."""
    rows = session.execute(select(Stock.ticker, Stock.currency).where(Stock.ticker.in_(list(tickers))))
    return {ticker: currency for ticker, currency in rows}


def daily_bar_counts(session: Session, tickers: Sequence[str], start: datetime, end: datetime) -> dict[str, int]:
    """Daily bars per ticker with start <= ts <= end (tickers without any are absent)."""
    stmt = (select(PriceBar.ticker, func.count())
            .where(PriceBar.interval == "1d", PriceBar.ticker.in_(list(tickers)), PriceBar.ts >= start,
                   PriceBar.ts <= end)
            .group_by(PriceBar.ticker))
    return {ticker: int(count) for ticker, count in session.execute(stmt)}
