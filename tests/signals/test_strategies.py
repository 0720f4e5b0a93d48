"""Strategies on the bundled real daily bars: hand-checked signals, no look-ahead, registry and parameters."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from signalhub.indicators.compute import INDICATOR_COLUMNS, compute_indicators_batch
from signalhub.signals.strategies import (
    DEFAULT_PARAMS_PATH,
    REGISTRY,
    evaluate,
    get_strategy,
    load_params,
    long_results,
    lookback_bars,
    resolve_all_params,
    strategy_fingerprint,
)

DAILY = Path(__file__).resolve().parents[2] / "database" / "seed" / "daily"
PANEL_TICKERS = ["AAPL", "MSFT", "SPY", "005930.KS"]
NAMES = list(REGISTRY)


def read_csv(ticker: str) -> pd.DataFrame:
    """One ticker's bundled daily bars as the strategies' input columns."""
    raw = pd.read_csv(DAILY / f"{ticker}.csv").dropna(subset=["open", "high", "low", "close"])
    return pd.DataFrame({
        "ticker": ticker, "ts": pd.to_datetime(raw["date"], utc=True), "date": raw["date"],
        "open": raw["open"], "high": raw["high"], "low": raw["low"], "close": raw["close"],
        "volume": raw["volume"].astype(float),
    }).reset_index(drop=True)


def with_indicators(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars plus every indicator column, computed by the platform's batch indicator code."""
    indicators = compute_indicators_batch(bars[["ticker", "ts", "open", "high", "low", "close", "volume"]])
    return pd.concat([bars, indicators[INDICATOR_COLUMNS]], axis=1)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Several real tickers back to back, (ticker, ts)-sorted, with indicators."""
    return with_indicators(pd.concat([read_csv(t) for t in PANEL_TICKERS], ignore_index=True))


@pytest.fixture(scope="module")
def states(panel: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every strategy under its code defaults (not the YAML, which may be tuned)."""
    return evaluate(panel, params={})


@pytest.fixture(scope="module")
def aapl() -> dict[str, np.ndarray]:
    """AAPL's CSV columns and TA-Lib's indicators on them, the independent reference."""
    bars = read_csv("AAPL")
    close, high, low = (bars[c].to_numpy(dtype=float) for c in ("close", "high", "low"))
    volume = bars["volume"].to_numpy(dtype=float)
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    slow_k, slow_d = talib.STOCH(high, low, close, 14, 3, 0, 3, 0)
    return {"date": bars["date"].to_numpy(), "close": close, "volume": volume, "rsi": talib.RSI(close, 14),
            "macd": macd, "signal": signal, "hist": hist, "k": slow_k, "d": slow_d,
            "atr": talib.ATR(high, low, close, 14),
            "sma50": talib.SMA(close, 50), "sma200": talib.SMA(close, 200), "volume_avg": talib.SMA(volume, 20)}


def row(panel: pd.DataFrame, ticker: str, date: str) -> int:
    """Positional row of (ticker, date) in the panel."""
    hits = np.flatnonzero((panel["ticker"].to_numpy() == ticker) & (panel["date"].to_numpy() == date))
    assert hits.size == 1, (ticker, date)
    return int(hits[0])


def at(aapl: dict[str, np.ndarray], date: str) -> int:
    return int(np.flatnonzero(aapl["date"] == date)[0])


def state(states: dict[str, pd.DataFrame], name: str, i: int) -> tuple[str, float, str]:
    out = states[name]
    return str(out["action"].iloc[i]), float(out["strength"].iloc[i]), str(out["reason"].iloc[i])


def prior_band(aapl: dict[str, np.ndarray], date: str) -> tuple[float, float, float]:
    """Lower band, middle and upper band of the 5 closes before `date`, by hand (population σ)."""
    j = at(aapl, date)
    closes = aapl["close"][j - 5:j].tolist()
    mean, sd = statistics.fmean(closes), statistics.pstdev(closes)
    return mean - 2 * sd, mean, mean + 2 * sd


