"""Starting a user's background job: record who owns it, commit, then enqueue the Celery task."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError
from sqlalchemy.orm import Session

from signalhub.core.errors import SignalhubError
from signalhub.models.background_job import BackgroundJob


class BrokerUnavailableError(SignalhubError):
    """The task queue could not be reached."""

    status_code = 503
    code = "broker_unavailable"


def start_job(session: Session, user_id: int, task: Task, kind: str, kwargs: dict[str, Any]) -> BackgroundJob:
    """Record the job, commit, then enqueue the task under the job's id (called at the HTTP boundary)."""
    job = BackgroundJob(id=str(uuid.uuid4()), user_id=user_id, kind=kind, params=kwargs)
    session.add(job)
    # Commit before enqueueing so a fast worker, or a status poll, always finds the job row.
    session.commit()
    try:
        task.apply_async(kwargs=kwargs, task_id=job.id, retry=False)
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailableError(f"Task queue unavailable, job {job.id} not started: {exc}") from exc
    return job
