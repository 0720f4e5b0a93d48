"""HTTP layer for strategy simulations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from kombu.exceptions import OperationalError

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.core.jobs import BrokerUnavailableError
from signalhub.models.simulation import Simulation
from signalhub.simulations import repository, service
from signalhub.simulations.schemas import SimulationAccepted, SimulationRead, SimulationRequest, SimulationSummary

router = APIRouter(prefix="/api/v1/simulations", tags=["simulations"])
ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


def _url(simulation_id: int) -> str:
    return f"{router.prefix}/{simulation_id}"


def _read(simulation: Simulation) -> SimulationRead:
    finished = simulation.status == "SUCCEEDED" and simulation.results is not None
    return SimulationRead.model_validate({
        **SimulationSummary.model_validate(simulation).model_dump(),
        "results": simulation.results if finished else None,
        "chart_url": f"{_url(simulation.id)}/chart.png" if finished else None,
    })


@router.post("/run", response_model=SimulationAccepted, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, 503: {"model": ErrorResponse}})
def run_simulation(session: SessionDep, user: CurrentUser, body: SimulationRequest) -> SimulationAccepted:
    """Queue a backtest of a strategy (the live signal code) on stored daily bars; poll the returned url."""
    from signalhub.simulations.tasks import run_simulation as task

    simulation = service.create(session, user.id, body)
    # Commit before enqueueing so the worker, and the first status poll, always find the row.
    session.commit()
    try:
        task.apply_async(args=(simulation.id,), retry=False)
    except (OperationalError, OSError) as exc:
        service.fail(simulation, "task queue unavailable; run it again")
        raise BrokerUnavailableError(f"Task queue unavailable, simulation {simulation.id} not started: {exc}",
                                     persist_changes=True) from exc
    return SimulationAccepted(id=simulation.id, status="QUEUED", url=_url(simulation.id))


@router.get("/", response_model=list[SimulationSummary], responses=ERRORS)
def list_simulations(session: SessionDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> list[Simulation]:
    """Your simulations, newest first (results: GET one by id)."""
    return repository.list_for_user(session, user.id, limit, offset)


@router.get("/{simulation_id}", response_model=SimulationRead, responses=ERRORS)
def get_simulation(session: SessionDep, user: CurrentUser, simulation_id: int) -> SimulationRead:
    """Status, and once SUCCEEDED the metrics, trades, equity curve and buy-and-hold benchmark."""
    return _read(service.require_simulation(session, user, simulation_id))


@router.get("/{simulation_id}/chart.png", response_class=Response,
            responses={**ERRORS, 409: {"model": ErrorResponse},
                       200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "Equity vs buy-and-hold, drawdown below"}})
def simulation_chart(session: SessionDep, user: CurrentUser, simulation_id: int) -> Response:
    """The equity curve against buy-and-hold, with drawdowns underneath (PNG)."""
    return Response(content=service.chart_png(session, user, simulation_id), media_type="image/png")
