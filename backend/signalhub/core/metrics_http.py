"""HTTP metrics: a middleware timing requests by route template, and the API's `/metrics` endpoint."""

from __future__ import annotations

import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signalhub.core import metrics
from signalhub.core.config import get_settings
from signalhub.core.errors import AuthenticationError

UNMATCHED = "<unmatched>"

router = APIRouter()


def route_template(scope: Scope) -> str:
    """The matched route's path template (e.g. `/api/v1/signals/{signal_id}`), or `<unmatched>`."""
    route = scope.get("route")
    # Raw paths would give one series per id and let any client create unbounded label values.
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED


class HttpMetricsMiddleware:
    """Count requests by method, route template and status, and time them until the response starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, recording its outcome (500 when the app raised before responding)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        elapsed: float | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Time to the response head: streaming endpoints (the inbox stream) would otherwise
                # report how long the client stayed connected.
                elapsed = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method, route = scope.get("method", "GET"), route_template(scope)
            metrics.HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            metrics.HTTP_LATENCY.labels(method=method, route=route).observe(
                elapsed if elapsed is not None else time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text exposition of this API's metrics (all worker processes merged in multiprocess mode)."""
    token = get_settings().metrics_token
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise AuthenticationError("A valid metrics bearer token is required")
    body, content_type = metrics.render_latest()
    return Response(content=body, media_type=content_type)
