"""Training: a quick real walk-forward run through the CLI, and the honesty of the shipped artifact's metrics."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from model_server.dataset import SP500_PATH, load_seed_bars, seed_files
from model_server.features import FEATURE_NAMES, build_features
from model_server.model import DEFAULT_ARTIFACT_DIR, METADATA_FILE, MODEL_FILE, TrainedModel
from model_server.train import calendar_windows
from signalhub.cli_model import app

BUNDLED = sorted(p.stem for p in seed_files())
BASELINES = {"always_up", "last_bar_direction", "last_horizon_direction", "train_majority"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("artifact")
    result = CliRunner().invoke(app, ["--quick", "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def _check_honest_validation(meta: dict) -> None:
    """Scores exist for model and baselines, on test rows strictly after every training label."""
    v = meta["validation"]
    horizon = meta["horizon"]
    assert v["embargo_bars"] == horizon
    folds = v["folds"]
    assert len(folds) >= 4
    for fold in folds:
        assert fold["train_last_ts"] < fold["train_last_label_end_ts"] < fold["test_first_ts"] <= fold["test_last_ts"]
        assert set(fold["baselines"]) == BASELINES
        assert 0 < fold["accuracy"] < 1 and fold["rows"] > 0 and fold["train_rows"] > 0
    for before, after in pairwise(folds):
        assert before["test_last_ts"] < after["test_first_ts"]
        assert before["train_rows"] <= after["train_rows"]  # expanding window
    overall = v["overall"]
    assert overall["rows"] == sum(f["rows"] for f in folds)
    weighted = sum(f["accuracy"] * f["rows"] for f in folds) / overall["rows"]
    assert overall["accuracy"] == pytest.approx(weighted)
    always_up = sum(f["baselines"]["always_up"] * f["rows"] for f in folds) / overall["rows"]
    assert overall["baselines"]["always_up"] == pytest.approx(always_up) == pytest.approx(overall["up_rate"])
    assert set(v["per_ticker"]) == set(BUNDLED)
    assert all(set(s["baselines"]) == BASELINES for s in v["per_ticker"].values())
    assert meta["training_window"]["last_label_end_ts"] > folds[-1]["test_first_ts"]
    assert re.fullmatch(r"v1-\d{8}-[0-9a-f]{8}", meta["model_version"])
    assert meta["model_version"][3:11] == meta["training_window"]["last_ts"].replace("-", "")
    assert {"python", "scikit-learn", "numpy", "pandas", "joblib"} <= set(meta["libraries"])


def test_quick_run_prints_metrics_and_writes_a_servable_artifact(quick_run, server_on):
    out, output = quick_run
    assert "out-of-sample directional accuracy" in output and "ALL" in output and "AAPL" in output
    meta = json.loads((out / METADATA_FILE).read_text())
    assert meta["data"]["quick_subset"] is True and meta["features"] == FEATURE_NAMES
    _check_honest_validation(meta)

    bars = load_seed_bars()
    bars = bars[bars["ticker"] == "NVDA"].reset_index(drop=True)
    features = build_features(bars).iloc[-1].to_dict()
    model = TrainedModel.load(out)
    expected = model.predict(np.array([[features[n] for n in FEATURE_NAMES]]))

    client = server_on(out)
    assert client.get("/health").json()["model_version"] == meta["model_version"]
    response = client.post("/api/predict", json={"symbol": "NVDA", "timeframe": "1d", "features": features,
                                                 "prediction_horizon": 5})
    assert response.status_code == 200, response.text
    assert response.json()["confidence"] == pytest.approx(float(expected.confidence[0]))
    assert response.json()["model_version"] == meta["model_version"]


def test_shipped_artifact_is_small_and_its_metrics_are_out_of_sample():
    assert (DEFAULT_ARTIFACT_DIR / MODEL_FILE).stat().st_size < 5 * 1024 * 1024
    meta = json.loads((DEFAULT_ARTIFACT_DIR / METADATA_FILE).read_text())
    assert meta["horizon"] == 5 and meta["timeframe"] == "1d" and meta["features"] == FEATURE_NAMES
    assert meta["data"]["quick_subset"] is False and len(meta["symbols"]) > 500
    _check_honest_validation(meta)
    TrainedModel.load(DEFAULT_ARTIFACT_DIR)


def test_fold_purge_holds_against_the_real_calendar():
    """Between the last training bar and the first test bar lie at least `horizon` real US sessions."""
    meta = json.loads((DEFAULT_ARTIFACT_DIR / METADATA_FILE).read_text())
    spy = pd.read_csv(seed_files()[0].parent / "SPY.csv", usecols=["date"])["date"]
    sp500 = pd.read_csv(SP500_PATH, usecols=["date"])["date"]
    sessions = pd.to_datetime(pd.concat([spy, sp500]).drop_duplicates())
    for fold in meta["validation"]["folds"]:
        last_train, first_test = pd.Timestamp(fold["train_last_ts"]), pd.Timestamp(fold["test_first_ts"])
        between = ((sessions > last_train) & (sessions < first_test)).sum()
        assert between >= meta["horizon"], fold


def test_calendar_windows_cover_the_data_without_overlap():
    windows = calendar_windows("2020-01-01", 6, pd.Timestamp("2021-08-03"))
    assert [(s.date().isoformat(), e.date().isoformat()) for s, e in windows] == [
        ("2020-01-01", "2020-07-01"), ("2020-07-01", "2021-01-01"), ("2021-01-01", "2021-07-01"),
        ("2021-07-01", "2022-01-01")]


def test_cli_rejects_an_unknown_model_kind(tmp_path):
    result = CliRunner().invoke(app, ["--model", "deepnet", "--output", str(tmp_path)])
    assert result.exit_code != 0 and "--model" in result.output
    assert not (tmp_path / MODEL_FILE).exists()
