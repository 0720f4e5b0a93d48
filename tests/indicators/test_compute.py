"""Both indicator paths against TA-Lib, and against each other, on the bundled real market data."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest
import talib

from signalhub.indicators.compute import (
    INDICATOR_COLUMNS,
    LOOKBACK,
    WARMUP,
    compute_indicators,
    compute_indicators_arrays,
    compute_indicators_batch,
    warmup_bars,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "database" / "seed"
SP500 = ROOT / "benchmarks" / "data" / "sp500_daily_2018-01-02_2023-06-29.csv.gz"
TOLERANCE = {"rtol": 1e-8, "atol": 1e-8}

SERIES = [f"daily/{p.name}" for p in sorted((SEED / "daily").glob("*.csv")) if "corporate" not in p.name] + [
    f"intraday/{p.name}" for p in sorted((SEED / "intraday").glob("*.csv"))]


@functools.cache
def load_bars(name: str) -> pd.DataFrame:
    """One bundled series as ts, open, high, low, close, volume, without bars missing a price."""
    raw = pd.read_csv(SEED / name)
    raw["ts"] = pd.to_datetime(raw["date"] if "date" in raw else raw["datetime"], utc=True)
    bars = raw.dropna(subset=["open", "high", "low", "close"])
    return bars[["ts", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


@functools.cache
def load_sp500() -> pd.DataFrame:
    """The 501-ticker daily file as a long frame (ticker, ts, open, high, low, close, volume)."""
    raw = pd.read_csv(SP500)
    raw["ts"] = pd.to_datetime(raw["date"], utc=True)
    return raw[["ticker", "ts", "open", "high", "low", "close", "volume"]]


def talib_reference(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every indicator column computed by TA-Lib."""
    close, high, low = (bars[c].to_numpy(dtype=np.float64) for c in ("close", "high", "low"))
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    stoch_k, stoch_d = talib.STOCH(high, low, close, fastk_period=14, slowk_period=3, slowk_matype=0,
                                   slowd_period=3, slowd_matype=0)
    bb = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    bb5 = talib.BBANDS(close, timeperiod=5, nbdevup=2, nbdevdn=2, matype=0)
    return {
        "rsi_14": talib.RSI(close, 14),
        "macd": macd, "macd_signal": signal, "macd_hist": hist,
        "stoch_k": stoch_k, "stoch_d": stoch_d,
        "sma_20": talib.SMA(close, 20), "sma_50": talib.SMA(close, 50), "sma_200": talib.SMA(close, 200),
        "bb_upper": bb[0], "bb_middle": bb[1], "bb_lower": bb[2],
        "bb5_upper": bb5[0], "bb5_middle": bb5[1], "bb5_lower": bb5[2],
        "atr_14": talib.ATR(high, low, close, 14),
        "volume_avg_20": talib.SMA(bars["volume"].to_numpy(dtype=np.float64), 20),
    }


def assert_matches(actual: pd.DataFrame | Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
                   label: str, columns: Sequence[str] = INDICATOR_COLUMNS, skip: int | None = None) -> None:
    """Same NaN positions, values within 1e-8 absolute or relative; from bar `skip` (default: all bars)."""
    for col in columns:
        got = np.asarray(actual[col], dtype=np.float64)[skip:]
        want = np.asarray(expected[col], dtype=np.float64)[skip:]
        np.testing.assert_allclose(got, want, equal_nan=True, err_msg=f"{label}: {col}", **TOLERANCE)


def long_frame(names: Sequence[str]) -> pd.DataFrame:
    """The named bundled series stacked into one long frame, the ticker being the file name."""
    return pd.concat([load_bars(name).assign(ticker=name) for name in names], ignore_index=True)[
        ["ticker", "ts", "open", "high", "low", "close", "volume"]]


@pytest.fixture(scope="module")
def seed_batch() -> pd.DataFrame:
    """The batch path over every bundled series in one call."""
    return compute_indicators_batch(long_frame(SERIES))


