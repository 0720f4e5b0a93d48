"""Bodies of the task status endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class TaskStatus(BaseModel):
    """A background job's state (PENDING, STARTED, RETRY, SUCCESS, FAILURE) and outcome."""

    task_id: str
    kind: str
    state: str
    params: dict[str, Any]
    created_at: datetime
    result: Any = None
    error: str | None = None
