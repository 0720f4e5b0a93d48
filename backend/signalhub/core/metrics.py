"""Every Prometheus metric Signalhub exports, plus the helpers that render them (single- or multi-process)."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

# prometheus_client picks its value storage (in-memory vs mmap files) from this variable when it is
# imported, so it must be set in the environment before the process starts (`signalhub run` does).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds; HTTP handlers and Celery tasks both span milliseconds to tens of seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- HTTP API -------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "signalhub_http_requests", "HTTP requests handled, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "signalhub_http_request_duration_seconds", "HTTP request handling time by route template.",
    ["method", "route"], buckets=_LATENCY_BUCKETS,
)

# --- Celery ---------------------------------------------------------------------------------------
TASKS = Counter(
    "signalhub_celery_tasks", "Celery task executions by outcome (succeeded|failed|retried).", ["task", "state"],
)
TASK_DURATION = Histogram(
    "signalhub_celery_task_duration_seconds", "Celery task run time (prerun to postrun).", ["task"],
    buckets=_TASK_BUCKETS,
)

# --- Market data ----------------------------------------------------------------------------------
BARS_INGESTED = Counter(
    "signalhub_bars_ingested", "Price bars stored by ingestion.", ["exchange", "interval"],
)
# Written by the freshness check in whichever worker process ran it: the latest write is the truth.
DATA_AGE = Gauge(
    "signalhub_data_age_seconds", "Age of the newest stored bar per exchange, at the last freshness check.",
    ["exchange"], multiprocess_mode="mostrecent",
)

# --- Signals --------------------------------------------------------------------------------------
SIGNALS = Counter("signalhub_signals", "Signals stored, by strategy and grade.", ["strategy", "grade"])
SIGNAL_EVALUATIONS = Counter(
    "signalhub_signal_evaluations", "Signal evaluation runs, by exchange.", ["exchange"],
)

# --- Notifications --------------------------------------------------------------------------------
NOTIFICATIONS = Counter(
    "signalhub_notifications", "Notification delivery outcomes by channel (sent|failed|retry: queued again).",
    ["channel", "status"],
)

# --- Orders / brokers / risk ----------------------------------------------------------------------
ORDERS = Counter("signalhub_orders", "Order state transitions by broker and new state.", ["broker", "state"])
BROKER_LATENCY = Histogram(
    "signalhub_broker_request_duration_seconds", "Broker API call time by broker and operation.",
    ["broker", "operation"], buckets=_LATENCY_BUCKETS,
)
RISK_EVENTS = Counter("signalhub_risk_events", "Pre-trade risk rule decisions.", ["rule", "decision"])

# --- Model server ---------------------------------------------------------------------------------
MODEL_REQUESTS = Counter(
    "signalhub_model_requests", "Model-server calls by outcome (ok|error|rejected|circuit_open).", ["outcome"],
)
MODEL_LATENCY = Histogram(
    "signalhub_model_request_duration_seconds", "Model-server HTTP request time, per attempt (retries included).",
    buckets=_LATENCY_BUCKETS,
)
# Each process has its own breaker: report the worst state among processes that are still alive.
CIRCUIT_STATE = Gauge(
    "signalhub_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ["name"],
    multiprocess_mode="livemax",
)

# --- KIS broker -----------------------------------------------------------------------------------
KIS_RATE_LIMIT_WAIT = Histogram(
    "signalhub_kis_rate_limit_wait_seconds", "Time spent waiting for the shared KIS rate limiter.", ["env"],
    buckets=_WAIT_BUCKETS,
)
KIS_TOKEN_ISSUANCES = Counter("signalhub_kis_token_issuances", "KIS access tokens issued.", ["env"])
KIS_ERRORS = Counter("signalhub_kis_errors", "KIS API errors by message code.", ["msg_cd"])

# --- Realtime feed --------------------------------------------------------------------------------
REALTIME_CONNECTED = Gauge(
    "signalhub_realtime_connected", "1 while the realtime websocket feed is connected.",
    multiprocess_mode="livemax",
)
REALTIME_FALLBACK = Gauge(
    "signalhub_realtime_fallback_active", "1 while realtime falls back to REST polling.",
    multiprocess_mode="livemax",
)
REALTIME_TICKS = Counter("signalhub_realtime_ticks", "Realtime ticks received.")

# --- Invariants -----------------------------------------------------------------------------------
INVARIANT_VIOLATIONS = Counter(
    "signalhub_invariant_violations", "Invariant check violations found.", ["invariant", "exchange"],
)
INVARIANT_FAILING = Gauge(
    "signalhub_invariant_failing", "1 while the last check of an invariant failed.", ["invariant", "exchange"],
    multiprocess_mode="mostrecent",
)

CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def multiprocess_dir() -> Path | None:
    """The multiprocess metrics directory when multiprocess mode is on, else None."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def collecting_registry() -> CollectorRegistry:
    """The registry to expose: a merge of every process's files in multiprocess mode, else the default one."""
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=str(path))
    return registry


def render_latest() -> tuple[bytes, str]:
    """Current metrics in the Prometheus text exposition format, with its content type."""
    return generate_latest(collecting_registry()), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live-gauge files so it stops contributing (no-op outside multiprocess mode)."""
    path = multiprocess_dir()
    if path is not None:
        _multiprocess.mark_process_dead(pid, str(path))


def reset_multiprocess_dir(path: Path) -> None:
    """Create `path` and remove stale metric files left by a previous run (call before any process starts)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def set_circuit_state(name: str, state: str) -> None:
    """Publish a circuit breaker's state (closed|half_open|open) as CIRCUIT_STATE{name}."""
    CIRCUIT_STATE.labels(name=name).set(CIRCUIT_STATE_VALUES[state])