@pytest.mark.parametrize("name", SERIES)
def test_single_path_matches_talib(name: str) -> None:
    bars = load_bars(name)
    result = compute_indicators(bars)
    assert list(result.columns) == ["ts", *INDICATOR_COLUMNS]
    assert result["ts"].equals(bars["ts"])
    assert_matches(result, talib_reference(bars), name)


@pytest.mark.parametrize("name", SERIES)
def test_batch_of_all_series_matches_talib_and_single_path(seed_batch: pd.DataFrame, name: str) -> None:
    bars = load_bars(name)
    rows = seed_batch[seed_batch["ticker"] == name].reset_index(drop=True)
    assert rows["ts"].equals(bars["ts"])
    assert_matches(rows, talib_reference(bars), f"batch {name}")
    assert_matches(rows, compute_indicators(bars), f"batch vs single {name}")


def test_batch_on_fifty_sp500_tickers_matches_talib() -> None:
    panel = load_sp500()
    tickers = sorted(panel["ticker"].unique())[::10][:49]
    shortest = panel["ticker"].value_counts().idxmin()  # 135 bars: listed mid-period
    picked = panel[panel["ticker"].isin([*tickers, shortest])]
    result = compute_indicators_batch(picked)
    assert result.index.equals(picked.index)
    for ticker, rows in result.groupby("ticker", sort=False):
        assert_matches(rows, talib_reference(picked[picked["ticker"] == ticker]), f"sp500 {ticker}")


def test_batch_keeps_input_order_with_interleaved_tickers_and_different_ranges() -> None:
    names = ["daily/005930.KS.csv", "daily/AAPL.csv", "intraday/SPY_1m_2025-04-24_2025-04-25_alpaca.csv"]
    grouped = long_frame(names)
    shuffled = grouped.sample(frac=1.0, random_state=7)
    result = compute_indicators_batch(shuffled)
    assert result.index.equals(shuffled.index)
    assert result["ticker"].equals(shuffled["ticker"]) and result["ts"].equals(shuffled["ts"])
    by_rows = result.sort_index()
    assert_matches(by_rows, compute_indicators_batch(grouped), "shuffled vs grouped")
    for name in names:
        rows = by_rows[by_rows["ticker"] == name]
        assert_matches(rows, talib_reference(load_bars(name)), f"shuffled {name}")
    categorical = compute_indicators_batch(shuffled.astype({"ticker": "category"}))
    assert_matches(categorical, result, "categorical tickers")


@pytest.mark.parametrize("length", [0, 1, 2, 5, 14, 15, 17, 18, 33, 34, 199, 200])
def test_tickers_shorter_than_lookback_get_nan(length: int) -> None:
    bars = load_bars("daily/AAPL.csv").iloc[:length]
    reference = talib_reference(bars) if length else {c: np.empty(0) for c in INDICATOR_COLUMNS}
    single = compute_indicators(bars)
    assert_matches(single, reference, f"single, {length} bars")
    assert all(single[c].isna().all() for c in INDICATOR_COLUMNS if LOOKBACK[c] >= length)
    panel = pd.concat([long_frame(["daily/MSFT.csv"]), bars.assign(ticker="SHORT")], ignore_index=True)
    batch = compute_indicators_batch(panel)
    assert_matches(batch[batch["ticker"] == "SHORT"], reference, f"batch, {length} bars")
    assert_matches(batch[batch["ticker"] == "daily/MSFT.csv"], talib_reference(load_bars("daily/MSFT.csv")),
                   "neighbour of a short ticker")


def test_single_ticker_batch_equals_single_path() -> None:
    bars = load_bars("daily/000660.KS.csv")
    batch = compute_indicators_batch(bars.assign(ticker="000660.KS"))
    assert_matches(batch, compute_indicators(bars), "one ticker")


