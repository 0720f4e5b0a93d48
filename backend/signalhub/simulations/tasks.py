"""Celery tasks of the simulations domain."""

from __future__ import annotations

import logging

from signalhub.core.db import session_scope
from signalhub.core.time import utcnow
from signalhub.models.simulation import SimulationStatus
from signalhub.simulations import repository, service
from signalhub.worker import celery_app

logger = logging.getLogger(__name__)


@celery_app.task(name="signalhub.simulations.tasks.run_simulation")
def run_simulation(simulation_id: int) -> dict[str, object]:
    """Run a queued simulation and store its results (idempotent: a finished one is left as it is)."""
    with session_scope() as session:
        simulation = repository.get(session, simulation_id)
        if simulation is None:
            return {"id": simulation_id, "status": "missing"}
        if simulation.status in service.FINISHED:
            # A redelivered message for work already done.
            return {"id": simulation_id, "status": simulation.status, "skipped": True}
        # Committed on its own so a status poll sees RUNNING while the backtest works.
        simulation.status = SimulationStatus.RUNNING.value
        simulation.started_at = utcnow()
    try:
        with session_scope() as session:
            simulation = repository.get(session, simulation_id)
            assert simulation is not None
            service.execute(session, simulation)
            status = simulation.status
    except Exception as exc:
        logger.exception("simulation failed", extra={"simulation_id": simulation_id})
        with session_scope() as session:
            simulation = repository.get(session, simulation_id)
            if simulation is not None:
                service.fail(simulation, f"internal error ({type(exc).__name__})")
        raise
    return {"id": simulation_id, "status": status}
