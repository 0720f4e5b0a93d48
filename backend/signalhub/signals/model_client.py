"""HTTP client of the model server: short timeouts, retries, a circuit breaker, strict response checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from signalhub.core import metrics
from signalhub.core.circuit import CircuitBreaker
from signalhub.core.config import get_settings

logger = logging.getLogger(__name__)


class ModelUnavailableError(Exception):
    """The model server could not give a usable answer (down, slow, open circuit, or garbage)."""


class _PredictionBody(BaseModel):
    symbol: str
    direction: Literal["up", "down"]
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    predicted_return: float = Field(allow_inf_nan=False)
    model_version: str


class _BatchBody(BaseModel):
    predictions: list[_PredictionBody]
    model_version: str


@dataclass(frozen=True)
class ModelPrediction:
    """The model's call for one symbol."""

    direction: str
    confidence: float
    predicted_return: float
    model_version: str


@dataclass(frozen=True)
class ModelInfo:
    """What the served model supports."""

    version: str
    symbols: frozenset[str]
    features: tuple[str, ...]
    horizon: int


class ModelClient:
    """Calls `POST /api/predict/batch`; every failure becomes `ModelUnavailableError`, never a crash."""

    def __init__(self, base_url: str, timeout: float, retries: int, breaker: CircuitBreaker,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout), transport=transport)
        self._retries = retries
        self.breaker = breaker
        self._info: ModelInfo | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        if not self.breaker.allow():
            metrics.MODEL_REQUESTS.labels(outcome="circuit_open").inc()
            raise ModelUnavailableError(f"circuit {self.breaker.name} is {self.breaker.state}")
        last_error = "no attempt"
        for attempt in range(self._retries + 1):
            try:
                started = time.perf_counter()
                try:
                    response = self._http.request(method, path, json=json)
                finally:
                    metrics.MODEL_LATENCY.observe(time.perf_counter() - started)
                if response.status_code >= 500:
                    last_error = f"HTTP {response.status_code}"
                elif response.status_code >= 400:
                    # Our request is wrong; retrying will not help, and the server is healthy.
                    self.breaker.record_success()
                    metrics.MODEL_REQUESTS.labels(outcome="rejected").inc()
                    raise ModelUnavailableError(f"model server refused the request: HTTP {response.status_code} "
                                                f"{response.text[:300]}")
                else:
                    body = response.json()
                    self.breaker.record_success()
                    metrics.MODEL_REQUESTS.labels(outcome="ok").inc()
                    return body
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            except ValueError as exc:  # invalid JSON
                last_error = f"invalid JSON: {exc}"
                break
            if attempt < self._retries:
                time.sleep(0.05 * (2 ** attempt))
        self.breaker.record_failure()
        metrics.MODEL_REQUESTS.labels(outcome="error").inc()
        raise ModelUnavailableError(last_error)

    def info(self) -> ModelInfo:
        """The served model's version, symbols, features and horizon (cached once fetched)."""
        if self._info is None:
            body = self._call("GET", "/model")
            try:
                self._info = ModelInfo(version=str(body["model_version"]), symbols=frozenset(body["symbols"]),
                                       features=tuple(body["features"]), horizon=int(body["horizon"]))
            except (KeyError, TypeError, ValueError) as exc:
                self.breaker.record_failure()
                raise ModelUnavailableError(f"unexpected /model response: {exc}") from exc
        return self._info

    def predict_batch(self, rows: Sequence[tuple[str, dict[str, float]]], timeframe: str,
                      horizon: int) -> dict[str, ModelPrediction]:
        """Predict for (symbol, features) rows in one request; raises ModelUnavailableError on any failure."""
        if not rows:
            return {}
        items = [{"symbol": s, "timeframe": timeframe, "features": f, "prediction_horizon": horizon}
                 for s, f in rows]
        body = self._call("POST", "/api/predict/batch", json={"items": items})
        try:
            parsed = _BatchBody.model_validate(body)
        except ValidationError as exc:
            self.breaker.record_failure()
            raise ModelUnavailableError(f"garbage from model server: {exc.errors()[:3]}") from exc
        return {p.symbol: ModelPrediction(p.direction, p.confidence, p.predicted_return, p.model_version)
                for p in parsed.predictions}


@lru_cache
def _breaker() -> CircuitBreaker:
    settings = get_settings()
    return CircuitBreaker("model-server", settings.model_breaker_failures, settings.model_breaker_reset_seconds)


def get_model_client() -> ModelClient:
    """A client for the configured model server sharing the process-wide circuit breaker."""
    settings = get_settings()
    return ModelClient(settings.model_server_url, settings.model_timeout_seconds, settings.model_retries,
                       _breaker())
