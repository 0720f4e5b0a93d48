"""The model server: a FastAPI app serving the trained direction model over HTTP (port 8001).

Run with `uvicorn model_server.main:app --port 8001`. The artifact directory defaults to
`backend/model_server/artifacts` and can be overridden with `MODEL_ARTIFACT_DIR`.

Errors use the platform's shape, `{"error": {"status", "code", "message", "details": [{field, message,
type}]}}`; `field` is the JSON path inside the request body (`timeframe`, `items.3.features.rsi_14`).
An unknown symbol is a 422 (the request is well-formed, the value is not served), not a 404.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from model_server.model import DEFAULT_ARTIFACT_DIR, ArtifactError, TrainedModel

logger = logging.getLogger(__name__)

MAX_BATCH = 1000


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


class ModelServerError(Exception):
    """An error answered in the common shape."""

    def __init__(self, status: int, code: str, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


class PredictRequest(BaseModel):
    """Features of one ticker's latest bar, as built by `model_server.features.build_features`."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=32)
    timeframe: str = Field(min_length=1, max_length=8)
    features: dict[str, float]
    prediction_horizon: int = Field(gt=0)


class BatchPredictRequest(BaseModel):
    """Up to `MAX_BATCH` prediction requests answered by one vectorised model call."""

    model_config = ConfigDict(extra="forbid")

    items: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH)


class Prediction(BaseModel):
    """The model's call for one symbol."""

    symbol: str
    direction: Literal["up", "down"]
    confidence: float = Field(ge=0.5, le=1.0, description="probability of the predicted direction")
    predicted_return: float = Field(description="expected simple return over `horizon` bars")
    model_version: str
    horizon: int


class BatchPrediction(BaseModel):
    """Predictions in the order of the request's items."""

    predictions: list[Prediction]
    model_version: str


class Health(BaseModel):
    """Readiness: `loaded` is false (and the status 503) when no usable artifact was found."""

    status: Literal["ok", "unavailable"]
    model_version: str | None
    loaded: bool
    error: str | None = None


def error_response(status: int, code: str, message: str, details: list[ErrorDetail] | None = None) -> JSONResponse:
    """Build a response in the common error shape."""
    body = ErrorResponse(error=ErrorBody(status=status, code=code, message=message, details=details or []))
    return JSONResponse(body.model_dump(), status_code=status)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(str(part) for part in parts)


