"""HTTP layer for background job status."""

from __future__ import annotations

from fastapi import APIRouter

from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.tasks import service
from signalhub.tasks.schemas import TaskStatus

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


@router.get("/{task_id}", response_model=TaskStatus,
            responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})
def get_task(session: SessionDep, user: CurrentUser, task_id: str) -> TaskStatus:
    """State and result of a background job you started."""
    return service.job_status(service.get_user_job(session, user, task_id))
