"""Technical indicators for one ticker (pandas-ta) or many at once (numba), both equal to TA-Lib.

Definitions follow TA-Lib exactly, including its seeding and its NaN warm-up (`LOOKBACK`):
RSI(14) and ATR(14) are Wilder-smoothed from the simple mean of their first 14 values; MACD(12, 26, 9)
seeds both EMAs at bar 25 (TA-Lib seeds the fast EMA with the mean of closes 14..25, not 0..11) and
starts all three outputs at bar 33; Stochastic(14, 3, 3) is slow %K = SMA3 of fast %K and %D = SMA3 of
slow %K; Bollinger bands use the population standard deviation around the SMA. As in TA-Lib, RSI is 0
while average gain and loss are both exactly 0, and fast %K is 0 when the 14-bar high equals the low.
(Reference: TA-Lib C 0.8.1 via the `ta-lib` 0.8.2 wheel; older TA-Lib releases zeroed tiny variances
and RSI denominators below a 1e-8 / 1e-14 epsilon, which this module deliberately does not copy.)

`WARMUP` is a different, larger number for the recursive indicators: the bars after which a value no
longer depends (beyond 1e-8 relative) on where the loaded history starts.

Rows must not contain missing OHLC values (drop such bars first); a NaN in the middle of a series
poisons every later value of the recursive indicators, as in TA-Lib.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numba
import numpy as np
import pandas as pd
import pandas_ta as ta
from numpy.lib.stride_tricks import sliding_window_view

INDICATOR_COLUMNS: list[str] = [
    "rsi_14",
    "macd", "macd_signal", "macd_hist",
    "stoch_k", "stoch_d",
    "sma_20", "sma_50", "sma_200",
    "bb_upper", "bb_middle", "bb_lower",
    "bb5_upper", "bb5_middle", "bb5_lower",
    "atr_14",
    "volume_avg_20",
]

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
STOCH_K, STOCH_SMOOTH_K, STOCH_D = 14, 3, 3
BB_PERIOD, BB5_PERIOD, BB_STDDEV = 20, 5, 2.0
ATR_PERIOD = 14
VOLUME_PERIOD = 20

# Groups of columns computed together, with the price inputs they need.
_GROUPS: dict[str, tuple[str, ...]] = {
    "rsi": ("rsi_14",),
    "macd": ("macd", "macd_signal", "macd_hist"),
    "stoch": ("stoch_k", "stoch_d"),
    "sma_20": ("sma_20",),
    "sma_50": ("sma_50",),
    "sma_200": ("sma_200",),
    "bb": ("bb_upper", "bb_middle", "bb_lower"),
    "bb5": ("bb5_upper", "bb5_middle", "bb5_lower"),
    "atr": ("atr_14",),
    "volume_avg_20": ("volume_avg_20",),
}
_GROUP_OF = {col: group for group, cols in _GROUPS.items() for col in cols}

# Leading bars that are NaN: TA-Lib's lookback for each column.
LOOKBACK: dict[str, int] = {
    "rsi_14": RSI_PERIOD,
    "macd": MACD_SLOW + MACD_SIGNAL - 2, "macd_signal": MACD_SLOW + MACD_SIGNAL - 2,
    "macd_hist": MACD_SLOW + MACD_SIGNAL - 2,
    "stoch_k": STOCH_K + STOCH_SMOOTH_K + STOCH_D - 3, "stoch_d": STOCH_K + STOCH_SMOOTH_K + STOCH_D - 3,
    "sma_20": 19, "sma_50": 49, "sma_200": 199,
    "bb_upper": BB_PERIOD - 1, "bb_middle": BB_PERIOD - 1, "bb_lower": BB_PERIOD - 1,
    "bb5_upper": BB5_PERIOD - 1, "bb5_middle": BB5_PERIOD - 1, "bb5_lower": BB5_PERIOD - 1,
    "atr_14": ATR_PERIOD,
    "volume_avg_20": VOLUME_PERIOD - 1,
}

# Leading bars whose values depend on where the history starts. Windowed indicators are exact once
# defined; the recursive ones forget their seed geometrically (RSI/ATR by 13/14 a bar, the slow MACD EMA
# by 25/27), and these counts bring that dependence below 1e-8 relative on the bundled data, with margin
# (tests/indicators checks it by truncating histories).
WARMUP: dict[str, int] = {
    **LOOKBACK,
    "rsi_14": 300,
    "macd": 250, "macd_signal": 250, "macd_hist": 250,
    "atr_14": 300,
}


def warmup_bars(column: str) -> int:
    """Leading bars of `column` that are NaN or still depend on where the history starts."""
    return WARMUP[column]


def _resolve_columns(columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(INDICATOR_COLUMNS)
    cols = list(columns)
    unknown = [c for c in cols if c not in _GROUP_OF]
    if unknown:
        raise ValueError(f"unknown indicator columns: {unknown}")
    if len(set(cols)) != len(cols):
        raise ValueError("indicator columns must not repeat")
    return cols


def _needed_groups(cols: Sequence[str]) -> list[str]:
    wanted = {_GROUP_OF[c] for c in cols}
    return [g for g in _GROUPS if g in wanted]


# ---------------------------------------------------------------------------------------------------
# Single ticker: pandas-ta (talib=False everywhere, so TA-Lib is never used even when installed)
# ---------------------------------------------------------------------------------------------------

def _full(result: pd.Series | None, index: pd.Index) -> pd.Series:
    # pandas-ta returns None when a series is shorter than the indicator needs.
    if result is None:
        return pd.Series(np.nan, index=index, dtype="float64")
    return result.reindex(index)


def _wilder(values: pd.Series, length: int) -> pd.Series:
    # ta.rma starts from the first value; TA-Lib seeds with the mean of the first `length` values
    # (bars 1..length, bar 0 having no previous close), so place that seed and let ta.rma recurse.
    if len(values) <= length:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    seeded = values.copy()
    seeded.iloc[:length] = np.nan
    seeded.iloc[length] = values.iloc[1:length + 1].mean()
    return _full(ta.rma(seeded, length=length), values.index)


def _single_rsi(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    change = close.diff()
    gain = _wilder(change.clip(lower=0.0), RSI_PERIOD)
    loss = _wilder((-change).clip(lower=0.0), RSI_PERIOD)
    total = gain + loss
    rsi = 100.0 * (gain / total)
    rsi[total == 0.0] = 0.0
    return {"rsi_14": rsi}


def _single_macd(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    # ta.macd seeds the fast EMA at bar 11; TA-Lib seeds both EMAs at bar 25 (the fast one with the mean
    # of closes 14..25), so build MACD from ta.ema on the matching slices.
    index = close.index
    fast = _full(ta.ema(close.iloc[MACD_SLOW - MACD_FAST:], length=MACD_FAST, talib=False), index)
    slow = _full(ta.ema(close, length=MACD_SLOW, talib=False), index)
    macd = fast - slow
    signal = _full(ta.ema(macd.iloc[MACD_SLOW - 1:], length=MACD_SIGNAL, talib=False), index)
    return {"macd": macd, "macd_signal": signal, "macd_hist": macd - signal}


def _single_stoch(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    # Only the raw fast %K is taken from ta.stoch (smooth_k=1): with smoothing its inner ta.ma("sma")
    # calls ignore talib=False and would run TA-Lib when installed, so smooth with ta.sma instead.
    index = close.index
    stoch = ta.stoch(high, low, close, k=STOCH_K, d=STOCH_D, smooth_k=1, mamode="sma", talib=False)
    fast_k = _full(None if stoch is None else stoch.iloc[:, 0], index)
    slow_k = _full(ta.sma(fast_k, length=STOCH_SMOOTH_K, talib=False), index)
    slow_d = _full(ta.sma(slow_k, length=STOCH_D, talib=False), index)
    return {"stoch_k": slow_k, "stoch_d": slow_d}


def _window_deviation(values: np.ndarray, length: int) -> np.ndarray:
    # Population standard deviation of each full window, two-pass per window.
    out = np.full(values.shape, np.nan)
    if len(values) >= length:
        windows = sliding_window_view(values, length)
        variance = ((windows - windows.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        out[length - 1:] = np.sqrt(variance)
    return out


def _single_bbands(close: pd.Series, length: int, prefix: str) -> dict[str, pd.Series]:
    # Not ta.bbands: its pandas rolling variance accumulates rounding error over a long history (on
    # 000660.KS a perfectly flat 5-bar window late in the series got a 0.012 KRW deviation instead of 0).
    middle = _full(ta.sma(close, length=length, talib=False), close.index)
    deviation = BB_STDDEV * _window_deviation(close.to_numpy(), length)
    return {f"{prefix}_upper": middle + deviation, f"{prefix}_middle": middle,
            f"{prefix}_lower": middle - deviation}


def _single_atr(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    # ta.atr seeds with the mean of true ranges 0..13 at bar 13; TA-Lib with 1..14 at bar 14.
    true_range = _full(ta.true_range(high, low, close, talib=False, prenan=True), close.index)
    return {"atr_14": _wilder(true_range, ATR_PERIOD)}


def _single_sma(length: int, column: str) -> Callable[..., dict[str, pd.Series]]:
    def compute(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
        return {column: _full(ta.sma(close, length=length, talib=False), close.index)}
    return compute


def _single_volume(close: pd.Series, high: pd.Series, low: pd.Series, volume: pd.Series) -> dict[str, pd.Series]:
    return {"volume_avg_20": _full(ta.sma(volume, length=VOLUME_PERIOD, talib=False), volume.index)}


_SINGLE: dict[str, Callable[..., dict[str, pd.Series]]] = {
    "rsi": _single_rsi,
    "macd": _single_macd,
    "stoch": _single_stoch,
    "sma_20": _single_sma(20, "sma_20"),
    "sma_50": _single_sma(50, "sma_50"),
    "sma_200": _single_sma(200, "sma_200"),
    "bb": lambda c, h, lo, v: _single_bbands(c, BB_PERIOD, "bb"),
    "bb5": lambda c, h, lo, v: _single_bbands(c, BB5_PERIOD, "bb5"),
    "atr": _single_atr,
    "volume_avg_20": _single_volume,
}


def compute_indicators(bars: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Indicators of one ticker's bars (ts ascending) with pandas-ta: ts + columns, NaN during LOOKBACK."""
    cols = _resolve_columns(columns)
    ts = bars["ts"]
    if len(bars) > 1 and not ts.is_monotonic_increasing:
        raise ValueError("bars must be in ascending ts order")
    index = pd.RangeIndex(len(bars))
    series = {name: pd.Series(bars[name].to_numpy(dtype=np.float64), index=index)
              for name in ("close", "high", "low", "volume") if name in bars.columns}
    values: dict[str, pd.Series] = {}
    for group in _needed_groups(cols):
        values.update(_SINGLE[group](series["close"], series.get("high"), series.get("low"),
                                     series.get("volume")))
    data: dict[str, object] = {"ts": ts.array}
    for col in cols:
        column = values[col].to_numpy(dtype=np.float64, copy=True)
        # Match TA-Lib's warm-up (e.g. the MACD line exists from bar 25 but TA-Lib starts it at 33).
        column[:LOOKBACK[col]] = np.nan
        data[col] = column
    return pd.DataFrame(data, index=bars.index)


