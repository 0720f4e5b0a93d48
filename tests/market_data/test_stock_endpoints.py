"""Stock, price, indicator, analysis, screening, correlation and watchlist endpoints on the bundled real data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import talib

from signalhub.core.config import PROJECT_ROOT
from signalhub.core.db import session_scope
from signalhub.market_data import service
from signalhub.market_data.providers import get_provider
from tests.helpers import auth_headers

SEED = PROJECT_ROOT / "database" / "seed" / "daily"
EPOCH = datetime(1990, 1, 1, tzinfo=UTC)


def seed(tickers: list[str], end: datetime | None = None, interval: str = "1d") -> list[dict]:
    """Load bundled history through the real update path (replay provider → bars → indicators)."""
    with session_scope() as session:
        update = service.update_prices(session, get_provider("replay"), tickers, interval, EPOCH, end)
    return [s.as_dict() for s in update.summaries]


def csv(ticker: str, end: str | None = None) -> pd.DataFrame:
    frame = pd.read_csv(SEED / f"{ticker}.csv", parse_dates=["date"])
    return frame[frame["date"] < end] if end else frame


@pytest.fixture
def headers(client):
    return auth_headers(client, "ann@example.com")


def test_prices_paginate_in_range_and_match_the_file(client, headers):
    seed(["AAPL"])
    r = client.get("/api/v1/stocks/AAPL/prices", headers=headers,
                   params={"start": "2025-01-01", "end": "2025-02-01", "limit": 5, "offset": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    expected = csv("AAPL")
    expected = expected[(expected["date"] >= "2025-01-01") & (expected["date"] < "2025-02-01")]
    assert page["total"] == len(expected) == 20
    assert [i["ts"][:10] for i in page["items"]] == [d.strftime("%Y-%m-%d") for d in expected["date"][2:7]]
    assert page["items"][0]["close"] == pytest.approx(expected["close"].iloc[2], rel=1e-12)
    assert page["items"][0]["ts"].endswith(("Z", "+00:00"))


def test_indicators_endpoint_matches_talib_on_real_data(client, headers):
    seed(["MSFT"])
    frame = csv("MSFT")
    close = frame["close"].to_numpy(float)
    rsi = talib.RSI(close, 14)
    macd, signal, _ = talib.MACD(close, 12, 26, 9)
    r = client.get("/api/v1/stocks/MSFT/indicators", headers=headers, params={"limit": 5000})
    items = r.json()["items"]
    assert len(items) == len(frame)
    last = items[-1]
    assert last["ts"][:10] == "2025-08-08"
    assert last["rsi_14"] == pytest.approx(rsi[-1], abs=1e-8)
    assert last["macd"] == pytest.approx(macd[-1], abs=1e-8)
    assert last["macd_signal"] == pytest.approx(signal[-1], abs=1e-8)
    assert items[0]["sma_200"] is None and items[199]["sma_200"] == pytest.approx(close[:200].mean(), rel=1e-10)


def test_incremental_update_gives_the_same_indicators_as_a_full_load(client, headers):
    seed(["NVDA"], end=datetime(2025, 6, 1, tzinfo=UTC))
    summary = seed(["NVDA"])[0]
    assert summary["status"] == "ok"
    close = csv("NVDA")["close"].to_numpy(float)
    items = client.get("/api/v1/stocks/NVDA/indicators", headers=headers, params={"limit": 5000}).json()["items"]
    rsi = talib.RSI(close, 14)
    got = np.array([i["rsi_14"] if i["rsi_14"] is not None else np.nan for i in items])
    assert np.allclose(got[100:], rsi[100:], rtol=0, atol=1e-8)


def test_analysis_reads_the_latest_values(client, headers):
    # 2025-04-08: the close after the April 2025 sell-off, a hand-checked deep oversold day for AAPL.
    seed(["AAPL"], end=datetime(2025, 4, 9, tzinfo=UTC))
    r = client.get("/api/v1/stocks/AAPL/analysis", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    close = csv("AAPL", end="2025-04-09")["close"].to_numpy(float)
    assert body["ts"][:10] == "2025-04-08"
    assert body["close"] == pytest.approx(close[-1])
    assert body["indicators"]["rsi_14"] == pytest.approx(talib.RSI(close, 14)[-1], abs=1e-8)
    assert body["indicators"]["rsi_14"] < 30
    readings = body["readings"]
    assert readings["rsi"] == "oversold"
    assert readings["trend"] == "downtrend"
    upper, _, lower = talib.BBANDS(close, 20, 2, 2, 0)
    assert readings["percent_b"] == pytest.approx((close[-1] - lower[-1]) / (upper[-1] - lower[-1]), abs=1e-9)
    assert "oversold" in readings["summary"]


def test_screens_find_exactly_the_tickers_talib_says(client, headers):
    tickers = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "SPY"]
    end = datetime(2025, 4, 9, tzinfo=UTC)
    seed(tickers, end=end)
    last_rsi = {t: talib.RSI(csv(t, "2025-04-09")["close"].to_numpy(float), 14)[-1] for t in tickers}
    r = client.get("/api/v1/stocks/screen/oversold", headers=headers, params={"rsi_below": 35})
    assert r.status_code == 200
    got = r.json()["items"]
    assert [h["ticker"] for h in got] == sorted((t for t in tickers if last_rsi[t] < 35), key=last_rsi.get)
    assert got, "the April 2025 sell-off must leave some ticker under RSI 35"
    r = client.get("/api/v1/stocks/screen/overbought", headers=headers,
                   params={"rsi_above": 20, "sort": "ticker", "order": "asc"})
    assert [h["ticker"] for h in r.json()["items"]] == sorted(t for t in tickers if last_rsi[t] > 20)
    r = client.get("/api/v1/stocks/screen/oversold", headers=headers, params={"rsi_below": 101})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.rsi_below"
    r = client.get("/api/v1/stocks/screen/oversold", headers=headers, params={"sort": "volume"})
    assert r.status_code == 422


def test_correlation_matrix_matches_pandas(client, headers):
    seed(["AAPL", "MSFT", "005930.KS"])
    r = client.get("/api/v1/stocks/correlation", headers=headers,
                   params={"tickers": "AAPL,MSFT,005930.KS", "start": "2024-01-01", "end": "2025-01-01"})
    assert r.status_code == 200, r.text
    body = r.json()
    closes = {t: csv(t).set_index("date")["close"] for t in ["AAPL", "MSFT", "005930.KS"]}
    joined = pd.DataFrame(closes).loc["2024-01-01":"2024-12-31"].dropna()
    expected = joined.pct_change().dropna().corr()
    assert body["observations"] == len(joined) - 1
    assert body["matrix"]["AAPL"]["MSFT"] == pytest.approx(expected.loc["AAPL", "MSFT"], abs=1e-10)
    assert body["matrix"]["AAPL"]["AAPL"] == pytest.approx(1.0)


def test_unknown_tickers_are_404_naming_them_and_bad_ranges_422(client, headers):
    seed(["AAPL"])
    for path in ("/api/v1/stocks/ZZZZ/prices", "/api/v1/stocks/ZZZZ/indicators", "/api/v1/stocks/ZZZZ/analysis"):
        r = client.get(path, headers=headers)
        assert r.status_code == 404 and "ZZZZ" in r.json()["error"]["message"], path
    r = client.get("/api/v1/stocks/correlation", headers=headers, params={"tickers": "AAPL,QQQQ"})
    assert r.status_code == 404 and "QQQQ" in r.json()["error"]["message"]
    r = client.get("/api/v1/stocks/AAPL/prices", headers=headers,
                   params={"start": "2025-02-01", "end": "2025-01-01"})
    assert r.status_code == 422 and "start" in r.json()["error"]["message"]
    r = client.get("/api/v1/stocks/AAPL/prices", headers=headers, params={"start": "yesterday"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.start"
    r = client.get("/api/v1/stocks/AAPL/prices", headers=headers, params={"interval": "7m"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.interval"
    r = client.get("/api/v1/stocks/AAPL/prices", headers=headers, params={"limit": 0})
    assert r.status_code == 422
    assert client.get("/api/v1/stocks/AAPL/prices").status_code == 401


def test_watchlist_is_per_user(client, headers):
    seed(["AAPL", "MSFT"])
    bob = auth_headers(client, "bob@example.com")
    assert client.post("/api/v1/stocks/watchlist", headers=headers, json={"ticker": "aapl"}).status_code == 201
    r = client.post("/api/v1/stocks/watchlist", headers=headers, json={"ticker": "AAPL"})
    assert r.status_code == 409
    r = client.post("/api/v1/stocks/watchlist", headers=headers, json={"ticker": "NOPE"})
    assert r.status_code == 404 and "NOPE" in r.json()["error"]["message"]
    assert client.post("/api/v1/stocks/watchlist", headers=bob, json={"ticker": "MSFT"}).status_code == 201
    assert [e["ticker"] for e in client.get("/api/v1/stocks/watchlist", headers=headers).json()] == ["AAPL"]
    assert [e["ticker"] for e in client.get("/api/v1/stocks/watchlist", headers=bob).json()] == ["MSFT"]
    # Bob cannot remove Ann's entry: for him it does not exist.
    assert client.delete("/api/v1/stocks/watchlist/AAPL", headers=bob).status_code == 404
    assert client.delete("/api/v1/stocks/watchlist/AAPL", headers=headers).status_code == 204
    assert client.get("/api/v1/stocks/watchlist", headers=headers).json() == []


def test_update_is_queued_and_only_its_owner_sees_the_task(client, headers):
    r = client.post("/api/v1/stocks/update/aapl", headers=headers)
    assert r.status_code == 202, r.text
    task_id = r.json()["task_id"]
    status = client.get(f"/api/v1/tasks/{task_id}", headers=headers).json()
    assert status["state"] == "PENDING" and status["params"]["tickers"] == ["AAPL"]
    bob = auth_headers(client, "bob@example.com")
    assert client.get(f"/api/v1/tasks/{task_id}", headers=bob).status_code == 404
    r = client.post("/api/v1/stocks/update-batch", headers=headers, json={"tickers": []})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "body.tickers"
    r = client.post("/api/v1/stocks/update/$$$", headers=headers)
    assert r.status_code == 422 and "$$$" in r.json()["error"]["message"]


def test_quality_reports_real_gaps_and_staleness(client, headers):
    seed(["000660.KS"], end=datetime(1999, 1, 1, tzinfo=UTC))
    r = client.get("/api/v1/stocks/000660.KS/quality", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    # The bundled SK hynix file misses whole blocks of 1997-98 sessions (e.g. 10 from 1998-01-05).
    assert body["missing_runs"] >= 6
    assert any(g["start"][:10] == "1998-01-05" and g["count"] == 10 for g in body["missing"])
    assert body["freshness"]["stale"] is True  # history ends in 1998; "now" is long after
    r = client.get("/api/v1/stocks/000660.KS/quality", headers=headers, params={"interval": "1m"})
    assert r.json()["bars"] == 0 and r.json()["freshness"]["stale"] is True


def test_freshness_task_flags_stale_series(client):
    from signalhub.market_data import tasks

    seed(["AAPL"])  # last bar 2025-08-08 (a Friday)
    fresh = tasks.check_freshness.apply(args=("XNYS", "2025-08-09T15:00:00+00:00")).get()
    assert fresh["stale"]["1d"] == []  # Saturday: the Friday bar is the newest expected
    late = tasks.check_freshness.apply(args=("XNYS", "2025-08-13T15:00:00+00:00")).get()
    assert [row["ticker"] for row in late["stale"]["1d"]] == ["AAPL"]
    assert late["stale"]["1d"][0]["overdue_since"].startswith("2025-08-11T20:00")
