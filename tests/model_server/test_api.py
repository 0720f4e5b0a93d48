"""The model server over real HTTP, on the shipped artifact and on broken ones."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from model_server.dataset import load_bundled_bars, load_seed_bars, seed_files
from model_server.features import FEATURE_NAMES, latest_features
from model_server.model import DEFAULT_ARTIFACT_DIR, METADATA_FILE, MODEL_FILE, TrainedModel

SHIPPED_META = json.loads((DEFAULT_ARTIFACT_DIR / METADATA_FILE).read_text())


@pytest.fixture(scope="module")
def latest() -> dict[str, dict[str, float]]:
    """Features of the newest bar of every bundled seed ticker, built as the platform builds them."""
    rows = latest_features(load_seed_bars())
    return {ticker: {k: float(row[k]) for k in FEATURE_NAMES} for ticker, row in rows.iterrows()}


def _item(symbol: str, features: dict[str, float], **overrides) -> dict:
    return {"symbol": symbol, "timeframe": "1d", "features": features, "prediction_horizon": 5} | overrides


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["status"] == status and body["code"] and body["message"]
    return body


def _fields(body: dict) -> dict[str, str]:
    return {d["field"]: d["type"] for d in body["details"]}


def test_health_and_model_info(shipped):
    health = shipped.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "model_version": SHIPPED_META["model_version"], "loaded": True}

    info = shipped.get("/model").json()
    assert info["model_version"] == SHIPPED_META["model_version"]
    assert info["horizon"] == 5 and info["timeframe"] == "1d"
    assert info["features"] == FEATURE_NAMES
    assert info["training_window"]["first_ts"] < info["training_window"]["last_ts"]
    assert info["symbol_count"] == len(info["symbols"]) > 500
    overall = info["metrics"]["overall"]
    assert 0.4 < overall["accuracy"] < 0.7
    assert set(overall["baselines"]) == {"always_up", "last_bar_direction", "last_horizon_direction",
                                         "train_majority"}
    assert len(info["metrics"]["folds"]) >= 5
    assert "AAPL" in info["metrics"]["per_ticker"] and "005930.KS" in info["metrics"]["per_ticker"]


def test_predict_one_from_real_series(shipped, latest):
    response = shipped.post("/api/predict", json=_item("AAPL", latest["AAPL"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["symbol"] == "AAPL" and body["horizon"] == 5
    assert body["direction"] in ("up", "down") and 0.5 <= body["confidence"] <= 1.0
    assert math.isfinite(body["predicted_return"]) and abs(body["predicted_return"]) < 0.3
    assert body["model_version"] == SHIPPED_META["model_version"]

    # The HTTP answer is exactly the model's own answer.
    model = TrainedModel.load(DEFAULT_ARTIFACT_DIR)
    out = model.predict(np.array([[latest["AAPL"][n] for n in FEATURE_NAMES]]))
    assert body["direction"] == ("up" if out.up[0] else "down")
    assert body["confidence"] == pytest.approx(float(out.confidence[0]))
    assert body["predicted_return"] == pytest.approx(float(out.predicted_return[0]))

    lower = shipped.post("/api/predict", json=_item("005930.ks", latest["005930.KS"]))
    assert lower.status_code == 200 and lower.json()["symbol"] == "005930.KS"


def test_batch_of_the_whole_universe_is_fast_and_ordered(shipped):
    rows = latest_features(load_bundled_bars())
    items = [_item(ticker, {k: float(row[k]) for k in FEATURE_NAMES}) for ticker, row in rows.iterrows()]
    assert len(items) >= 500
    shipped.post("/api/predict/batch", json={"items": items[:5]})  # warm up
    started = time.perf_counter()
    response = shipped.post("/api/predict/batch", json={"items": items})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == SHIPPED_META["model_version"]
    assert [p["symbol"] for p in body["predictions"]] == [i["symbol"] for i in items]
    assert all(0.5 <= p["confidence"] <= 1 and p["direction"] in ("up", "down") for p in body["predictions"])
    # Generous bound for a loaded CI box; on an idle machine the round trip is ~20-40 ms.
    assert elapsed < 1.0, f"batch of {len(items)} took {elapsed * 1000:.0f} ms"


def test_batch_bounds_and_item_errors(shipped, latest):
    good = _item("MSFT", latest["MSFT"])
    body = _error(shipped.post("/api/predict/batch", json={"items": []}), 422)
    assert "items" in _fields(body)
    body = _error(shipped.post("/api/predict/batch", json={"items": [good] * 1001}), 422)
    assert "items" in _fields(body)

    bad = _item("NOPE", latest["MSFT"], timeframe="1h")
    body = _error(shipped.post("/api/predict/batch", json={"items": [good, bad]}), 422)
    assert _fields(body) == {"items.1.symbol": "unknown_symbol", "items.1.timeframe": "unsupported_timeframe"}


@pytest.mark.parametrize(("change", "field", "kind"), [
    ({"timeframe": "1h"}, "timeframe", "unsupported_timeframe"),
    ({"symbol": "ZZZZ"}, "symbol", "unknown_symbol"),
    ({"prediction_horizon": 0}, "prediction_horizon", "greater_than"),
    ({"prediction_horizon": -3}, "prediction_horizon", "greater_than"),
    ({"prediction_horizon": 10}, "prediction_horizon", "unsupported_horizon"),
    ({"prediction_horizon": "soon"}, "prediction_horizon", "int_parsing"),
    ({"surprise": 1}, "surprise", "extra_forbidden"),
])
def test_bad_request_fields_are_named(shipped, latest, change, field, kind):
    body = _error(shipped.post("/api/predict", json=_item("AAPL", latest["AAPL"]) | change), 422)
    assert _fields(body) == {field: kind}
    assert field in body["message"]
    if kind == "unsupported_horizon":
        assert "5 bars" in body["details"][0]["message"]
    if kind == "unsupported_timeframe":
        assert "'1d'" in body["details"][0]["message"]


def test_missing_and_unknown_features_are_named(shipped, latest):
    features = dict(latest["AAPL"])
    del features["rsi_14"], features["ret_20"]
    features["sentiment"] = 0.3
    body = _error(shipped.post("/api/predict", json=_item("AAPL", features)), 422)
    assert _fields(body) == {"features.rsi_14": "missing_feature", "features.ret_20": "missing_feature",
                             "features.sentiment": "unknown_feature"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_features_are_rejected(shipped, latest, literal):
    # Python's json.dumps writes these literals by default, so a careless client can send them.
    raw = json.dumps(_item("AAPL", latest["AAPL"])).replace(
        f'"ret_1": {latest["AAPL"]["ret_1"]!r}', f'"ret_1": {literal}')
    assert literal in raw
    response = shipped.post("/api/predict", content=raw, headers={"content-type": "application/json"})
    body = _error(response, 422)
    assert _fields(body) == {"features.ret_1": "non_finite"}


def test_wrongly_typed_and_missing_fields(shipped, latest):
    features = dict(latest["AAPL"]) | {"ret_1": "big"}
    body = _error(shipped.post("/api/predict", json=_item("AAPL", features)), 422)
    assert "features.ret_1" in _fields(body)
    body = _error(shipped.post("/api/predict", json={"timeframe": "1d", "features": {}, "prediction_horizon": 5}),
                  422)
    assert "symbol" in _fields(body)
    body = _error(shipped.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"}),
                  422)
    assert body["code"] == "validation_error"
    _error(shipped.get("/api/nothing-here"), 404)


def test_missing_artifact_starts_but_is_not_ready(server_on, tmp_path, latest):
    client = server_on(tmp_path / "empty")
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["loaded"] is False and health.json()["status"] == "unavailable"
    assert "does not exist" in health.json()["error"]
    body = _error(client.post("/api/predict", json=_item("AAPL", latest["AAPL"])), 503)
    assert body["code"] == "model_unavailable" and "does not exist" in body["message"]
    assert _error(client.post("/api/predict/batch", json={"items": [_item("AAPL", {})]}), 503)
    assert _error(client.get("/model"), 503)


def test_corrupt_or_mismatched_artifact_is_not_ready(server_on, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    shutil.copy(DEFAULT_ARTIFACT_DIR / METADATA_FILE, corrupt / METADATA_FILE)
    (corrupt / MODEL_FILE).write_bytes((DEFAULT_ARTIFACT_DIR / MODEL_FILE).read_bytes()[:200])
    health = server_on(corrupt).get("/health")
    assert health.status_code == 503 and "cannot be loaded" in health.json()["error"]

    mismatched = tmp_path / "mismatched"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, mismatched)
    meta = json.loads((mismatched / METADATA_FILE).read_text()) | {"model_version": "v0-other"}
    (mismatched / METADATA_FILE).write_text(json.dumps(meta))
    health = server_on(mismatched).get("/health")
    assert health.status_code == 503 and "different models" in health.json()["error"]

    garbled = tmp_path / "garbled"
    shutil.copytree(DEFAULT_ARTIFACT_DIR, garbled)
    (garbled / METADATA_FILE).write_text("{")
    assert server_on(garbled).get("/health").status_code == 503


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_documented_uvicorn_command_serves(tmp_path):
    """`uvicorn model_server.main:app --port N` as an operator runs it, from any directory."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MODEL_ARTIFACT_DIR"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "uvicorn"), "model_server.main:app",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["loaded"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_every_bundled_ticker_is_served(latest):
    """The platform's seed tickers all have complete features and are symbols the model knows."""
    assert set(latest) == {p.stem for p in seed_files()}
    assert set(latest) <= set(SHIPPED_META["symbols"])