# ------------------------------------------------------------------------------------------------
# Hand-checked cases (AAPL, split-adjusted closes from database/seed/daily/AAPL.csv; TA-Lib values)
# ------------------------------------------------------------------------------------------------

def test_bollinger_strong_buy_aapl_2022_04_26(panel, states, aapl):
    lower, middle, _ = prior_band(aapl, "2022-04-26")  # closes 2022-04-19 .. 2022-04-25
    atr = aapl["atr"][at(aapl, "2022-04-25")]
    close = aapl["close"][at(aapl, "2022-04-26")]
    assert close == pytest.approx(156.80, abs=0.005)
    assert lower == pytest.approx(160.46, abs=0.005)
    assert atr == pytest.approx(4.3674, abs=1e-4)
    assert close < lower and (middle - close) / atr >= 1.0  # beyond the band, and past the noise filter
    action, strength, reason = state(states, "bollinger_breakout", row(panel, "AAPL", "2022-04-26"))
    assert action == "BUY"
    assert strength == pytest.approx(0.7 + 0.25 * min((lower - close) / atr, 1.0), abs=1e-4)  # 0.9094
    assert "BUY STRONG" in reason and "156.80" in reason and "160.46" in reason and "2.28%" in reason
    assert state(states, "bollinger_breakout", row(panel, "AAPL", "2022-04-25"))[0] == "HOLD"


def test_bollinger_weak_buy_aapl_2022_01_25(panel, states, aapl):
    lower, middle, _ = prior_band(aapl, "2022-01-25")
    atr = aapl["atr"][at(aapl, "2022-01-24")]
    close = aapl["close"][at(aapl, "2022-01-25")]
    assert (close, lower) == (pytest.approx(159.78, abs=0.005), pytest.approx(159.06, abs=0.005))
    assert lower < close < lower * 1.01 and (middle - close) / atr >= 1.0  # inside the 1% threshold
    action, strength, reason = state(states, "bollinger_breakout", row(panel, "AAPL", "2022-01-25"))
    assert (action, strength) == ("BUY", 0.6)
    assert reason.startswith("BUY WEAK: close 159.78 is 0.45% above the lower band 5d(2σ) 159.06")
    assert state(states, "bollinger_breakout", row(panel, "AAPL", "2022-01-24"))[0] == "HOLD"


def test_bollinger_noise_filter_holds_aapl_2023_08_16(panel, states, aapl):
    lower, middle, _ = prior_band(aapl, "2023-08-16")
    atr = aapl["atr"][at(aapl, "2023-08-15")]
    close = aapl["close"][at(aapl, "2023-08-16")]
    assert close == pytest.approx(176.57, abs=0.005) and lower == pytest.approx(176.80, abs=0.005)
    # Below the band, but only half an ATR from the 5-day mean: a narrow band, filtered as noise.
    assert close < lower and (middle - close) / atr == pytest.approx(0.50, abs=0.01)
    assert state(states, "bollinger_breakout", row(panel, "AAPL", "2023-08-16"))[0] == "HOLD"


def test_rsi_buy_aapl_2025_04_04(panel, states, aapl):
    j = at(aapl, "2025-04-04")
    assert aapl["close"][j] == pytest.approx(188.38, abs=0.005)
    assert aapl["rsi"][j] == pytest.approx(25.1779, abs=1e-4)
    assert aapl["rsi"][j - 1] == pytest.approx(31.9289, abs=1e-4)  # 2025-04-03: not yet oversold
    assert panel["rsi_14"].iloc[row(panel, "AAPL", "2025-04-04")] == pytest.approx(aapl["rsi"][j], abs=1e-9)
    action, strength, reason = state(states, "rsi_reversal", row(panel, "AAPL", "2025-04-04"))
    assert action == "BUY"
    assert strength == pytest.approx(0.6 + 0.35 * (30 - 25.1779) / 20, abs=1e-4)  # 0.6844
    assert reason == "BUY: RSI(14) 25.18 < 30 (oversold, 4.82 deep); close 188.38"
    assert state(states, "rsi_reversal", row(panel, "AAPL", "2025-04-03"))[0] == "HOLD"


