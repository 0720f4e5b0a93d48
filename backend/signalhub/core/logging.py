"""Logging set-up: JSON lines on stderr, with a per-request/per-task context (correlation id, signal id, ...).

The context lives in a contextvar: an HTTP middleware opens it from `X-Request-ID`, Celery messages published
while it is set carry it in a header, and the worker restores it around the task, so every log line of a
request and of the tasks it caused shows the same `correlation_id`. Domain code adds fields of its own
(`signal_id`, `order_id`, ...) with `log_context(...)`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
REQUEST_ID_HEADER = "X-Request-ID"
# Name of the Celery message header carrying the context to the worker.
CONTEXT_HEADER = "signalhub_log_context"
# A client-given id is echoed into logs and headers: keep it short and printable.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_context: ContextVar[Mapping[str, Any]] = ContextVar("signalhub_log_context", default={})  # noqa: B039 - read-only


def current_context() -> dict[str, Any]:
    """The fields every log line of the current request or task carries."""
    return dict(_context.get())


def get_correlation_id() -> str | None:
    """The correlation id of the current request or task, if any."""
    value = _context.get().get("correlation_id")
    return str(value) if value is not None else None


def new_correlation_id() -> str:
    """A fresh random correlation id."""
    return uuid.uuid4().hex


def bind_context(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add fields to the current context; returns the token `reset_context` takes to undo it."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def reset_context(token: Token[Mapping[str, Any]]) -> None:
    """Undo a `bind_context`."""
    _context.reset(token)


@contextmanager
def log_context(**fields: Any) -> Iterator[dict[str, Any]]:
    """Within the block, every log line (and every Celery task enqueued) carries `fields` (None values skipped)."""
    token = bind_context(**fields)
    try:
        yield current_context()
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object, with the log context and any `extra=` fields included."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get())
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str | int = "INFO") -> None:
    """Send the root logger's records to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)


def _on_setup_logging(loglevel: str | int | None = None, **_: Any) -> None:
    # Connected, this replaces Celery's own log set-up: workers and beat write the same JSON lines as the API.
    from signalhub.core.config import get_settings

    configure_logging(loglevel or get_settings().log_level)


class CorrelationIdMiddleware:
    """Give each HTTP request a correlation id (the client's `X-Request-ID` if valid) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the id for the request's duration and add it to the response headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if _VALID_REQUEST_ID.match(given) else new_correlation_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        token = _context.set({"correlation_id": request_id})
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _context.reset(token)


# --- Celery: the context travels in a message header ------------------------------------------------------

_task_tokens: dict[str, Token[Mapping[str, Any]]] = {}
_task_logger = logging.getLogger("signalhub.tasks")


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    context = _context.get()
    if headers is not None and context:
        headers[CONTEXT_HEADER] = dict(context)


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    carried = getattr(task.request, CONTEXT_HEADER, None) if task is not None else None
    fields = dict(carried) if isinstance(carried, Mapping) else {}
    # A task started by beat (or by anything outside a request) gets an id of its own.
    fields.setdefault("correlation_id", new_correlation_id())
    token = _context.set({**fields, "task_id": task_id, "task": getattr(task, "name", None)})
    if task_id is not None:
        _task_tokens[task_id] = token
    _task_logger.info("task started")


def _on_postrun(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    _task_logger.info("task finished", extra={"state": state})
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            _context.reset(token)
        except ValueError:
            # Reset from another context (eager/threads): clear instead of restoring.
            _context.set({})


def install_celery_context() -> None:
    """Connect the Celery signals that carry the log context from publisher to worker (idempotent)."""
    from celery import signals

    signals.before_task_publish.connect(_on_publish, weak=False, dispatch_uid="signalhub-log-publish")
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="signalhub-log-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="signalhub-log-postrun")
    signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="signalhub-log-setup")
