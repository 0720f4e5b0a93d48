"""Signal endpoints, prediction tracking and accuracy, over HTTP on real bundled data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from signalhub.core.db import session_scope
from signalhub.models import Prediction, Signal
from signalhub.signals import service
from tests.helpers import auth_headers
from tests.signals.test_pipeline import CUT, END, TICKERS, client_for, load_until, model_url, run  # noqa: F401


@pytest.fixture
def headers(client):
    return auth_headers(client, "ann@example.com")


def test_list_filter_and_read_signals(client, headers, db_session):
    load_until(CUT)
    run(None)
    stored = list(db_session.scalars(select(Signal)))
    r = client.get("/api/v1/signals", headers=headers, params={"limit": 1000})
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == len(stored)
    bar_times = [item["bar_ts"] for item in page["items"]]
    assert bar_times == sorted(bar_times, reverse=True)

    r = client.get("/api/v1/signals", headers=headers,
                   params={"ticker": "aapl", "strategy": "rsi_reversal", "start": "2025-04-04", "end": "2025-04-05"})
    items = r.json()["items"]
    assert [(i["ticker"], i["strategy"], i["bar_ts"][:10]) for i in items] == [("AAPL", "rsi_reversal", "2025-04-04")]
    grades = {s.grade for s in stored}
    some = sorted(grades)[0]
    r = client.get("/api/v1/signals", headers=headers, params={"grade": some, "limit": 1000})
    assert r.json()["total"] == sum(1 for s in stored if s.grade == some)

    one = client.get(f"/api/v1/signals/{items[0]['id']}", headers=headers).json()
    assert one["reasons"] and one["params_hash"] and one["inputs_hash"]
    assert client.get("/api/v1/signals/999999", headers=headers).status_code == 404


def test_signal_filters_reject_bad_input_naming_it(client, headers):
    r = client.get("/api/v1/signals", headers=headers, params={"grade": "AMAZING"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].startswith("query.grade")
    r = client.get("/api/v1/signals", headers=headers, params={"strategy": "astrology"})
    assert r.status_code == 422 and "astrology" in r.json()["error"]["message"]
    r = client.get("/api/v1/signals", headers=headers, params={"start": "2025-05-01", "end": "2025-04-01"})
    assert r.status_code == 422
    assert client.get("/api/v1/signals").status_code == 401


def test_predictions_are_tracked_and_resolved_into_accuracy(client, headers, db_session, model_url):  # noqa: F811
    load_until(CUT)
    model = client_for(model_url)
    run(model)
    predictions = list(db_session.scalars(select(Prediction)))
    assert predictions and all(p.resolved_at is None for p in predictions)
    # Nothing resolves before the horizon has passed...
    with session_scope() as session:
        assert service.resolve_predictions(session) == 0
    # ...and once five more sessions exist, each prediction is checked against the real close.
    run(model, end=datetime(2025, 4, 25, tzinfo=UTC))
    model.close()
    with session_scope() as session:
        resolved = service.resolve_predictions(session)
        assert resolved >= len(predictions)
        assert service.resolve_predictions(session) == 0  # idempotent
    db_session.expire_all()
    first = db_session.get(Prediction, predictions[0].id)
    assert first.actual_return is not None and first.correct == (
        (first.actual_return > 0) if first.direction == "up" else (first.actual_return < 0))

    report = client.get("/api/v1/ai/predictions/accuracy", headers=headers).json()
    row = report["rows"][0]
    resolved_rows = [p for p in db_session.scalars(select(Prediction)) if p.resolved_at is not None]
    assert row["predictions"] == len(resolved_rows)
    assert row["correct"] == sum(p.correct for p in resolved_rows)
    by_ticker = client.get("/api/v1/ai/predictions/accuracy", headers=headers, params={"by": "ticker"}).json()
    assert {r["key"] for r in by_ticker["rows"]} <= set(TICKERS)