def test_macd_cross_buy_aapl_2025_04_15(panel, states, aapl):
    j = at(aapl, "2025-04-15")
    assert aapl["hist"][j - 1] == pytest.approx(-0.6475, abs=1e-4)  # 2025-04-14: MACD below its signal
    assert (aapl["macd"][j], aapl["signal"][j]) == (pytest.approx(-8.2193, abs=1e-4), pytest.approx(-8.3218, abs=1e-4))
    assert aapl["hist"][j] == pytest.approx(0.1025, abs=1e-4)
    action, strength, reason = state(states, "macd_cross", row(panel, "AAPL", "2025-04-15"))
    assert action == "BUY"
    # A bullish cross below the zero line: depth |MACD| / ATR(14) = 8.2193 / 11.0392.
    assert aapl["atr"][j] == pytest.approx(11.0392, abs=1e-4)
    assert strength == pytest.approx(0.6 + 0.35 * aapl["macd"][j] / -aapl["atr"][j], abs=1e-4)  # 0.8606
    assert "crossed above signal" in reason and "below the zero line" in reason
    # The state lasts for the bar of the cross only.
    for date in ("2025-04-14", "2025-04-16"):
        assert state(states, "macd_cross", row(panel, "AAPL", date))[0] == "HOLD"


def test_stochastic_buy_aapl_2022_01_24(panel, states, aapl):
    j = at(aapl, "2022-01-24")
    assert (aapl["k"][j - 1], aapl["d"][j - 1]) == (pytest.approx(1.3326, abs=1e-4), pytest.approx(7.1573, abs=1e-4))
    assert (aapl["k"][j], aapl["d"][j]) == (pytest.approx(8.9321, abs=1e-4), pytest.approx(5.0328, abs=1e-4))
    action, strength, reason = state(states, "stochastic_cross", row(panel, "AAPL", "2022-01-24"))
    assert action == "BUY"
    assert strength == pytest.approx(0.6 + 0.35 * (20 - 7.1573) / 20, abs=1e-4)  # 0.8247
    assert reason.endswith("%K 1.33 -> 8.93, %D 7.16 -> 5.03")
    for date in ("2022-01-21", "2022-01-25"):
        assert state(states, "stochastic_cross", row(panel, "AAPL", date))[0] == "HOLD"


def test_stochastic_cross_outside_the_zone_holds_aapl_2022_02_24(panel, states, aapl):
    j = at(aapl, "2022-02-24")
    # %K crosses above %D, but %D was 20.005 on the bar before: not in the oversold zone.
    assert aapl["k"][j - 1] < aapl["d"][j - 1] and aapl["k"][j] > aapl["d"][j]
    assert aapl["d"][j - 1] == pytest.approx(20.0049, abs=1e-4)
    assert state(states, "stochastic_cross", row(panel, "AAPL", "2022-02-24"))[0] == "HOLD"
    looser = evaluate(panel, ["stochastic_cross"], {"stochastic_cross": {"oversold": 21}})["stochastic_cross"]
    assert str(looser["action"].iloc[row(panel, "AAPL", "2022-02-24")]) == "BUY"


