"""The one definition of the model's features and labels, shared by training and by the platform.

Input is a long frame of daily bars, `ticker, ts, open, high, low, close, volume`. Every feature of a
row uses only that row and earlier rows of the same ticker, and every feature is scale-free (returns,
ratios, oscillators), so one pooled model serves tickers quoted in KRW and in USD alike.

Labels live in `build_labels` and are never an input of `build_features`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS: list[str] = ["ticker", "ts", "open", "high", "low", "close", "volume"]

FEATURE_NAMES: list[str] = [
    "ret_1",  # 1-bar simple return
    "ret_5",
    "ret_10",
    "ret_20",
    "vol_20",  # sample std of 1-bar log returns over 20 bars
    "rsi_14",  # Wilder RSI(14) rescaled from [0, 100] to [-1, 1]
    "macd_hist_rel",  # MACD(12, 26, 9) histogram / close
    "bb_pctb",  # Bollinger %B (20 bars, 2 population std); 0.5 when the band has zero width
    "dist_sma50",  # close / SMA50 - 1
    "dist_sma200",  # close / SMA200 - 1
    "log_volume_ratio",  # log((volume + 1) / (20-bar mean volume + 1))
    "atr_14_rel",  # Wilder ATR(14) / close
    "range_rel",  # (high - low) / close of the bar itself
]

# A row has every feature once SMA200 has a full window (200 closes).
MIN_BARS: int = 200
# Exponential averages (RSI, ATR, MACD) depend faintly on where the series starts; from this much
# history on, the difference from the full-history value is below ~1e-9, so the platform should send it.
RECOMMENDED_BARS: int = 300

_RSI_N = 14
_ATR_N = 14
_BB_N = 20
_VOL_N = 20
_MACD_FAST, _MACD_SLOW, _MACD_SIGNAL = 12, 26, 9


def _sorted_bars(bars: pd.DataFrame) -> pd.DataFrame:
    """Bars with a positional index (0..n-1 in the caller's order), sorted by (ticker, ts)."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns: {', '.join(missing)}")
    frame = bars[BAR_COLUMNS].reset_index(drop=True)
    frame["ticker"] = frame["ticker"].astype(str)
    for col in ("open", "high", "low", "close", "volume"):
        frame[col] = frame[col].astype("float64")
    # Stable, so an already sorted frame keeps its order.
    return frame.sort_values(["ticker", "ts"], kind="stable")


def _back_to_caller(result: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    result = result.sort_index()
    result.index = bars.index
    return result


def _rolling(values: pd.Series, keys: pd.Series, window: int, how: str, ddof: int = 1) -> pd.Series:
    rolled = values.groupby(keys, sort=False).rolling(window, min_periods=window)
    out = rolled.std(ddof=ddof) if how == "std" else rolled.mean()
    return out.droplevel(0).reindex(values.index)


def _ewm(values: pd.Series, keys: pd.Series, *, alpha: float) -> pd.Series:
    out = values.groupby(keys, sort=False).ewm(alpha=alpha, adjust=False).mean()
    return out.droplevel(0).reindex(values.index)


def build_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Per-row model features (columns `FEATURE_NAMES`, index of `bars`); NaN where history is too short."""
    frame = _sorted_bars(bars)
    keys = frame["ticker"]
    by_ticker = frame.groupby("ticker", sort=False)
    close, high, low, volume = frame["close"], frame["high"], frame["low"], frame["volume"]
    position = by_ticker.cumcount()
    prev_close = by_ticker["close"].shift(1)

    out = pd.DataFrame(index=frame.index)
    out["ret_1"] = close / prev_close - 1.0
    for n in (5, 10, 20):
        out[f"ret_{n}"] = close / by_ticker["close"].shift(n) - 1.0

    log_ret = np.log(close / prev_close)
    out["vol_20"] = _rolling(log_ret, keys, _VOL_N, "std")

    delta = close - prev_close
    avg_gain = _ewm(delta.clip(lower=0.0), keys, alpha=1.0 / _RSI_N)
    avg_loss = _ewm((-delta).clip(lower=0.0), keys, alpha=1.0 / _RSI_N)
    total = avg_gain + avg_loss
    # (gain - loss) / (gain + loss) == RSI / 50 - 1; a series that has not moved at all sits at the midpoint.
    rsi = ((avg_gain - avg_loss) / total.where(total > 0)).where(total > 0, 0.0)
    out["rsi_14"] = rsi.where(position >= _RSI_N)

    ema_fast = _ewm(close, keys, alpha=2.0 / (_MACD_FAST + 1))
    ema_slow = _ewm(close, keys, alpha=2.0 / (_MACD_SLOW + 1))
    macd = ema_fast - ema_slow
    signal = _ewm(macd, keys, alpha=2.0 / (_MACD_SIGNAL + 1))
    out["macd_hist_rel"] = ((macd - signal) / close).where(position >= _MACD_SLOW + _MACD_SIGNAL - 2)

    sma20 = _rolling(close, keys, _BB_N, "mean")
    sd20 = _rolling(close, keys, _BB_N, "std", ddof=0)
    pctb = (close - (sma20 - 2.0 * sd20)) / (4.0 * sd20.where(sd20 > 0))
    out["bb_pctb"] = pctb.where(sd20.isna() | (sd20 > 0), 0.5)

    out["dist_sma50"] = close / _rolling(close, keys, 50, "mean") - 1.0
    out["dist_sma200"] = close / _rolling(close, keys, 200, "mean") - 1.0

    mean_volume = _rolling(volume, keys, _VOL_N, "mean")
    out["log_volume_ratio"] = np.log((volume + 1.0) / (mean_volume + 1.0))

    true_range = pd.concat([high - low, (high - prev_close).abs(), (low - prev_close).abs()], axis=1).max(axis=1)
    atr = _ewm(true_range, keys, alpha=1.0 / _ATR_N)
    out["atr_14_rel"] = (atr / close).where(position >= _ATR_N)
    out["range_rel"] = (high - low) / close

    out = out[FEATURE_NAMES].replace([np.inf, -np.inf], np.nan)
    return _back_to_caller(out, bars)


def build_labels(bars: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Forward `horizon`-bar return, direction (1 up / 0 down) and the ts the label ends at; NaN at the tail."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1 bar")
    frame = _sorted_bars(bars)
    by_ticker = frame.groupby("ticker", sort=False)
    future_close = by_ticker["close"].shift(-horizon)
    fwd_return = future_close / frame["close"] - 1.0
    labels = pd.DataFrame({
        "fwd_return": fwd_return,
        "direction": (fwd_return > 0).astype("float64").where(fwd_return.notna()),
        "label_end_ts": by_ticker["ts"].shift(-horizon),
    }, index=frame.index)
    return _back_to_caller(labels, bars)


def latest_features(bars: pd.DataFrame) -> pd.DataFrame:
    """Features of each ticker's newest bar (index ticker, columns `ts` + `FEATURE_NAMES`); incomplete rows left out."""
    features = build_features(bars).reset_index(drop=True)
    frame = bars[["ticker", "ts"]].reset_index(drop=True)
    newest = frame.groupby(frame["ticker"].astype(str))["ts"].idxmax()
    rows = features.loc[newest.to_numpy()]
    rows.index = newest.index.rename("ticker")
    rows.insert(0, "ts", frame.loc[newest.to_numpy(), "ts"].to_numpy())
    return rows[rows[FEATURE_NAMES].notna().all(axis=1)]
