"""Domain errors that carry their HTTP status, and the one JSON error shape for every 4xx/5xx."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One problem with the request, e.g. a field that failed validation."""

    field: str | None = None
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    status: int
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    """Envelope of every error response: `{"error": {...}}`."""

    error: ErrorBody


class SignalhubError(Exception):
    """Base of domain errors; subclasses set the HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None,
                 persist_changes: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers
        # True when the unit of work must still commit what it did before refusing.
        self.persist_changes = persist_changes


class NotFoundError(SignalhubError):
    """The resource does not exist, or belongs to someone else (never say which)."""

    status_code = 404
    code = "not_found"


class ConflictError(SignalhubError):
    """The request clashes with existing state (e.g. a duplicate e-mail)."""

    status_code = 409
    code = "conflict"


class UnprocessableError(SignalhubError):
    """The request is well-formed but its values make no sense."""

    status_code = 422
    code = "unprocessable"


class AuthenticationError(SignalhubError):
    """Missing, malformed or expired credentials."""

    status_code = 401
    code = "not_authenticated"

    def __init__(self, message: str = "Could not validate credentials", *,
                 persist_changes: bool = False) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, persist_changes=persist_changes)


class PermissionDeniedError(SignalhubError):
    """Authenticated, but not allowed to do this."""

    status_code = 403
    code = "forbidden"


class RateLimitedError(SignalhubError):
    """Too many attempts; the client must wait `retry_after` seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


def error_response(
    status: int, code: str, message: str, details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a response in the platform's one error shape."""
    body = ErrorResponse(error=ErrorBody(status=status, code=code, message=message, details=details or []))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


_HTTP_CODES = {
    400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers so every error, ours or the framework's, uses `ErrorResponse`."""

    @app.exception_handler(SignalhubError)
    async def _domain(_: Request, exc: SignalhubError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            ErrorDetail(field=_field_name(err.get("loc", ())), message=err.get("msg", "invalid"),
                        type=err.get("type"))
            for err in exc.errors()
        ]
        summary = "; ".join(f"{d.field}: {d.message}" for d in details) or "Invalid request"
        return error_response(422, "validation_error", summary, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code >= 500 else "bad_request")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # A concurrent request won the race on a unique key; the service's own check could not see it.
        logger.info("integrity error: %s", exc.orig)
        return error_response(409, "conflict", "The request conflicts with existing data")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the cause for operators; never leak internals to the client.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "Internal server error")