# ---------------------------------------------------------------------------------------------------
# Batch: numba kernels over flat arrays holding each ticker's bars back to back; starts[i]..starts[i+1]
# is ticker i. The arithmetic follows TA-Lib's C code operation by operation, so results match it to
# the last bit or nearly so.
# ---------------------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _nan_head(out: np.ndarray, a: int, b: int, count: int) -> None:
    for i in range(a, min(a + count, b)):
        out[i] = np.nan


@numba.njit(cache=True, parallel=True)
def _sma_kernel(x: np.ndarray, starts: np.ndarray, n: int, out: np.ndarray) -> None:
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(out, a, b, n - 1)
        if b - a < n:
            continue
        total = 0.0
        for i in range(a, a + n - 1):
            total += x[i]
        for i in range(a + n - 1, b):
            total += x[i]
            current = total
            total -= x[i - n + 1]
            out[i] = current / n


@numba.njit(cache=True)
def _anchored_sums(x: np.ndarray, lo: int, hi: int, anchor: float) -> tuple[float, float]:
    s1 = 0.0
    s2 = 0.0
    for j in range(lo, hi):
        d = x[j] - anchor
        s1 += d
        s2 += d * d
    return s1, s2


@numba.njit(cache=True, parallel=True)
def _bbands_kernel(x: np.ndarray, starts: np.ndarray, n: int, k: float,
                   upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> None:
    # Middle band: TA-Lib's running-sum SMA. Deviation: sums of x - anchor over the window, with the
    # anchor a recent price (re-anchored every n bars), so E[d^2] - E[d]^2 cancels little; when the
    # variance is tiny next to what passed through the sums since the last re-anchor (a flat window
    # after a move), redo the window exactly. TA-Lib's own variance is exact to ~1e-15 relative.
    inv = 1.0 / n
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(upper, a, b, n - 1)
        _nan_head(middle, a, b, n - 1)
        _nan_head(lower, a, b, n - 1)
        if b - a < n:
            continue
        total = 0.0
        for i in range(a, a + n - 1):
            total += x[i]
        anchor = 0.0
        s1 = 0.0
        s2 = 0.0
        peak = 0.0
        left = 0
        for i in range(a + n - 1, b):
            total += x[i]
            mean = total / n
            total -= x[i - n + 1]
            if left == 0:
                anchor = x[i]
                s1, s2 = _anchored_sums(x, i - n + 1, i + 1, anchor)
                peak = s2
                left = n
            else:
                d_in = x[i] - anchor
                d_out = x[i - n] - anchor
                s1 += d_in - d_out
                s2 += d_in * d_in - d_out * d_out
                peak = max(peak, s2)
            left -= 1
            m = s1 * inv
            variance = s2 * inv - m * m
            if variance * 1e6 < peak * inv:
                anchor = x[i]
                s1, s2 = _anchored_sums(x, i - n + 1, i + 1, anchor)
                peak = s2
                left = n - 1
                m = s1 * inv
                acc = 0.0
                for j in range(i - n + 1, i + 1):
                    d = (x[j] - anchor) - m
                    acc += d * d
                variance = acc * inv
            deviation = math.sqrt(variance) * k
            middle[i] = mean
            upper[i] = mean + deviation
            lower[i] = mean - deviation


@numba.njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@numba.njit(cache=True, parallel=True)
def _rsi_kernel(x: np.ndarray, starts: np.ndarray, n: int, out: np.ndarray) -> None:
    # Wilder's (prev * (n-1) + new) / n as prev * (1 - 1/n) + new / n: no division on the recurrence,
    # same value to a few ulp.
    keep = (n - 1) / n
    inv = 1.0 / n
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(out, a, b, n)
        if b - a <= n:
            continue
        gain = 0.0
        loss = 0.0
        for i in range(a + 1, a + n + 1):
            change = x[i] - x[i - 1]
            gain += 0.0 if change < 0.0 else change
            loss += -change if change < 0.0 else 0.0
        gain /= n
        loss /= n
        out[a + n] = _rsi_value(gain, loss)
        for i in range(a + n + 1, b):
            change = x[i] - x[i - 1]
            gain = gain * keep + (0.0 if change < 0.0 else change) * inv
            loss = loss * keep + (-change if change < 0.0 else 0.0) * inv
            out[i] = _rsi_value(gain, loss)


@numba.njit(cache=True, parallel=True)
def _macd_kernel(x: np.ndarray, starts: np.ndarray, fast_n: int, slow_n: int, signal_n: int,
                 macd: np.ndarray, signal: np.ndarray, hist: np.ndarray) -> None:
    k_fast = 2.0 / (fast_n + 1)
    k_slow = 2.0 / (slow_n + 1)
    k_signal = 2.0 / (signal_n + 1)
    first = slow_n + signal_n - 2
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(macd, a, b, first)
        _nan_head(signal, a, b, first)
        _nan_head(hist, a, b, first)
        if b - a <= first:
            continue
        seed = a + slow_n - 1
        slow = 0.0
        for i in range(a, seed + 1):
            slow += x[i]
        slow /= slow_n
        fast = 0.0
        for i in range(seed - fast_n + 1, seed + 1):
            fast += x[i]
        fast /= fast_n
        line = fast - slow
        signal_sum = line
        for i in range(seed + 1, a + first + 1):
            fast = ((x[i] - fast) * k_fast) + fast
            slow = ((x[i] - slow) * k_slow) + slow
            line = fast - slow
            signal_sum += line
        average = signal_sum / signal_n
        macd[a + first] = line
        signal[a + first] = average
        hist[a + first] = line - average
        for i in range(a + first + 1, b):
            fast = ((x[i] - fast) * k_fast) + fast
            slow = ((x[i] - slow) * k_slow) + slow
            line = fast - slow
            average = ((line - average) * k_signal) + average
            macd[i] = line
            signal[i] = average
            hist[i] = line - average


@numba.njit(cache=True, parallel=True)
def _stoch_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, starts: np.ndarray,
                  k_n: int, slow_k_n: int, d_n: int, slow_k: np.ndarray, slow_d: np.ndarray) -> None:
    first_fast = k_n - 1
    first_slow_k = first_fast + slow_k_n - 1
    first = first_slow_k + d_n - 1
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        fast = np.empty(slow_k_n)
        _nan_head(slow_k, a, b, first)
        _nan_head(slow_d, a, b, first)
        if b - a <= first:
            continue
        # Fast %K and slow %K go into rolling scratch slots; slow %K before `first` is parked in slow_k.
        k_total = 0.0
        d_total = 0.0
        for i in range(a + first_fast, b):
            highest = high[i]
            lowest = low[i]
            for j in range(i - k_n + 1, i):
                if high[j] > highest:
                    highest = high[j]
                if low[j] < lowest:
                    lowest = low[j]
            diff = (highest - lowest) / 100.0
            fast_i = (close[i] - lowest) / diff if diff != 0.0 else 0.0
            fast[(i - a) % fast.size] = fast_i
            k_total += fast_i
            if i < a + first_slow_k:
                continue
            k_value = k_total / slow_k_n
            k_total -= fast[(i - a - slow_k_n + 1) % fast.size]
            slow_k[i] = k_value
            d_total += k_value
            if i < a + first:
                continue
            slow_d[i] = d_total / d_n
            d_total -= slow_k[i - d_n + 1]
        for i in range(a + first_slow_k, min(a + first, b)):
            slow_k[i] = np.nan