def test_ma_dead_cross_confirmed_two_bars_later_aapl_2024_03(panel, states, aapl):
    cross = at(aapl, "2024-03-13")
    assert aapl["sma50"][cross - 1] > aapl["sma200"][cross - 1]  # 184.1992 > 183.8796 on 2024-03-12
    assert (aapl["sma50"][cross], aapl["sma200"][cross]) == (pytest.approx(183.7712, abs=1e-4),
                                                             pytest.approx(183.8703, abs=1e-4))
    ratios = aapl["volume"] / aapl["volume_avg"]
    assert ratios[cross] == pytest.approx(0.8186, abs=1e-4)  # the cross bar itself: no volume surge
    assert ratios[cross + 1] < 1.5
    confirm = at(aapl, "2024-03-15")
    assert confirm == cross + 2 and ratios[confirm] == pytest.approx(1.7945, abs=1e-4)
    assert aapl["sma50"][confirm] < aapl["sma200"][confirm]
    got = [state(states, "ma_cross", row(panel, "AAPL", d))[0]
           for d in ("2024-03-12", "2024-03-13", "2024-03-14", "2024-03-15", "2024-03-18")]
    assert got == ["HOLD", "HOLD", "HOLD", "SELL", "HOLD"]
    _, strength, reason = state(states, "ma_cross", row(panel, "AAPL", "2024-03-15"))
    assert strength == pytest.approx(0.6 + 0.35 * (ratios[confirm] / 1.5 - 1.0), abs=1e-4)  # 0.6687
    assert "dead cross" in reason and "2 bars ago" in reason and "1.79x" in reason
    # The strict same-bar reading never confirms this cross.
    strict = evaluate(panel, ["ma_cross"], {"ma_cross": {"confirm_bars": 1}})["ma_cross"]
    assert str(strict["action"].iloc[row(panel, "AAPL", "2024-03-15")]) == "HOLD"


def test_ma_dead_cross_on_the_bar_aapl_2025_04_07(panel, states, aapl):
    j = at(aapl, "2025-04-07")
    assert aapl["sma50"][j - 1] > aapl["sma200"][j - 1] and aapl["sma50"][j] < aapl["sma200"][j]
    assert aapl["volume"][j] / aapl["volume_avg"][j] == pytest.approx(2.5358, abs=1e-4)
    action, strength, _ = state(states, "ma_cross", row(panel, "AAPL", "2025-04-07"))
    assert action == "SELL" and strength == pytest.approx(0.6 + 0.35 * (2.5358 / 1.5 - 1), abs=1e-3)
    assert state(states, "ma_cross", row(panel, "AAPL", "2025-04-04"))[0] == "HOLD"


def test_fusion_strong_buy_aapl_2025_04_09(panel, states, aapl):
    j = at(aapl, "2025-04-09")
    assert aapl["rsi"][j - 1] == pytest.approx(20.04, abs=0.005)  # 2025-04-08: oversold
    assert aapl["rsi"][j] > 30
    assert aapl["k"][j - 1] < aapl["d"][j - 1] < 20 and aapl["k"][j] > aapl["d"][j]  # %K turns up from the zone
    assert state(states, "rsi_reversal", row(panel, "AAPL", "2025-04-08"))[0] == "BUY"
    assert state(states, "stochastic_cross", row(panel, "AAPL", "2025-04-09"))[0] == "BUY"
    action, strength, reason = state(states, "multi_indicator_fusion", row(panel, "AAPL", "2025-04-09"))
    assert action == "BUY" and strength >= 0.8
    rsi_s = state(states, "rsi_reversal", row(panel, "AAPL", "2025-04-08"))[1]
    stoch_s = state(states, "stochastic_cross", row(panel, "AAPL", "2025-04-09"))[1]
    assert strength == pytest.approx(0.8 + 0.125 * ((rsi_s + stoch_s) / 2 - 0.6) / 0.35, abs=1e-4)  # 0.843
    assert reason.startswith("STRONG BUY: 2 of 3 indicators agree within 3 bars")
    assert "rsi_reversal (1 bar ago" in reason and "stochastic_cross (this bar" in reason
    # RSI alone (2025-04-04 .. 04-08) is one vote: no fusion signal.
    for date in ("2025-04-04", "2025-04-07", "2025-04-08"):
        assert state(states, "rsi_reversal", row(panel, "AAPL", date))[0] == "BUY"
        assert state(states, "multi_indicator_fusion", row(panel, "AAPL", date))[0] == "HOLD"


# ------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------

