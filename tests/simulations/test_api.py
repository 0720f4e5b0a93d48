"""Simulation endpoints on the bundled real data, run by the real Celery task on a real worker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import select

from signalhub.models import Simulation, User
from signalhub.simulations import service, tasks
from signalhub.simulations.schemas import SimulationRequest
from signalhub.worker import celery_app
from tests.helpers import auth_headers
from tests.market_data.test_stock_endpoints import seed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUEST = {"strategy": "rsi_reversal", "params": {"oversold": 35.0}, "tickers": ["aapl", "MSFT"],
           "start": "2022-01-01", "end": "2025-06-30", "initial_capital": 20000, "slippage_bps": 5}


@pytest.fixture
def headers(client):
    seed(["AAPL", "MSFT", "005930.KS"])
    return auth_headers(client, "ann@example.com")


def _wait(client, headers, simulation_id: int) -> dict:
    deadline = time.monotonic() + 120
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/simulations/{simulation_id}", headers=headers).json()
        if body["status"] in ("SUCCEEDED", "FAILED"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"simulation {simulation_id} did not finish: {body}")


def test_run_on_a_worker_then_list_get_and_chart(client, headers, db_session):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        first = client.post("/api/v1/simulations/run", headers=headers, json=REQUEST)
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "QUEUED"
        done = _wait(client, headers, first.json()["id"])
        second = client.post("/api/v1/simulations/run", headers=headers,
                             json={**REQUEST, "strategy": "ma_cross", "params": {}})
        _wait(client, headers, second.json()["id"])
    assert done["status"] == "SUCCEEDED", done
    assert done["request"]["tickers"] == ["AAPL", "MSFT"]
    assert done["request"]["params"]["oversold"] == 35.0 and done["request"]["params"]["overbought"] == 70.0
    results = done["results"]
    assert results["currency"] == "USD"
    m = results["metrics"]
    assert m["trades"] == len(results["trades"]) > 0
    assert m["final_equity"] == pytest.approx(results["equity_curve"][-1]["equity"])
    assert m["total_return"] == pytest.approx(m["final_equity"] / 20000 - 1)
    assert min(p["drawdown"] for p in results["equity_curve"]) == pytest.approx(m["max_drawdown"])
    assert results["benchmark"]["final_equity"] == pytest.approx(results["equity_curve"][-1]["benchmark_equity"])
    assert results["equity_curve"][0]["date"] == "2022-01-03" and results["equity_curve"][-1]["date"] <= "2025-06-30"
    assert all(t["entry_date"] < t["exit_date"] for t in results["trades"])
    assert results["assumptions"]["sell_tax_bps"] == {"AAPL": 0.0, "MSFT": 0.0}

    # The worker's results are the same computation the service does on the stored request.
    stored = db_session.get(Simulation, done["id"])
    assert service.compute(db_session, stored.request) == stored.results

    listed = client.get("/api/v1/simulations/", headers=headers).json()
    assert [s["id"] for s in listed] == [second.json()["id"], done["id"]]

    chart = client.get(done["chart_url"], headers=headers)
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(PNG_SIGNATURE) and len(chart.content) > 10_000


def test_a_redelivered_task_for_a_finished_simulation_does_nothing(headers, db_session):
    data = SimulationRequest.model_validate({**REQUEST, "strategy": "macd_cross", "params": {}})
    simulation = service.run_simulation_sync(db_session, db_session.scalar(select(User.id)), data)
    db_session.commit()
    assert simulation.status == "SUCCEEDED" and simulation.results["metrics"]["trades"] > 0
    finished_at = simulation.finished_at
    again = tasks.run_simulation.apply(args=(simulation.id,)).get()
    assert again == {"id": simulation.id, "status": "SUCCEEDED", "skipped": True}
    db_session.expire_all()
    assert db_session.get(Simulation, simulation.id).finished_at == finished_at


def test_korean_tickers_pay_the_krx_sell_tax_by_default(headers, db_session):
    owner = db_session.scalar(select(User))
    data = SimulationRequest(strategy="rsi_reversal", tickers=["005930.KS"], start="2021-01-01", end="2025-06-30",
                             initial_capital=10_000_000)
    simulation = service.run_simulation_sync(db_session, owner.id, data)
    assert simulation.status == "SUCCEEDED"
    assert simulation.results["currency"] == "KRW"
    assert simulation.results["assumptions"]["sell_tax_bps"] == {"005930.KS": 15.0}
    for trade in simulation.results["trades"]:
        value_in, value_out = trade["qty"] * trade["entry_price"], trade["qty"] * trade["exit_price"]
        assert trade["fees"] == pytest.approx(value_in * 0.00015 + value_out * (0.00015 + 0.0015))


@pytest.mark.parametrize(("change", "field"), [
    ({"strategy": "nope"}, "strategy"),
    ({"params": {"oversold": "low"}}, "params"),
    ({"params": {"bogus": 1}}, "params"),
    ({"tickers": ["ZZZZ"]}, "tickers"),
    ({"tickers": ["bad ticker!"]}, "tickers"),
    ({"tickers": []}, "tickers"),
    ({"tickers": ["AAPL", "005930.KS"]}, "tickers"),
    ({"start": "2025-06-30", "end": "2025-01-01"}, "end"),
    ({"start": "2030-01-01", "end": "2030-06-01"}, "tickers"),
    ({"initial_capital": 0}, "initial_capital"),
    ({"commission_bps": -1}, "commission_bps"),
    ({"slippage_bps": 5000}, "slippage_bps"),
    ({"sizing": "fixed_fraction"}, "fraction"),
    ({"sizing": "fixed_amount"}, "amount"),
    ({"sizing": "martingale"}, "sizing"),
    ({"fraction": 1.5}, "fraction"),
    ({"surprise": True}, "surprise"),
])
def test_bad_requests_are_422_naming_the_field(client, headers, change, field):
    r = client.post("/api/v1/simulations/run", headers=headers, json={**REQUEST, **change})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    named = [d["field"] for d in error["details"]] + [error["message"]]
    assert any(field in n for n in named), error


def test_other_users_simulations_are_404(client, headers, db_session):
    owner = db_session.scalar(select(User))
    data = SimulationRequest.model_validate({**REQUEST, "tickers": ["AAPL"], "start": "2025-01-01"})
    simulation = service.run_simulation_sync(db_session, owner.id, data)
    db_session.commit()
    other = auth_headers(client, "bob@example.com")
    assert client.get(f"/api/v1/simulations/{simulation.id}", headers=other).status_code == 404
    assert client.get(f"/api/v1/simulations/{simulation.id}/chart.png", headers=other).status_code == 404
    assert client.get("/api/v1/simulations/", headers=other).json() == []
    assert client.get(f"/api/v1/simulations/{simulation.id}", headers=headers).status_code == 200
    assert client.get("/api/v1/simulations/", headers={}).status_code == 401