@numba.njit(cache=True, parallel=True)
def _atr_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, starts: np.ndarray, n: int,
                out: np.ndarray) -> None:
    for s in numba.prange(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(out, a, b, n)
        if b - a <= n:
            continue
        atr = 0.0
        for i in range(a + 1, b):
            true_range = high[i] - low[i]
            up = abs(close[i - 1] - high[i])
            if up > true_range:
                true_range = up
            down = abs(close[i - 1] - low[i])
            if down > true_range:
                true_range = down
            if i < a + n:
                atr += true_range
            elif i == a + n:
                atr = (atr + true_range) / n
                out[i] = atr
            else:
                atr *= n - 1
                atr += true_range
                atr /= n
                out[i] = atr


# The kernels run in numba's thread pool (prange over tickers). Its fallback "workqueue" layer (used when
# neither TBB nor OpenMP is installed) aborts the process on concurrent launches, so one batch at a time.
_KERNEL_LOCK = threading.Lock()


def _block(close: np.ndarray, high: np.ndarray | None, low: np.ndarray | None,
           volume: np.ndarray | None, starts: np.ndarray, cols: list[str]) -> np.ndarray:
    # One row per requested column, in the requested order, then scratch rows for the other columns of
    # the needed groups (kernels write whole groups); the result is the leading rows, without a copy.
    groups = _needed_groups(cols)
    names = cols + [c for g in groups for c in _GROUPS[g] if c not in cols]
    row = {name: i for i, name in enumerate(names)}
    block = np.empty((len(names), close.size))
    with _KERNEL_LOCK:
        for group in groups:
            out = [block[row[c]] for c in _GROUPS[group]]
            if group == "rsi":
                _rsi_kernel(close, starts, RSI_PERIOD, *out)
            elif group == "macd":
                _macd_kernel(close, starts, MACD_FAST, MACD_SLOW, MACD_SIGNAL, *out)
            elif group == "stoch":
                _stoch_kernel(_require(high, "high"), _require(low, "low"), close, starts, STOCH_K,
                              STOCH_SMOOTH_K, STOCH_D, *out)
            elif group in ("bb", "bb5"):
                _bbands_kernel(close, starts, BB_PERIOD if group == "bb" else BB5_PERIOD, BB_STDDEV, *out)
            elif group == "atr":
                _atr_kernel(_require(high, "high"), _require(low, "low"), close, starts, ATR_PERIOD, *out)
            elif group == "volume_avg_20":
                _sma_kernel(_require(volume, "volume"), starts, VOLUME_PERIOD, *out)
            else:
                _sma_kernel(close, starts, int(group.removeprefix("sma_")), *out)
    return block[:len(cols)]


def _require(values: np.ndarray | None, name: str) -> np.ndarray:
    if values is None:
        raise ValueError(f"{name} is needed for the requested indicators")
    return values


def _float_array(values: np.ndarray | pd.Series | None) -> np.ndarray | None:
    if values is None:
        return None
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def compute_indicators_arrays(close: np.ndarray, starts: np.ndarray, high: np.ndarray | None = None,
                              low: np.ndarray | None = None, volume: np.ndarray | None = None,
                              columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Batch core on flat arrays holding tickers back to back (ticker i is rows starts[i]..starts[i+1])."""
    cols = _resolve_columns(columns)
    close_ = _float_array(close)
    assert close_ is not None
    bounds = np.ascontiguousarray(np.asarray(starts, dtype=np.int64))
    if bounds.size < 1 or bounds[0] != 0 or bounds[-1] != close_.size or np.any(np.diff(bounds) < 0):
        raise ValueError("starts must run from 0 to len(close) in non-decreasing order")
    block = _block(close_, _float_array(high), _float_array(low), _float_array(volume), bounds, cols)
    return dict(zip(cols, block, strict=True))


def _time_keys(ts: pd.Series) -> np.ndarray:
    values = ts.array
    if not hasattr(values, "asi8"):
        values = pd.to_datetime(ts, utc=True).array
    return values.asi8


def _ticker_keys(tickers: pd.Series) -> np.ndarray:
    if isinstance(tickers.dtype, pd.CategoricalDtype):
        return tickers.cat.codes.to_numpy()
    return tickers.to_numpy()


def _segments(tickers: pd.Series, ts: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    # Returns the row order that puts each ticker's bars together in time order (None when the frame
    # already is so), and the segment starts in that order.
    keys = _ticker_keys(tickers)
    times = _time_keys(ts)
    n = keys.size
    order = None
    starts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    step = np.diff(times)
    ascending = step > 0
    ascending[starts - 1] = True
    if not ascending.all() or len(pd.unique(keys[np.r_[0, starts]])) != starts.size + 1:
        codes = pd.factorize(keys)[0]
        order = np.lexsort((times, codes))
        codes, times = codes[order], times[order]
        starts = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        ascending = np.diff(times) > 0
        ascending[starts - 1] = True
        if not ascending.all():
            raise ValueError("duplicate (ticker, ts) rows")
    return order, np.concatenate(([0], starts, [n])).astype(np.int64)


def compute_indicators_batch(panel: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Indicators of many tickers at once: ticker, ts + columns, in the input's row order and index."""
    cols = _resolve_columns(columns)
    if panel.empty:
        frame = pd.DataFrame({"ticker": panel["ticker"], "ts": panel["ts"]})
        for col in cols:
            frame[col] = pd.Series(dtype="float64")
        return frame
    order, starts = _segments(panel["ticker"], panel["ts"])
    needed = {"close"}
    groups = _needed_groups(cols)
    if {"stoch", "atr"} & set(groups):
        needed |= {"high", "low"}
    if "volume_avg_20" in groups:
        needed.add("volume")
    arrays: dict[str, np.ndarray | None] = {}
    for name in ("close", "high", "low", "volume"):
        values = panel[name].to_numpy(dtype=np.float64) if name in needed else None
        arrays[name] = values[order] if values is not None and order is not None else values
    block = _block(_float_array(arrays["close"]), _float_array(arrays["high"]),  # type: ignore[arg-type]
                          _float_array(arrays["low"]), _float_array(arrays["volume"]), starts, cols)
    if order is not None:
        unsorted = np.empty_like(block)
        unsorted[:, order] = block
        block = unsorted
    frame = pd.DataFrame(block.T, index=panel.index, columns=cols, copy=False)
    frame.insert(0, "ts", panel["ts"].array)
    frame.insert(0, "ticker", panel["ticker"].array)
    return frame
