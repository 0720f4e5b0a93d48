"""Domain metrics from the real code paths: ingestion, signals, model server and its circuit, freshness,
notification deliveries. Each is checked against what the same run stored or did."""

from __future__ import annotations

import socket
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from signalhub.core.circuit import CircuitBreaker
from signalhub.core.db import session_scope
from signalhub.market_data import tasks as market_tasks
from signalhub.market_data.providers import get_provider
from signalhub.models import PriceBar, Signal
from signalhub.notifications import fanout
from signalhub.notifications import tasks as notification_tasks
from signalhub.signals.model_client import ModelClient, ModelUnavailableError
from signalhub.signals.pipeline import ingest
from tests.helpers import auth_headers
from tests.monitoring.exposition import current
from tests.signals.test_pipeline import CUT, END, load_until

TICKERS = ["AAPL", "MSFT", "005930.KS"]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_ingestion_counts_bars_evaluations_signals_and_model_calls(db_session):
    from model_server.model import DEFAULT_ARTIFACT_DIR
    from tests.model_server.conftest import serve

    load_until(CUT, TICKERS)
    bars = {(e, i): current("signalhub_bars_ingested_total", exchange=e, interval=i)
            for e, i in (("XNYS", "1d"), ("XKRX", "1d"))}
    evaluations = {e: current("signalhub_signal_evaluations_total", exchange=e) for e in ("XNYS", "XKRX")}
    ok, latency = current("signalhub_model_requests_total", outcome="ok"), current(
        "signalhub_model_request_duration_seconds_count")
    before_ids = set(db_session.scalars(select(Signal.id)))
    grades_before = {key: current("signalhub_signals_total", strategy=key[0], grade=key[1])
                     for key in _all_strategy_grades()}
    with serve(DEFAULT_ARTIFACT_DIR) as http:
        model = ModelClient(str(http.base_url).rstrip("/"), 10.0, 1, CircuitBreaker("model-server", 3, 30))
        try:
            with session_scope() as session:
                result = ingest(session, get_provider("replay"), TICKERS, "1d", model, end=END)
        finally:
            model.close()

    stored = {s.ticker: s.bars_stored for s in result.updates}
    assert current("signalhub_bars_ingested_total", exchange="XNYS", interval="1d") - bars[("XNYS", "1d")] == (
        stored["AAPL"] + stored["MSFT"])
    assert current("signalhub_bars_ingested_total", exchange="XKRX", interval="1d") - bars[("XKRX", "1d")] == (
        stored["005930.KS"])
    assert stored["AAPL"] > 0 and stored["005930.KS"] > 0
    assert {e: current("signalhub_signal_evaluations_total", exchange=e) - evaluations[e]
            for e in evaluations} == {"XNYS": 1, "XKRX": 1}
    new = db_session.scalars(select(Signal).where(Signal.id.not_in(before_ids))).all()
    assert new, "the replayed window should emit signals"
    by_key = Counter((s.strategy, s.grade) for s in new)
    for key, count in by_key.items():
        assert current("signalhub_signals_total", strategy=key[0], grade=key[1]) - grades_before.get(key, 0) == count
    assert current("signalhub_model_requests_total", outcome="ok") - ok >= 1
    assert current("signalhub_model_request_duration_seconds_count") - latency >= 1


def _all_strategy_grades() -> list[tuple[str, str]]:
    from signalhub.signals import strategies

    return [(s, g) for s in strategies.REGISTRY for g in ("STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL")]