def test_no_look_ahead(panel, states):
    dates = ["2021-03-01", "2022-09-30", "2024-03-15", "2025-04-09"]
    ts = panel["ts"]
    for date in dates:
        keep = (ts <= pd.Timestamp(date, tz="UTC")).to_numpy()
        truncated = evaluate(panel[keep], params={})
        for name in NAMES:
            full = states[name][keep]
            assert (truncated[name]["action"].astype(str) == full["action"].astype(str)).all(), (name, date)
            np.testing.assert_array_equal(truncated[name]["strength"].to_numpy(), full["strength"].to_numpy())


def test_lookback_rows_reproduce_the_state(panel, states):
    # Any row's state can be recomputed from its strategy's lookback rows alone (how signals are verified).
    rng = np.random.default_rng(7)
    tickers = panel["ticker"].to_numpy()
    params = {"macd_cross": {"hold_bars": 3}, "ma_cross": {"confirm_bars": 2},
              "multi_indicator_fusion": {"window": 4}}
    custom = evaluate(panel, params=params)
    for results, overrides in ((states, {}), (custom, params)):
        for name in NAMES:
            # Resolved as a whole: fusion's lookback depends on its components' parameters too.
            n = lookback_bars(name, resolve_all_params(overrides)[name])
            action = results[name]["action"].astype(str).to_numpy()
            signals = np.flatnonzero(action != "HOLD")
            picks = np.concatenate([rng.choice(signals, min(25, signals.size), replace=False),
                                    rng.integers(300, len(panel), 15)])
            for i in picks:
                lo = i - n + 1
                if tickers[lo] != tickers[i]:
                    continue
                window = evaluate(panel.iloc[lo:i + 1], [name], overrides)[name]
                assert str(window["action"].iloc[-1]) == action[i], (name, i)
                assert float(window["strength"].iloc[-1]) == float(results[name]["strength"].iloc[i])


def test_multi_ticker_equals_per_ticker(panel, states):
    for ticker in PANEL_TICKERS:
        part = panel[panel["ticker"] == ticker]
        alone = evaluate(part, params={})
        for name in NAMES:
            pd.testing.assert_frame_equal(alone[name], states[name].loc[part.index], check_categorical=False)


def test_warmup_rows_hold(panel, states):
    first_rows = panel.groupby("ticker", sort=False).cumcount().to_numpy()
    for name in NAMES:
        warm = first_rows < REGISTRY[name].min_bars - 1
        out = states[name][warm]
        assert (out["action"].astype(str) == "HOLD").all(), name
        assert (out["strength"] == 0.0).all() and (out["reason"] == "").all()
    # A short history (indicators all NaN) is HOLD everywhere; an empty frame gives empty outputs.
    short = evaluate(panel.groupby("ticker", sort=False).head(12), params={})
    empty = evaluate(panel.iloc[:0], params={})
    for name in NAMES:
        assert (short[name]["action"].astype(str) == "HOLD").all(), name
        assert empty[name].empty and list(empty[name].columns) == ["action", "strength", "reason"]


def test_output_contract(panel, states):
    for name in NAMES:
        out = states[name]
        assert list(out.columns) == ["action", "strength", "reason"] and out.index.equals(panel.index)
        action = out["action"].astype(str)
        assert set(action) <= {"BUY", "SELL", "HOLD"}
        active = (action != "HOLD").to_numpy()
        assert active.sum() > 0, name
        strength = out["strength"].to_numpy()
        assert (strength[~active] == 0).all() and (out["reason"].to_numpy()[~active] == "").all()
        floor = 0.8 if name == "multi_indicator_fusion" else 0.6
        assert (strength[active] >= floor).all() and (strength[active] <= 1.0).all(), name
        assert (out["reason"].str.len().to_numpy()[active] > 0).all()
    # Any index labels are kept.
    relabelled = panel.set_axis(pd.Index(np.arange(len(panel)) * 3 + 11))
    again = evaluate(relabelled, ["rsi_reversal"], {})["rsi_reversal"]
    assert again.index.equals(relabelled.index)
    assert (again["action"].to_numpy() == states["rsi_reversal"]["action"].to_numpy()).all()


