"""JSON logs with a correlation id that follows an HTTP request into the Celery task it enqueued."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery.contrib.testing.worker import start_worker

from signalhub.core.logging import JsonFormatter, get_correlation_id, log_context
from signalhub.worker import celery_app
from tests.helpers import auth_headers


class _Lines(logging.Handler):
    """Every record rendered by the platform's JSON formatter, as parsed objects."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextmanager
def capture() -> Iterator[list[dict]]:
    """Collect the root logger's lines (attach after an embedded worker started: it replaces root handlers)."""
    handler = _Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def log_lines() -> Iterator[list[dict]]:
    with capture() as lines:
        yield lines


def test_request_id_is_echoed_or_generated(client):
    given = client.get("/healthz", headers={"X-Request-ID": "req-123.abc"})
    assert given.headers["x-request-id"] == "req-123.abc"
    generated = client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    # A header that could forge log content is replaced, not echoed.
    forged = client.get("/healthz", headers={"X-Request-ID": "a\" b"})
    assert forged.headers["x-request-id"] != "a\" b" and len(forged.headers["x-request-id"]) == 32


def test_log_context_nests_and_restores(log_lines):
    logger = logging.getLogger("signalhub.test")
    with log_context(correlation_id="c1"):
        with log_context(signal_id=42, order_id=None):
            logger.info("inside")
        logger.info("outer")
    logger.info("outside")
    inside, outer, outside = (line for line in log_lines if line["logger"] == "signalhub.test")
    assert (inside["correlation_id"], inside["signal_id"], "order_id" in inside) == ("c1", 42, False)
    assert outer["correlation_id"] == "c1" and "signal_id" not in outer
    assert "correlation_id" not in outside and get_correlation_id() is None


def test_task_enqueued_by_a_request_logs_the_request_s_correlation_id(client):
    headers = {**auth_headers(client, "ann@example.com"), "X-Request-ID": "req-follow-me"}
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30), \
            capture() as log_lines:
        r = client.post("/api/v1/stocks/update/AAPL", headers=headers, json={"start": "2025-07-01T00:00:00Z"})
        assert r.status_code == 202 and r.headers["x-request-id"] == "req-follow-me"
        task_id = r.json()["task_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(
                line.get("task_id") == task_id and line["message"] == "task finished" for line in log_lines):
            time.sleep(0.2)
    task_lines = [line for line in log_lines if line.get("task_id") == task_id]
    assert {"task started", "task finished"} <= {line["message"] for line in task_lines}
    assert {line["correlation_id"] for line in task_lines} == {"req-follow-me"}
    assert all(line["task"] == "signalhub.market_data.tasks.update_prices" for line in task_lines)
    # The worker thread does not keep the id once the task is done.
    assert get_correlation_id() is None


def test_a_worker_process_writes_json_lines(tmp_path):
    """Celery's own log set-up is replaced: a real worker's lines (its start-up included) are JSON."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "WORKER_METRICS_PORT": "0",
           "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
           "CELERY_RESULT_BACKEND": f"db+sqlite:///{tmp_path / 'results.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "signalhub.worker", "worker", "--concurrency", "1", "-n",
         "jsonlog@%h", "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[dict] = []
    try:
        for raw in proc.stderr:
            if raw.startswith("{"):
                lines.append(json.loads(raw))
            if any("ready" in line["message"] for line in lines):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert any(line["logger"].startswith("celery") and "ready" in line["message"] for line in lines)
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
