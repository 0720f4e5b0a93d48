"""Model features on real bundled series: no look-ahead, per-ticker independence, scale-freeness, definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from model_server.dataset import load_seed_bars
from model_server.features import (
    FEATURE_NAMES,
    MIN_BARS,
    RECOMMENDED_BARS,
    build_features,
    build_labels,
    latest_features,
)

TICKERS = ["AAPL", "005930.KS", "TSLA"]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    seed = load_seed_bars()
    # Recent years keep the test quick while every ticker still has well over MIN_BARS bars.
    recent = seed[(seed["ticker"].isin(TICKERS)) & (seed["ts"] >= "2019-01-01")]
    return recent.reset_index(drop=True)


def _one(bars: pd.DataFrame, ticker: str) -> pd.DataFrame:
    return bars[bars["ticker"] == ticker].reset_index(drop=True)


def test_columns_index_and_warm_up(bars):
    features = build_features(bars)
    assert list(features.columns) == FEATURE_NAMES
    assert features.index.equals(bars.index)
    for ticker in TICKERS:
        rows = features[bars["ticker"] == ticker]
        assert rows.iloc[: MIN_BARS - 1].isna().any(axis=1).all()
        assert rows.iloc[MIN_BARS - 1 :].notna().all(axis=1).all()
        assert np.isfinite(rows.iloc[MIN_BARS - 1 :].to_numpy()).all()


def test_no_look_ahead(bars):
    full = build_features(bars)
    rng = np.random.default_rng(7)
    for cut in ("2021-03-15", "2023-11-01", "2024-06-28"):
        past = bars["ts"] <= cut
        truncated = build_features(bars[past])
        pd.testing.assert_frame_equal(truncated, full[past], rtol=0, atol=0)
        # Scrambling every later bar changes nothing at or before the cut either.
        scrambled = bars.astype({c: "float64" for c in ("open", "high", "low", "close", "volume")})
        later = ~past
        for col in ("open", "high", "low", "close", "volume"):
            scrambled.loc[later, col] = scrambled.loc[later, col] * rng.uniform(0.5, 1.5, later.sum())
        pd.testing.assert_frame_equal(build_features(scrambled)[past], full[past], rtol=0, atol=0)


def test_multi_ticker_equals_per_ticker_in_any_row_order(bars):
    shuffled = bars.sample(frac=1.0, random_state=3)
    together = build_features(shuffled)
    assert together.index.equals(shuffled.index)
    for ticker in TICKERS:
        alone = build_features(_one(bars, ticker))
        mine = together.loc[shuffled["ticker"] == ticker].sort_index().reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone, rtol=1e-12, atol=1e-15)


def test_scale_free_across_currencies(bars):
    aapl = _one(bars, "AAPL")
    in_krw = aapl.assign(**{c: aapl[c] * 1385.0 for c in ("open", "high", "low", "close")})
    pd.testing.assert_frame_equal(build_features(in_krw), build_features(aapl), rtol=1e-9, atol=1e-12)


def test_definitions_match_ta_lib_once_warmed_up(bars):
    for ticker in TICKERS:
        one = _one(bars, ticker)
        f = build_features(one).iloc[RECOMMENDED_BARS:]
        h, lo, c = (one[k].to_numpy() for k in ("high", "low", "close"))
        np.testing.assert_allclose(f["rsi_14"], talib.RSI(c, 14)[RECOMMENDED_BARS:] / 50 - 1, atol=1e-8)
        np.testing.assert_allclose(f["atr_14_rel"], (talib.ATR(h, lo, c, 14) / c)[RECOMMENDED_BARS:], atol=1e-8)
        _, _, hist = talib.MACD(c, 12, 26, 9)
        np.testing.assert_allclose(f["macd_hist_rel"], (hist / c)[RECOMMENDED_BARS:], atol=1e-8)
        upper, _, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        np.testing.assert_allclose(f["bb_pctb"], ((c - lower) / (upper - lower))[RECOMMENDED_BARS:], atol=1e-6)
        np.testing.assert_allclose(f["dist_sma200"], (c / talib.SMA(c, 200) - 1)[RECOMMENDED_BARS:], atol=1e-9)
        np.testing.assert_allclose(f["ret_5"], c[RECOMMENDED_BARS:] / c[RECOMMENDED_BARS - 5 : -5] - 1, atol=1e-12)
        np.testing.assert_allclose(f["range_rel"], ((h - lo) / c)[RECOMMENDED_BARS:], atol=1e-12)


def test_flat_series_gives_finite_midpoint_values():
    ts = pd.bdate_range("2020-01-01", periods=260)
    flat = pd.DataFrame({"ticker": "FLAT", "ts": ts, "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0,
                         "volume": 0.0})
    last = build_features(flat).iloc[-1]
    assert np.isfinite(last.to_numpy()).all()
    assert last["rsi_14"] == 0.0 and last["bb_pctb"] == 0.5 and last["ret_20"] == 0.0


def test_labels_are_forward_returns_kept_apart_from_features(bars):
    labels = build_labels(bars, 5)
    assert list(labels.columns) == ["fwd_return", "direction", "label_end_ts"]
    assert not set(labels.columns) & set(FEATURE_NAMES)
    for ticker in TICKERS:
        one = _one(bars, ticker)
        mine = labels[bars["ticker"] == ticker].reset_index(drop=True)
        expected = one["close"].shift(-5) / one["close"] - 1
        pd.testing.assert_series_equal(mine["fwd_return"], expected, check_names=False)
        assert mine["fwd_return"].iloc[-5:].isna().all() and mine["direction"].iloc[-5:].isna().all()
        assert ((mine["direction"].iloc[:-5] == 1) == (expected.iloc[:-5] > 0)).all()
        assert (mine["label_end_ts"].iloc[:-5] == one["ts"].shift(-5).iloc[:-5]).all()
    with pytest.raises(ValueError):
        build_labels(bars, 0)


def test_latest_features_takes_each_tickers_newest_complete_row(bars):
    short = _one(bars, "TSLA").iloc[: MIN_BARS - 1].assign(ticker="NEWCO")
    frame = pd.concat([bars, short], ignore_index=True).sample(frac=1.0, random_state=1)
    frame.index = np.zeros(len(frame), dtype=int)  # duplicate labels must not matter
    latest = latest_features(frame)
    assert sorted(latest.index) == sorted(TICKERS)  # NEWCO lacks SMA200 history
    assert list(latest.columns) == ["ts", *FEATURE_NAMES]
    for ticker in TICKERS:
        one = _one(bars, ticker)
        assert latest.loc[ticker, "ts"] == one["ts"].iloc[-1]
        np.testing.assert_allclose(latest.loc[ticker, FEATURE_NAMES].to_numpy(dtype=float),
                                   build_features(one).iloc[-1].to_numpy(), rtol=1e-12)
