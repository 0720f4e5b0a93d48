"""Liveness and readiness endpoints."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from signalhub.health import service
from signalhub.health.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Liveness)
def healthz() -> Liveness:
    """Answer while the process is alive."""
    return Liveness()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz() -> JSONResponse:
    """200 when the database and the broker are reachable, 503 (naming which failed) otherwise."""
    database, broker = service.check_database(), service.check_broker()
    ready = database.ok and broker.ok
    body = Readiness(status="ready" if ready else "not ready", database=database, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
