"""HTTP layer for channels, the in-app inbox (with a live stream), notification history and failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from sse_starlette.sse import EventSourceResponse

from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.deps import AdminUser, CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse, NotFoundError
from signalhub.models.notification_channel import NotificationChannel
from signalhub.notifications import repository, service
from signalhub.notifications.schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelRead,
    DeliveryRead,
    FailedDelivery,
    FailurePage,
    InboxItem,
    InboxPage,
    NotificationPage,
    NotificationRead,
    TestSendResult,
)

router = APIRouter(tags=["notifications"])
ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


@router.get("/api/v1/notifications/channels", response_model=list[ChannelRead], responses=ERRORS)
def list_channels(session: SessionDep, user: CurrentUser) -> list[NotificationChannel]:
    """Your channels."""
    return repository.channels_for_user(session, user.id)


@router.post("/api/v1/notifications/channels", response_model=ChannelCreated, status_code=status.HTTP_201_CREATED,
             responses=ERRORS)
def create_channel(session: SessionDep, user: CurrentUser, body: ChannelCreate) -> ChannelCreated:
    """Add a channel (a web-push channel's config is the browser's PushSubscription JSON)."""
    channel, secret = service.create_channel(session, user, body)
    return ChannelCreated(**ChannelRead.model_validate(channel).model_dump(), webhook_secret=secret)


@router.delete("/api/v1/notifications/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, responses=ERRORS)
def delete_channel(session: SessionDep, user: CurrentUser, channel_id: int) -> Response:
    """Remove a channel."""
    service.delete_channel(session, user, channel_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/v1/notifications/channels/{channel_id}/test", response_model=TestSendResult, responses=ERRORS)
def test_channel(session: SessionDep, user: CurrentUser, channel_id: int) -> TestSendResult:
    """Send a test message through the channel now and report what happened."""
    result = service.test_send(session, user, channel_id)
    return TestSendResult(ok=result.ok, detail=result.detail, status_code=result.status_code)


@router.get("/api/v1/notifications/webpush/public-key", responses={404: {"model": ErrorResponse}})
def vapid_public_key() -> dict[str, str]:
    """The VAPID applicationServerKey browsers subscribe with."""
    key = get_settings().vapid_public_key
    if not key:
        raise NotFoundError("Web push is not configured on this server (VAPID_PUBLIC_KEY)")
    return {"public_key": key}


@router.get("/api/v1/users/alerts", response_model=InboxPage, responses=ERRORS)
def inbox(session: SessionDep, user: CurrentUser, unread_only: bool = False, limit: Limit = 50,
          offset: Offset = 0) -> InboxPage:
    """Your in-app inbox, newest first."""
    items, total = repository.inbox(session, user.id, unread_only, None, limit, offset)
    return InboxPage(total=total, unread=service.unread_count(session, user),
                     items=[InboxItem.model_validate(n) for n in items])


@router.post("/api/v1/users/alerts/{notification_id}/read", response_model=InboxItem, responses=ERRORS)
def mark_read(session: SessionDep, user: CurrentUser, notification_id: int) -> InboxItem:
    """Mark one notification read."""
    return InboxItem.model_validate(service.mark_read(session, user, notification_id))


@router.post("/api/v1/users/alerts/read-all", response_model=dict[str, int], responses=ERRORS)
def mark_all_read(session: SessionDep, user: CurrentUser) -> dict[str, int]:
    """Mark every notification read."""
    from signalhub.core.time import utcnow

    return {"marked": repository.mark_all_read(session, user.id, utcnow())}


@router.get("/api/v1/users/alerts/stream", responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, user: CurrentUser,
                 last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
                 poll_seconds: Annotated[float, Query(ge=0.2, le=30)] = 2.0) -> EventSourceResponse:
    """Server-sent events: each new notification as it arrives (resumes after Last-Event-ID)."""
    user_id = user.id

    async def events() -> AsyncIterator[dict[str, str]]:
        seen = last_event_id
        if seen is None:
            with session_scope() as session:
                latest, _ = repository.inbox(session, user_id, False, None, 1, 0)
            seen = latest[0].id if latest else 0
        while not await request.is_disconnected():
            with session_scope() as session:
                fresh, _ = repository.inbox(session, user_id, False, seen, 100, 0)
            for notification in reversed(fresh):
                seen = notification.id
                yield {"id": str(notification.id), "event": "notification",
                       "data": json.dumps(InboxItem.model_validate(notification).model_dump(mode="json"))}
            await asyncio.sleep(poll_seconds)

    return EventSourceResponse(events(), ping=15)


@router.get("/api/v1/notifications", response_model=NotificationPage, responses=ERRORS)
def history(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0) -> NotificationPage:
    """Your notifications with each channel's delivery status (queued, sent, failed; attempts, last error)."""
    items, total = repository.inbox(session, user.id, False, None, limit, offset)
    deliveries = repository.deliveries_for(session, [n.id for n in items])
    by_notification: dict[int, list[DeliveryRead]] = {}
    for d in deliveries:
        by_notification.setdefault(d.notification_id, []).append(DeliveryRead.model_validate(d))
    return NotificationPage(total=total, items=[
        NotificationRead(**InboxItem.model_validate(n).model_dump(), deliveries=by_notification.get(n.id, []))
        for n in items])


@router.get("/api/v1/admin/notifications/failures", response_model=FailurePage,
            responses={**ERRORS, 403: {"model": ErrorResponse}}, tags=["admin"])
def failures(session: SessionDep, _: AdminUser, limit: Limit = 100, offset: Offset = 0) -> FailurePage:
    """Deliveries that failed for good, across all users (administrators only)."""
    items, total = repository.failed_deliveries(session, limit, offset)
    return FailurePage(total=total, items=[FailedDelivery.model_validate(d) for d in items])
