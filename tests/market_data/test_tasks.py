"""Market-data Celery tasks on a real worker: queued updates, daily close, intraday polling."""

from __future__ import annotations

import time

from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select

from signalhub.market_data import tasks
from signalhub.models import PriceBar, TechnicalIndicator
from signalhub.worker import celery_app
from tests.helpers import auth_headers
from tests.market_data.test_stock_endpoints import seed


def _wait(client, headers, task_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/api/v1/tasks/{task_id}", headers=headers).json()
        if status["state"] in ("SUCCESS", "FAILURE"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish: {status}")


def test_queued_batch_update_runs_on_a_worker_and_reports_each_ticker(client, db_session):
    headers = auth_headers(client, "ann@example.com")
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        r = client.post("/api/v1/stocks/update-batch", headers=headers,
                        json={"tickers": ["AAPL", "000660.KS", "NOPE"], "start": "2025-01-01T00:00:00Z"})
        assert r.status_code == 202
        status = _wait(client, headers, r.json()["task_id"])
    assert status["state"] == "SUCCESS", status
    by_ticker = {s["ticker"]: s for s in status["result"]["updated"]}
    assert by_ticker["AAPL"]["status"] == "ok" and by_ticker["AAPL"]["bars_stored"] > 100
    assert by_ticker["000660.KS"]["status"] == "ok"
    assert by_ticker["NOPE"]["status"] == "unknown_ticker"
    stored = db_session.scalar(select(func.count()).select_from(PriceBar).where(PriceBar.ticker == "AAPL"))
    assert stored == by_ticker["AAPL"]["bars_stored"]
    assert db_session.scalar(select(func.count()).select_from(TechnicalIndicator)
                             .where(TechnicalIndicator.ticker == "AAPL")) == stored


def test_daily_close_skips_holidays_and_is_idempotent(db_session):
    seed(["005930.KS"])
    # 2025-06-03 was a KRX holiday (presidential election).
    result = tasks.daily_close_update.apply(args=("XKRX", "2025-06-03T07:00:00+00:00")).get()
    assert "not a XKRX session" in result["skipped"]
    count = db_session.scalar(select(func.count()).select_from(PriceBar))
    first = tasks.daily_close_update.apply(args=("XKRX", "2025-06-17T07:00:00+00:00")).get()
    second = tasks.daily_close_update.apply(args=("XKRX", "2025-06-17T07:00:00+00:00")).get()
    assert first["updated"][0]["status"] == second["updated"][0]["status"] == "ok"
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(PriceBar)) == count


def test_intraday_poll_only_while_the_market_is_open(client):
    assert tasks.poll_intraday.apply(args=("XNYS", "2024-10-05T15:00:00+00:00")).get()["skipped"] == "market closed"
    result = tasks.poll_intraday.apply(args=("XNYS", "2024-10-02T15:00:00+00:00")).get()
    assert result["updated"] == []  # nobody watches anything yet
