"""The `simulations` table: a user's strategy backtests, their request and their results."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from signalhub.models.base import Base, TimestampMixin


class SimulationStatus(enum.StrEnum):
    """Where a simulation is in its life."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Simulation(TimestampMixin, Base):
    """One backtest: the validated request (strategy, resolved parameters, tickers, range, costs, sizing),
    its status, and its results (metrics, trades, equity curve) once it ran."""

    __tablename__ = "simulations"
    __table_args__ = (Index("ix_simulations_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=SimulationStatus.QUEUED.value)
    strategy: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
