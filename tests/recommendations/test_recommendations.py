"""Recommendations and patterns on real bundled data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import talib
from sqlalchemy import select

from signalhub.models import Signal, TechnicalIndicator
from tests.helpers import auth_headers
from tests.market_data.test_stock_endpoints import csv, seed
from tests.signals.test_pipeline import CUT, load_until, run


@pytest.fixture
def headers(client):
    return auth_headers(client, "ann@example.com")


def test_recommendations_follow_the_latest_signals_with_atr_targets(client, headers, db_session):
    load_until(CUT)
    run(None)
    r = client.get("/api/v1/ai/recommendations", headers=headers)
    assert r.status_code == 200, r.text
    recs = r.json()
    assert recs
    confidences = [x["confidence"] for x in recs]
    assert confidences == sorted(confidences, reverse=True)
    for rec in recs:
        lead = db_session.get(Signal, rec["signal_id"])
        assert rec["action"] == lead.action and rec["confidence"] == pytest.approx(lead.combined_confidence * 100,
                                                                                   abs=0.05)
        atr = db_session.scalar(select(TechnicalIndicator.atr_14).where(
            TechnicalIndicator.ticker == lead.ticker, TechnicalIndicator.ts == lead.bar_ts))
        sign = 1 if lead.action == "BUY" else -1
        assert rec["target_price"] == pytest.approx(lead.price + sign * 2 * atr)
        assert rec["stop_price"] == pytest.approx(lead.price - sign * atr)
        newer = db_session.scalars(select(Signal).where(Signal.ticker == lead.ticker, Signal.bar_ts > lead.bar_ts,
                                                        Signal.grade != "HOLD")).all()
        assert newer == []
    only_buys = client.get("/api/v1/ai/recommendations", headers=headers,
                           params={"action": "BUY", "min_confidence": 60}).json()
    assert all(x["action"] == "BUY" and x["confidence"] >= 60 for x in only_buys)
    r = client.get("/api/v1/ai/recommendations", headers=headers, params={"min_confidence": 101})
    assert r.status_code == 422


def test_oversold_cluster_after_the_april_2025_selloff(client, headers):
    tickers = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "SPY"]
    seed(tickers, end=datetime(2025, 4, 9, tzinfo=UTC))
    rsi = {t: talib.RSI(csv(t, "2025-04-09")["close"].to_numpy(float), 14)[-1] for t in tickers}
    expected = sorted(t for t in tickers if rsi[t] < 30)
    # Hand-checked: RSI(14) on 2025-04-08 was AAPL 20.04, SPY 21.42, MSFT 27.58, GOOGL 28.49, AMZN 29.74.
    assert expected == ["AAPL", "AMZN", "GOOGL", "MSFT", "SPY"]
    r = client.get("/api/v1/ai/patterns", headers=headers, params={"kind": "oversold_cluster"})
    assert r.status_code == 200
    patterns = r.json()
    assert [p["tickers"] for p in patterns] == [expected]
    assert patterns[0]["confidence"] == pytest.approx(100 * 5 / 7, abs=0.05)
    assert patterns[0]["details"]["exchange"] == "XNYS"
    r = client.get("/api/v1/ai/patterns", headers=headers, params={"kind": "nonsense"})
    assert r.status_code == 422


def test_band_squeeze_matches_a_direct_computation(client, headers):
    seed(["AAPL", "MSFT", "SPY"], end=datetime(2024, 1, 1, tzinfo=UTC))
    found = {t for p in client.get("/api/v1/ai/patterns", headers=headers, params={"kind": "band_squeeze"}).json()
             for t in p["tickers"]}
    for ticker in ["AAPL", "MSFT", "SPY"]:
        close = csv(ticker, "2024-01-01")["close"].to_numpy(float)
        upper, middle, lower = talib.BBANDS(close, 20, 2, 2, 0)
        width = ((upper - lower) / middle)[-121:]
        rank = (width < width[-1]).mean()
        assert (ticker in found) == (rank <= 0.10), (ticker, rank)
