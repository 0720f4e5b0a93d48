"""Pydantic models of the admin API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from signalhub.users.schemas import UserRead


class MarketStatus(BaseModel):
    """One exchange now: open or not, its next open and close, and the newest stored bar per interval."""

    exchange: str
    is_open: bool
    next_open: datetime | None
    next_close: datetime | None
    last_bar: dict[str, datetime]


class WorkerStatus(BaseModel):
    """A worker that wrote a heartbeat recently."""

    hostname: str
    last_seen: datetime


class CircuitStatus(BaseModel):
    """A circuit breaker's state as last published by any process (closed, half_open, open)."""

    name: str
    state: str


class KillSwitchStatus(BaseModel):
    """The global trading kill switch."""

    enabled: bool
    reason: str
    updated_at: datetime


class InvariantStatus(BaseModel):
    """An invariant failing right now, since when."""

    name: str
    since: datetime
    detail: str


class SystemStatus(BaseModel):
    """What the platform is doing right now."""

    now: datetime
    markets: list[MarketStatus]
    broker: str
    queues: dict[str, int | None]
    workers: list[WorkerStatus]
    circuits: list[CircuitStatus]
    kill_switch: KillSwitchStatus | None
    failing_invariants: list[InvariantStatus]


class UserPage(BaseModel):
    """A page of users."""

    total: int
    items: list[UserRead]


class ReplayResult(BaseModel):
    """A failed delivery put back in the queue."""

    id: int
    status: str
    attempts: int