def test_model_errors_open_the_circuit_and_the_gauge_follows_it():
    name = "model-server-metrics-test"
    breaker = CircuitBreaker(name, failure_threshold=1, reset_seconds=60)
    assert current("signalhub_circuit_state", name=name) == 0
    error, refused = (current("signalhub_model_requests_total", outcome=o) for o in ("error", "circuit_open"))
    client = ModelClient(closed_port_url(), 0.5, 0, breaker)
    try:
        with pytest.raises(ModelUnavailableError, match="ConnectError"):
            client.predict_batch([("AAPL", {"rsi_14": 50.0})], "1d", 5)
        with pytest.raises(ModelUnavailableError, match="circuit"):
            client.predict_batch([("AAPL", {"rsi_14": 50.0})], "1d", 5)
    finally:
        client.close()
    assert current("signalhub_model_requests_total", outcome="error") - error == 1
    assert current("signalhub_model_requests_total", outcome="circuit_open") - refused == 1
    assert current("signalhub_circuit_state", name=name) == 2
    breaker.record_success()
    assert current("signalhub_circuit_state", name=name) == 0


def test_the_circuit_gauge_shows_half_open_once_the_reset_time_passed():
    clock = [1000.0]
    breaker = CircuitBreaker("clocked", failure_threshold=1, reset_seconds=30, clock=lambda: clock[0])
    breaker.record_failure()
    assert current("signalhub_circuit_state", name="clocked") == 2
    clock[0] += 31
    assert breaker.allow()
    assert current("signalhub_circuit_state", name="clocked") == 1


def test_freshness_check_publishes_the_age_of_the_newest_bar(db_session):
    load_until(CUT, ["AAPL", "MSFT"])
    newest = db_session.scalar(select(PriceBar.ts).where(PriceBar.interval == "1d").order_by(PriceBar.ts.desc()))
    at = datetime(2025, 4, 5, 12, tzinfo=UTC)  # a Saturday: no intraday series are checked
    market_tasks.check_freshness("XNYS", at=at.isoformat())
    assert current("signalhub_data_age_seconds", exchange="XNYS") == (at - newest).total_seconds()


def test_deliveries_are_counted_by_channel_and_outcome(client, db_session, env, tmp_dir):
    env.setenv("DELIVERY_MAX_ATTEMPTS", "2")
    env.setenv("DELIVERY_BACKOFF_BASE_SECONDS", "0.01")
    env.setenv("DELIVERY_BACKOFF_MAX_SECONDS", "0.02")
    load_until(CUT, ["AAPL"])
    with session_scope() as session:
        ingest(session, get_provider("replay"), ["AAPL"], "1d", None, end=END)
    signal_ids = list(db_session.scalars(select(Signal.id).where(Signal.ticker == "AAPL")))
    assert signal_ids
    ann = auth_headers(client, "ann@example.com")
    channels = []
    for body in ({"kind": "email", "name": "mail", "config": {"address": "ann@example.com"}},
                 {"kind": "webhook", "name": "hook", "config": {"url": f"{closed_port_url()}/hook"}}):
        r = client.post("/api/v1/notifications/channels", headers=ann, json=body)
        assert r.status_code == 201, r.text
        channels.append(r.json()["id"])
    r = client.post("/api/v1/alerts/rules", headers=ann,
                    json={"name": "r", "tickers": ["AAPL"], "min_grade": "HOLD", "channel_ids": channels})
    assert r.status_code == 201, r.text
    counts = {(c, s): current("signalhub_notifications_total", channel=c, status=s)
              for c in ("email", "webhook") for s in ("sent", "retry", "failed")}
    with session_scope() as session:
        result = fanout.fan_out(session, signal_ids[:1], datetime.now(UTC))
    first = notification_tasks.send_deliveries.apply(args=(result.due_ids,)).get()
    time.sleep(0.05)
    assert notification_tasks.dispatch_due.apply().get()["queued"] == 1
    second = notification_tasks.send_deliveries.apply(args=(result.due_ids,)).get()
    assert (first["sent"], first["retried"], second["failed"]) == (1, 1, 1)
    deltas = {key: current("signalhub_notifications_total", channel=key[0], status=key[1]) - before
              for key, before in counts.items()}
    assert deltas == {("email", "sent"): 1, ("email", "retry"): 0, ("email", "failed"): 0,
                      ("webhook", "sent"): 0, ("webhook", "retry"): 1, ("webhook", "failed"): 1}
