"""Reading a user's job state from the Celery result store."""

from __future__ import annotations

from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.core.errors import NotFoundError
from signalhub.models.background_job import BackgroundJob
from signalhub.models.user import User
from signalhub.tasks.schemas import TaskStatus
from signalhub.worker import celery_app


def get_user_job(session: Session, user: User, task_id: str) -> BackgroundJob:
    """Return the job if `user` started it; 404 otherwise (another user's job does not exist for them)."""
    job = session.scalar(select(BackgroundJob).where(BackgroundJob.id == task_id,
                                                     BackgroundJob.user_id == user.id))
    if job is None:
        raise NotFoundError(f"No task {task_id}")
    return job


def job_status(job: BackgroundJob) -> TaskStatus:
    """Combine the job record with its state in the result store."""
    result = AsyncResult(job.id, app=celery_app)
    state = result.state
    status = TaskStatus(task_id=job.id, kind=job.kind, state=state, params=job.params,
                        created_at=job.created_at)
    if state == "SUCCESS":
        status.result = result.result
    elif state == "FAILURE":
        status.error = f"{type(result.result).__name__}: {result.result}"
    return status