def test_reason_modes_and_long_results(panel, states):
    changes = evaluate(panel, params={}, reasons="changes")
    for name in NAMES:
        assert (changes[name]["action"].to_numpy() == states[name]["action"].to_numpy()).all()
        action = states[name]["action"].astype(str)
        entered = (action != "HOLD") & (action != action.groupby(panel["ticker"]).shift(1))
        np.testing.assert_array_equal(changes[name]["reason"] != "", entered)
        assert (changes[name]["reason"][entered] == states[name]["reason"][entered]).all() or name == (
            "multi_indicator_fusion")  # fusion quotes component reasons, blank on their continuing rows
    stacked = long_results(panel, states, signals_only=True)
    assert list(stacked.columns) == ["ticker", "ts", "strategy", "action", "strength", "reason"]
    assert len(stacked) == sum(int((states[n]["action"].astype(str) != "HOLD").sum()) for n in NAMES)


def test_unsorted_frame_rejected(panel):
    interleaved = panel.sort_values(["ts", "ticker"])
    with pytest.raises(ValueError, match="sorted by"):
        evaluate(interleaved, ["rsi_reversal"], {})
    with pytest.raises(ValueError, match="missing"):
        evaluate(panel.drop(columns=["bb5_lower"]), ["bollinger_breakout"], {})


# ------------------------------------------------------------------------------------------------
# Registry, parameters, fingerprints
# ------------------------------------------------------------------------------------------------

def test_registry_names_and_specs():
    assert NAMES == ["bollinger_breakout", "rsi_reversal", "macd_cross", "stochastic_cross", "ma_cross",
                     "multi_indicator_fusion"]
    for name, spec in REGISTRY.items():
        assert get_strategy(name) is spec and spec.description and set(spec.columns) <= set(INDICATOR_COLUMNS)
        assert lookback_bars(name) == spec.lookback <= 10
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        get_strategy("nope")


def test_yaml_file_holds_the_code_defaults():
    assert DEFAULT_PARAMS_PATH.name == "strategies.yaml" and DEFAULT_PARAMS_PATH.exists()
    assert load_params() == resolve_all_params({})


def test_yaml_overrides_defaults(tmp_path, panel, aapl):
    path = tmp_path / "strategies.yaml"
    path.write_text("rsi_reversal:\n  oversold: 25\nmacd_cross:\n  hold_bars: 2\n", encoding="utf-8")
    params = load_params(path)
    assert params["rsi_reversal"] == {"oversold": 25.0, "overbought": 70.0, "full_depth": 20.0}
    assert params["macd_cross"]["hold_bars"] == 2 and params["bollinger_breakout"] == resolve_all_params({})[
        "bollinger_breakout"]
    # Fusion components follow the standalone sections.
    assert params["multi_indicator_fusion"]["component_params"]["rsi_reversal"]["oversold"] == 25.0
    out = evaluate(panel, ["rsi_reversal", "macd_cross"], params)
    # RSI 25.18 on 2025-04-04 is no longer below the threshold; 22.76 on 2025-04-07 is.
    assert aapl["rsi"][at(aapl, "2025-04-07")] == pytest.approx(22.7567, abs=1e-4)
    rsi = out["rsi_reversal"]["action"].astype(str)
    assert rsi.iloc[row(panel, "AAPL", "2025-04-04")] == "HOLD" and rsi.iloc[row(panel, "AAPL", "2025-04-07")] == "BUY"
    macd = out["macd_cross"]["action"].astype(str)
    assert [macd.iloc[row(panel, "AAPL", d)] for d in ("2025-04-15", "2025-04-16", "2025-04-17")] == [
        "BUY", "BUY", "HOLD"]


