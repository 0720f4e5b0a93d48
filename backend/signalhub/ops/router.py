"""HTTP layer of the admin API: system status, users, failed-delivery replay (administrators only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from signalhub.core.deps import AdminUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.core.time import utcnow
from signalhub.models.user import User
from signalhub.notifications.tasks import enqueue_sends
from signalhub.ops import repository, service
from signalhub.ops.schemas import ReplayResult, SystemStatus, UserPage
from signalhub.users.schemas import UserRead

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
ERRORS = {401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
NOT_FOUND = {404: {"model": ErrorResponse}}


@router.get("/status", response_model=SystemStatus, responses=ERRORS)
def system_status(session: SessionDep, _: AdminUser) -> SystemStatus:
    """Markets open/closed with next open and close, last bars, queue depths, workers, circuits, kill switch."""
    return service.system_status(session, utcnow())


@router.get("/users", response_model=UserPage, responses=ERRORS)
def list_users(session: SessionDep, _: AdminUser, limit: Annotated[int, Query(ge=1, le=500)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> UserPage:
    """Every user, oldest first."""
    items, total = repository.list_users(session, limit, offset)
    return UserPage(total=total, items=[UserRead.model_validate(u) for u in items])


@router.post("/users/{user_id}/deactivate", response_model=UserRead, responses={**ERRORS, **NOT_FOUND})
def deactivate_user(session: SessionDep, admin: AdminUser, user_id: int) -> User:
    """Stop a user from logging in or using their tokens (their sessions end); not your own account."""
    return service.set_active(session, admin, user_id, False, utcnow())


@router.post("/users/{user_id}/reactivate", response_model=UserRead, responses={**ERRORS, **NOT_FOUND})
def reactivate_user(session: SessionDep, admin: AdminUser, user_id: int) -> User:
    """Let a deactivated user log in again."""
    return service.set_active(session, admin, user_id, True, utcnow())


@router.post("/notifications/deliveries/{delivery_id}/replay", response_model=ReplayResult,
             status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, **NOT_FOUND, 409: {"model": ErrorResponse}})
def replay_delivery(session: SessionDep, _: AdminUser, delivery_id: int) -> ReplayResult:
    """Send a failed delivery again: back in the queue with its attempts reset, a send queued at once."""
    delivery = service.replay_delivery(session, delivery_id, utcnow())
    result = ReplayResult(id=delivery.id, status=delivery.status, attempts=delivery.attempts)
    # Commit before enqueueing so the worker finds the row queued (dispatch_due would pick it up otherwise).
    session.commit()
    enqueue_sends([delivery.id])
    return result