def _summary(details: list[ErrorDetail]) -> str:
    return "; ".join(f"{d.field}: {d.message}" if d.field else d.message for d in details) or "Invalid request"


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ModelServerError)
    async def _ours(_: Request, exc: ModelServerError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [ErrorDetail(field=_field_name(err.get("loc", ())), message=err.get("msg", "invalid"),
                               type=err.get("type")) for err in exc.errors()]
        return error_response(422, "validation_error", _summary(details), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error" if exc.status_code >= 500 else "bad_request")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "Internal server error")


def _check_item(model: TrainedModel, item: PredictRequest, prefix: str = "") -> list[ErrorDetail]:
    """Everything wrong with one request item against what the loaded model supports."""
    problems: list[ErrorDetail] = []
    if item.timeframe != model.timeframe:
        problems.append(ErrorDetail(field=f"{prefix}timeframe", type="unsupported_timeframe",
                                    message=f"timeframe '{item.timeframe}' is not supported; "
                                            f"this model serves '{model.timeframe}' only"))
    if item.prediction_horizon != model.horizon:
        problems.append(ErrorDetail(field=f"{prefix}prediction_horizon", type="unsupported_horizon",
                                    message=f"prediction_horizon {item.prediction_horizon} is not supported; "
                                            f"this model predicts {model.horizon} bars ahead"))
    if item.symbol.strip().upper() not in model.symbols:
        problems.append(ErrorDetail(field=f"{prefix}symbol", type="unknown_symbol",
                                    message=f"symbol '{item.symbol}' is not one the model was trained on"))
    expected = model.features
    given = item.features
    problems += [ErrorDetail(field=f"{prefix}features.{name}", type="missing_feature",
                             message=f"feature '{name}' is required") for name in expected if name not in given]
    known = set(expected)
    problems += [ErrorDetail(field=f"{prefix}features.{name}", type="unknown_feature",
                             message=f"feature '{name}' is not one of the model's features")
                 for name in given if name not in known]
    problems += [ErrorDetail(field=f"{prefix}features.{name}", type="non_finite",
                             message=f"feature '{name}' must be a finite number, got {value}")
                 for name, value in given.items() if name in known and not math.isfinite(value)]
    return problems


def _predict(model: TrainedModel, items: list[PredictRequest], prefixes: list[str]) -> list[Prediction]:
    problems = [p for item, prefix in zip(items, prefixes, strict=True) for p in _check_item(model, item, prefix)]
    if problems:
        raise ModelServerError(422, "validation_error", _summary(problems), problems)
    names = model.features
    matrix = np.array([[item.features[name] for name in names] for item in items], dtype=float)
    out = model.predict(matrix)
    up, confidence = out.up, out.confidence
    return [
        Prediction(symbol=item.symbol.strip().upper(), direction="up" if up[i] else "down",
                   confidence=float(confidence[i]), predicted_return=float(out.predicted_return[i]),
                   model_version=model.version, horizon=model.horizon)
        for i, item in enumerate(items)
    ]


def create_app(artifact_dir: Path | str | None = None) -> FastAPI:
    """Build the app around the artifact in `artifact_dir` (or `MODEL_ARTIFACT_DIR`, or the bundled one)."""
    directory = Path(artifact_dir or os.environ.get("MODEL_ARTIFACT_DIR") or DEFAULT_ARTIFACT_DIR)
    model: TrainedModel | None = None
    load_error: str | None = None
    try:
        model = TrainedModel.load(directory)
        logger.info("loaded model %s from %s", model.version, directory)
    except ArtifactError as exc:
        # Start anyway: /health reports not ready, so an orchestrator sees why instead of a crash loop.
        load_error = str(exc)
        logger.error("model not loaded: %s", load_error)

    app = FastAPI(title="Signalhub model server", version="1")
    app.state.model = model
    app.state.load_error = load_error
    _install_error_handlers(app)

    def require_model() -> TrainedModel:
        if model is None:
            raise ModelServerError(503, "model_unavailable", f"No model is loaded: {load_error}")
        return model

    @app.get("/health", response_model=Health, response_model_exclude_none=True, responses={503: {"model": Health}})
    def health() -> Any:
        """Readiness of the server and its model."""
        if model is None:
            body = Health(status="unavailable", model_version=None, loaded=False, error=load_error)
            return JSONResponse(body.model_dump(), status_code=503)
        return Health(status="ok", model_version=model.version, loaded=True)

    @app.get("/model", responses={503: {"model": ErrorResponse}})
    def model_info() -> dict[str, Any]:
        """Version, training window, horizon, features and out-of-sample metrics of the loaded model."""
        m = require_model()
        meta = m.metadata
        validation = meta.get("validation", {})
        return {
            "model_version": m.version,
            "model": meta.get("model"),
            "timeframe": m.timeframe,
            "horizon": m.horizon,
            "features": m.features,
            "min_bars": meta.get("min_bars"),
            "recommended_bars": meta.get("recommended_bars"),
            "training_window": meta.get("training_window"),
            "symbol_count": len(m.symbols),
            "symbols": sorted(m.symbols),
            "metrics": {
                "scheme": validation.get("scheme"),
                "embargo_bars": validation.get("embargo_bars"),
                "baseline_definitions": validation.get("baseline_definitions"),
                "overall": validation.get("overall"),
                "folds": validation.get("folds"),
                "per_ticker": validation.get("per_ticker"),
            },
            "libraries": meta.get("libraries"),
            "created_at": meta.get("created_at"),
        }

    error_responses: dict[int | str, dict[str, Any]] = {422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}

    @app.post("/api/predict", response_model=Prediction, responses=error_responses)
    def predict(body: PredictRequest) -> Prediction:
        """Direction, confidence and expected return for one symbol."""
        return _predict(require_model(), [body], [""])[0]

    @app.post("/api/predict/batch", response_model=BatchPrediction, responses=error_responses)
    def predict_batch(body: BatchPredictRequest) -> BatchPrediction:
        """Predictions for many symbols in one vectorised call; any invalid item rejects the batch."""
        m = require_model()
        predictions = _predict(m, body.items, [f"items.{i}." for i in range(len(body.items))])
        return BatchPrediction(predictions=predictions, model_version=m.version)

    return app


app = create_app()
