"""The signal pipeline on real bundled data: transitions, dedup, grading with the real model server,
reproducibility, gap suppression, and resilience to a down, slow or garbage-speaking model server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select

from model_server.features import FEATURE_NAMES
from model_server.model import DEFAULT_ARTIFACT_DIR
from signalhub.core.circuit import CircuitBreaker, CircuitState
from signalhub.core.db import session_scope
from signalhub.market_data import service as market_service
from signalhub.market_data.providers import get_provider
from signalhub.models import PriceBar, Signal, TechnicalIndicator
from signalhub.signals import grading
from signalhub.signals.model_client import ModelClient, ModelUnavailableError
from signalhub.signals.pipeline import ingest
from tests.fakes.model_server import MisbehavingModelServer
from tests.model_server.conftest import serve

EPOCH = datetime(1990, 1, 1, tzinfo=UTC)
CUT, END = datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 4, 12, tzinfo=UTC)
TICKERS = ["AAPL", "MSFT", "NVDA"]


def load_until(cut: datetime, tickers: list[str] = TICKERS) -> None:
    with session_scope() as session:
        market_service.update_prices(session, get_provider("replay"), tickers, "1d", EPOCH, cut)


def run(model: ModelClient | None, end: datetime = END, tickers: list[str] = TICKERS):
    with session_scope() as session:
        return ingest(session, get_provider("replay"), tickers, "1d", model, end=end)


def client_for(url: str, timeout: float = 1.0, failures: int = 3) -> ModelClient:
    return ModelClient(url, timeout, retries=1, breaker=CircuitBreaker("test", failures, 60))


@pytest.fixture(scope="module")
def model_url():
    with serve(DEFAULT_ARTIFACT_DIR) as http:
        yield str(http.base_url).rstrip("/")


def signals_by_key(db_session) -> dict[tuple[str, str, str], Signal]:
    db_session.expire_all()
    return {(s.ticker, s.strategy, s.bar_ts.date().isoformat()): s for s in db_session.scalars(select(Signal))}


def test_new_bars_emit_hand_checked_signals_graded_with_the_real_model(db_session, model_url):
    load_until(CUT)
    model = client_for(model_url)
    result = run(model)
    assert result.signals.model_status.startswith("ok"), result.signals.model_status
    signals = signals_by_key(db_session)
    # Hand-checked on the CSV: AAPL RSI(14) fell to 25.18 on 2025-04-04 (31.93 the day before) and
    # RSI + stochastic agreed on 2025-04-09 (see tests/signals/test_strategies.py).
    rsi = signals[("AAPL", "rsi_reversal", "2025-04-04")]
    assert rsi.action == "BUY" and rsi.technical_confidence == pytest.approx(0.6844, abs=1e-4)
    assert any("RSI" in r for r in rsi.reasons)
    assert ("AAPL", "multi_indicator_fusion", "2025-04-09") in signals
    assert all(s.bar_ts >= CUT for s in signals.values()), "only new bars may emit signals"
    graded = [s for s in signals.values() if not s.technical_only]
    assert graded, "the newest bar's signals are graded with the model"
    for s in graded:
        assert s.model_version and s.model_direction in ("up", "down")
        expected = grading.combine(s.action, s.technical_confidence, s.model_direction, s.model_confidence)
        assert s.combined_confidence == pytest.approx(expected.combined) and s.grade == expected.grade
    model.close()


def test_a_second_run_over_the_same_bars_emits_nothing(db_session):
    load_until(CUT)
    first = run(None)
    assert first.signals.signal_ids
    count = len(signals_by_key(db_session))
    with session_scope() as session:  # a re-run from the cut, as after a restart mid-way
        again = ingest(session, get_provider("replay"), TICKERS, "1d", None, start=CUT, end=END)
    assert again.signals.candidates == first.signals.candidates
    assert again.signals.signal_ids == []
    assert len(signals_by_key(db_session)) == count


def test_signals_recompute_identically_from_their_stored_inputs(client, db_session):
    from tests.helpers import auth_headers

    load_until(CUT)
    run(None)
    headers = auth_headers(client, "ann@example.com")
    ids = [s.id for s in signals_by_key(db_session).values()]
    assert len(ids) >= 5
    for signal_id in ids:
        check = client.get(f"/api/v1/signals/{signal_id}/verify", headers=headers).json()
        assert check["matches"], check
    # Tampering with a stored input is detected.
    signal = db_session.get(Signal, ids[0])
    db_session.execute(
        TechnicalIndicator.__table__.update()
        .where(TechnicalIndicator.ticker == signal.ticker, TechnicalIndicator.ts == signal.bar_ts)
        .values(rsi_14=TechnicalIndicator.rsi_14 + 0.5))
    db_session.commit()
    check = client.get(f"/api/v1/signals/{ids[0]}/verify", headers=headers).json()
    assert check["inputs_hash_matches"] is False and check["matches"] is False


@pytest.mark.parametrize("mode", ["down", "slow", "garbage", "wrong_shape", "error"])
def test_signals_still_flow_technical_only_when_the_model_misbehaves(db_session, mode):
    load_until(CUT)
    fake = MisbehavingModelServer(TICKERS, FEATURE_NAMES, 5, mode if mode != "down" else "ok", delay=2.0)
    with fake.running():
        url = "http://127.0.0.1:9" if mode == "down" else fake.url
        model = client_for(url, timeout=0.5)
        result = run(model)
    assert result.signals.model_status.startswith("unavailable"), result.signals.model_status
    if mode != "down":
        assert "POST /api/predict/batch" in fake.requests  # the call was really made and failed
    signals = signals_by_key(db_session)
    assert signals and all(s.technical_only and s.model_version is None for s in signals.values())
    for s in signals.values():
        assert s.combined_confidence == s.technical_confidence
        assert s.grade == grading.grade_for(s.action, s.technical_confidence)


def test_the_breaker_stops_calling_a_failing_model_server():
    fake = MisbehavingModelServer(TICKERS, ["f1"], 5, "error")
    with fake.running():
        model = client_for(fake.url, failures=2)
        for _ in range(4):
            with pytest.raises(ModelUnavailableError, match=r"HTTP 500|circuit"):
                model.predict_batch([("AAPL", {"f1": 1.0})], "1d", 5)
    # retries=1: two attempts per call until the breaker opens after two failed calls.
    assert len(fake.requests) == 4 and model.breaker.state == CircuitState.OPEN


def test_grading_rule_numbers():
    assert grading.combine("BUY", 0.7, "up", 0.8).combined == pytest.approx((0.42 + 0.32) * 1.2)
    assert grading.combine("BUY", 0.7, "up", 0.8).grade == "STRONG_BUY"
    assert grading.combine("SELL", 0.7, "up", 0.8).combined == pytest.approx((0.42 + 0.32) * 0.8)
    assert grading.combine("SELL", 0.7, "up", 0.8).grade == "HOLD"
    assert grading.combine("SELL", 0.9, "down", 0.9).combined == 1.0
    assert grading.combine("BUY", 0.65, None, None).grade == "BUY"
    assert grading.combine("BUY", 0.85, None, None).grade == "STRONG_BUY"


def test_no_signal_across_an_unfilled_gap(db_session):
    load_until(CUT, ["AAPL"])
    # Remove 2025-03-28 (a trading day): bars after it now follow a gap for every strategy's lookback.
    with session_scope() as session:
        session.execute(delete(PriceBar).where(PriceBar.ticker == "AAPL",
                                               PriceBar.ts == datetime(2025, 3, 28, tzinfo=UTC)))
    result = run(None, tickers=["AAPL"])
    assert result.signals.signal_ids == [] and result.signals.suppressed_by_gap > 0