@pytest.mark.parametrize(("text", "message"), [
    ("rsi_reversal:\n  oversould: 25\n", r"unknown parameters for strategy 'rsi_reversal': \['oversould'\]"),
    ("rsi_reversl:\n  oversold: 25\n", r"unknown strategies: \['rsi_reversl'\]"),
    ("rsi_reversal:\n  oversold: low\n", "must be a finite number"),
    ("macd_cross:\n  hold_bars: 1.5\n", "must be an integer"),
    ("macd_cross:\n  hold_bars: 0\n", "hold_bars must be at least 1"),
    ("ma_cross:\n  confirm_bars: 30\n", "at most 10"),
    ("multi_indicator_fusion:\n  component_params: {}\n", "derived"),
    ("multi_indicator_fusion:\n  components: [rsi_reversal, nope]\n", "components must be distinct names"),
    ("multi_indicator_fusion:\n  min_agree: 1\n", "min_agree"),
    ("- just a list\n", "expected a mapping"),
])
def test_bad_yaml_rejected(tmp_path, text, message):
    path = tmp_path / "strategies.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_params(path)


def test_unknown_names_rejected_by_evaluate(panel):
    with pytest.raises(ValueError, match="unknown strategy"):
        evaluate(panel, ["rsi"])
    with pytest.raises(ValueError, match=r"\['window'\]"):
        evaluate(panel, ["rsi_reversal"], {"rsi_reversal": {"window": 3}})


def test_fingerprint():
    base = strategy_fingerprint("rsi_reversal", {})
    assert len(base) == 64 and int(base, 16) >= 0
    assert strategy_fingerprint("rsi_reversal", {"oversold": 30}) == base  # defaults filled, 30 == 30.0
    assert strategy_fingerprint("rsi_reversal", load_params()["rsi_reversal"]) == base
    assert strategy_fingerprint("rsi_reversal", {"oversold": 29}) != base
    assert strategy_fingerprint("macd_cross", {}) != strategy_fingerprint("stochastic_cross", {})
    fusion = strategy_fingerprint("multi_indicator_fusion", {})
    assert strategy_fingerprint("multi_indicator_fusion", load_params()["multi_indicator_fusion"]) == fusion
    changed = resolve_all_params({"rsi_reversal": {"oversold": 25}})["multi_indicator_fusion"]
    assert strategy_fingerprint("multi_indicator_fusion", changed) != fusion
    with pytest.raises(ValueError, match="unknown parameters"):
        strategy_fingerprint("rsi_reversal", {"depth": 1})


def test_timing():
    # 501 synthetic tickers: 1,400-bar windows of the long Korean histories, renamed.
    sources = [with_indicators(read_csv(t)) for t in ("005930.KS", "000660.KS", "035420.KS")]
    parts = []
    ts = pd.date_range("2020-01-01", periods=1400, freq="D", tz="UTC")
    for i in range(501):
        source = sources[i % 3]
        offset = (i * 37) % (len(source) - 1400)
        part = source.iloc[offset:offset + 1400].copy()
        part["ticker"], part["ts"] = f"T{i:03d}", ts
        parts.append(part)
    big = pd.concat(parts, ignore_index=True)
    small = big.groupby("ticker", sort=False).tail(3).reset_index(drop=True)
    params = resolve_all_params({})
    timings, cpu = {}, {}
    for label, frame, mode in (("501x3", small, "all"), ("501x1400", big, "all"), ("501x1400 changes", big, "changes")):
        for _ in range(2):
            started, started_cpu = time.perf_counter(), time.process_time()
            evaluate(frame, params=params, reasons=mode)
            elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
            timings[label] = min(timings.get(label, elapsed), elapsed)
            cpu[label] = min(cpu.get(label, elapsed_cpu), elapsed_cpu)
    print("strategy timings, all six (s wall):", {k: round(v, 4) for k, v in timings.items()},
          "(s cpu):", {k: round(v, 4) for k, v in cpu.items()})
    # Loose bounds, to catch pathologies rather than to benchmark a shared machine.
    assert timings["501x3"] < 0.25
    assert timings["501x1400"] < 4.0
