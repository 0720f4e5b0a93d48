"""Bodies of the health endpoints."""

from __future__ import annotations

from pydantic import BaseModel


class ComponentStatus(BaseModel):
    """Whether one dependency answered, and what it is or why it failed."""

    ok: bool
    detail: str


class Liveness(BaseModel):
    """The process is up."""

    status: str = "ok"


class Readiness(BaseModel):
    """Whether the database and broker are reachable."""

    status: str
    database: ComponentStatus
    broker: ComponentStatus