def test_column_selection_returns_requested_columns_in_order() -> None:
    bars = load_bars("intraday/AAPL_1m_2019-02-11_2019-02-15_alphavantage.csv")
    wanted = ["macd_hist", "rsi_14", "bb_lower", "volume_avg_20"]
    reference = talib_reference(bars)
    single = compute_indicators(bars[["ts", "close", "volume"]], columns=wanted)
    assert list(single.columns) == ["ts", *wanted]
    batch = compute_indicators_batch(bars.assign(ticker="AAPL"), columns=wanted)
    assert list(batch.columns) == ["ticker", "ts", *wanted]
    arrays = compute_indicators_arrays(bars["close"].to_numpy(), [0, len(bars)],
                                       volume=bars["volume"].to_numpy(), columns=wanted)
    assert list(arrays) == wanted
    for label, result in (("single", single), ("batch", batch), ("arrays", arrays)):
        assert_matches(result, reference, label, columns=wanted)
    with pytest.raises(ValueError, match="unknown"):
        compute_indicators(bars, columns=["rsi_15"])
    with pytest.raises(ValueError, match="high"):
        compute_indicators_batch(bars[["ts", "close"]].assign(ticker="AAPL"), columns=["atr_14"])


def test_disordered_or_duplicate_bars_are_rejected() -> None:
    bars = load_bars("daily/TSLA.csv")
    with pytest.raises(ValueError, match="ascending"):
        compute_indicators(bars.iloc[::-1])
    duplicated = pd.concat([bars, bars.iloc[[10]]]).assign(ticker="TSLA")
    with pytest.raises(ValueError, match="duplicate"):
        compute_indicators_batch(duplicated)


def test_single_path_never_touches_talib(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = load_bars("daily/NVDA.csv")
    expected = compute_indicators(bars)
    # pandas-ta imports TA-Lib inside each function when it decides to use it: make that import fail.
    monkeypatch.setitem(sys.modules, "talib", None)
    pd.testing.assert_frame_equal(compute_indicators(bars), expected)


@pytest.mark.parametrize("name", ["daily/000660.KS.csv", "daily/AMZN.csv",
                                  "intraday/AAPL_1m_2019-02-11_2019-02-15_alphavantage.csv"])
def test_values_after_warmup_do_not_depend_on_where_history_starts(name: str) -> None:
    bars = load_bars(name)
    full = compute_indicators_batch(bars.assign(ticker="X"))
    for start in range(0, len(bars) - 450, max(1, (len(bars) - 450) // 12)):
        cut = compute_indicators_batch(bars.iloc[start:].assign(ticker="X"))
        for col in INDICATOR_COLUMNS:
            assert_matches(cut, full.iloc[start:], f"{name} from bar {start}", columns=[col],
                           skip=warmup_bars(col))


@pytest.mark.parametrize("name", SERIES)
def test_pandas_ta_own_rsi_macd_atr_agree_with_talib_only_after_warmup(name: str) -> None:
    # Why the single path builds these from ta.rma/ta.ema instead: documented, measured deviation.
    bars = load_bars(name)
    close, high, low = bars["close"], bars["high"], bars["low"]
    macd = ta.macd(close, 12, 26, 9, talib=False)
    own = {"rsi_14": ta.rsi(close, 14, talib=False), "macd": macd["MACD_12_26_9"],
           "macd_signal": macd["MACDs_12_26_9"], "macd_hist": macd["MACDh_12_26_9"],
           "atr_14": ta.atr(high, low, close, 14, talib=False)}
    reference = talib_reference(bars)
    for col, values in own.items():
        early = slice(LOOKBACK[col], LOOKBACK[col] + 30)
        assert not np.allclose(values[early], reference[col][early], rtol=1e-6, atol=1e-6), col
        assert_matches(own, reference, f"pandas-ta's own {col}", columns=[col], skip=WARMUP[col])
