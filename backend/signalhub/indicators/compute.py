"""Technical indicators for one ticker (pandas-ta) or many at once (numba), both equal to TA-Lib.

`compute_indicators` is the single-ticker path, built from pandas-ta functions with talib=False;
`compute_indicators_batch` (long frame) and `compute_indicators_arrays` (flat arrays) are the batch path.
Both follow TA-Lib's definitions, seeding and NaN warm-up (`LOOKBACK`): RSI(14) and ATR(14) are Wilder
averages seeded with the plain mean of their first 14 values; MACD(12, 26, 9) seeds both EMAs at bar 25
(the fast one with the mean of closes 14..25) and starts all three outputs at bar 33; Stochastic(14, 3, 3)
is slow %K = SMA3 of fast %K, %D = SMA3 of slow %K; Bollinger bands are the SMA +- 2 population standard
deviations. RSI is 0 while the average gain and loss are both exactly 0, fast %K is 0 when the 14-bar
high equals the low, and a flat window has bands of width 0. (Reference: TA-Lib C 0.8.1 from the
`ta-lib` 0.8.2 wheel, which no longer zeroes small variances or RSI denominators below an epsilon.)

`WARMUP` is larger for the recursive indicators: the bars after which a value no longer depends on where
the loaded history starts.

Bars must not miss OHLC values (drop such bars first): a NaN poisons the rest of a recursive indicator,
as in TA-Lib.
"""

from __future__ import annotations

import math
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

# Groups of columns computed together.
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
# Price inputs per group; the others need only close.
_INPUTS: dict[str, tuple[str, ...]] = {
    "stoch": ("high", "low", "close"),
    "atr": ("high", "low", "close"),
    "volume_avg_20": ("volume",),
}

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

# Leading bars whose values depend on where the loaded history starts (at 1e-8 absolute + relative,
# as in the tests). Windowed indicators are exact once defined; the recursive ones forget their seed
# geometrically, RSI/ATR by 13/14 a bar and MACD's slow EMA by 25/27. Truncating the bundled histories
# at many points needed at most 269 (RSI), 260 (ATR) and 345 (MACD line, on 000660.KS at ~700,000 KRW:
# MACD's error scales with the price level) bars; tests/indicators re-checks these counts.
WARMUP: dict[str, int] = {
    **LOOKBACK,
    "rsi_14": 300,
    "macd": 400, "macd_signal": 400, "macd_hist": 400,
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


def _needed_inputs(groups: Sequence[str]) -> set[str]:
    return {name for g in groups for name in _INPUTS.get(g, ("close",))}


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


def _single_rsi(p: dict[str, pd.Series]) -> dict[str, pd.Series]:
    # ta.rsi cannot be used: it smooths with ta.rma from the first change instead of TA-Lib's mean of
    # the first 14 changes (and has no option for it).
    change = p["close"].diff()
    gain = _wilder(change.clip(lower=0.0), RSI_PERIOD)
    loss = _wilder((-change).clip(lower=0.0), RSI_PERIOD)
    total = gain + loss
    rsi = 100.0 * (gain / total)
    rsi[total == 0.0] = 0.0
    return {"rsi_14": rsi}


def _single_macd(p: dict[str, pd.Series]) -> dict[str, pd.Series]:
    # ta.macd seeds the fast EMA at bar 11; TA-Lib seeds both EMAs at bar 25 (the fast one with the mean
    # of closes 14..25), so build MACD from ta.ema on the matching slices.
    close = p["close"]
    fast = _full(ta.ema(close.iloc[MACD_SLOW - MACD_FAST:], length=MACD_FAST, talib=False), close.index)
    slow = _full(ta.ema(close, length=MACD_SLOW, talib=False), close.index)
    macd = fast - slow
    signal = _full(ta.ema(macd.iloc[MACD_SLOW - 1:], length=MACD_SIGNAL, talib=False), close.index)
    return {"macd": macd, "macd_signal": signal, "macd_hist": macd - signal}


def _single_stoch(p: dict[str, pd.Series]) -> dict[str, pd.Series]:
    # ta.stoch(talib=False) still smooths through ta.ma("sma") without passing talib on, i.e. with TA-Lib
    # when installed. So take only its raw fast %K (smooth_k=1; its unused %D goes through "rma", which
    # has no TA-Lib branch) and smooth with ta.sma(talib=False).
    close = p["close"]
    stoch = ta.stoch(p["high"], p["low"], close, k=STOCH_K, d=STOCH_D, smooth_k=1, mamode="rma",
                     talib=False)
    fast_k = _full(None if stoch is None else stoch.iloc[:, 0], close.index)
    slow_k = _full(ta.sma(fast_k, length=STOCH_SMOOTH_K, talib=False), close.index)
    slow_d = _full(ta.sma(slow_k, length=STOCH_D, talib=False), close.index)
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
    # Not ta.bbands: its deviation is pandas' rolling variance, which carries rounding error along the
    # history (on 000660.KS a perfectly flat 5-bar window at ~2,650 KRW got bands 0.024 KRW wide where
    # TA-Lib has 0, a 9e-6 relative miss, from error picked up when the price was ~200,000).
    middle = _full(ta.sma(close, length=length, talib=False), close.index)
    deviation = BB_STDDEV * _window_deviation(close.to_numpy(), length)
    return {f"{prefix}_upper": middle + deviation, f"{prefix}_middle": middle,
            f"{prefix}_lower": middle - deviation}


def _single_atr(p: dict[str, pd.Series]) -> dict[str, pd.Series]:
    # ta.atr seeds with the mean of true ranges 0..13 at bar 13 (bar 0's being high - low); TA-Lib with
    # the mean of 1..14 at bar 14. So: ta.true_range with bar 0 blank, seeded like TA-Lib, then ta.rma.
    close = p["close"]
    true_range = _full(ta.true_range(p["high"], p["low"], close, talib=False, prenan=True), close.index)
    return {"atr_14": _wilder(true_range, ATR_PERIOD)}


def _single_sma(source: str, length: int, column: str) -> Callable[[dict[str, pd.Series]], dict[str, pd.Series]]:
    def compute(p: dict[str, pd.Series]) -> dict[str, pd.Series]:
        return {column: _full(ta.sma(p[source], length=length, talib=False), p[source].index)}
    return compute


_SINGLE: dict[str, Callable[[dict[str, pd.Series]], dict[str, pd.Series]]] = {
    "rsi": _single_rsi,
    "macd": _single_macd,
    "stoch": _single_stoch,
    "sma_20": _single_sma("close", 20, "sma_20"),
    "sma_50": _single_sma("close", 50, "sma_50"),
    "sma_200": _single_sma("close", 200, "sma_200"),
    "bb": lambda p: _single_bbands(p["close"], BB_PERIOD, "bb"),
    "bb5": lambda p: _single_bbands(p["close"], BB5_PERIOD, "bb5"),
    "atr": _single_atr,
    "volume_avg_20": _single_sma("volume", VOLUME_PERIOD, "volume_avg_20"),
}


def _check_columns(frame: pd.DataFrame, needed: set[str]) -> None:
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(f"bars lack columns needed for the requested indicators: {missing}")


def compute_indicators(bars: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One ticker's indicators with pandas-ta: ts + columns, same rows, NaN for each column's LOOKBACK."""
    cols = _resolve_columns(columns)
    groups = _needed_groups(cols)
    needed = _needed_inputs(groups)
    _check_columns(bars, needed | {"ts"})
    ts = bars["ts"]
    if not (ts.is_monotonic_increasing and ts.is_unique):
        raise ValueError("bars must be in strictly ascending ts order")
    index = pd.RangeIndex(len(bars))
    prices = {name: pd.Series(bars[name].to_numpy(dtype=np.float64), index=index) for name in needed}
    values: dict[str, pd.Series] = {}
    for group in groups:
        values.update(_SINGLE[group](prices))
    frame = pd.DataFrame({"ts": ts.array}, index=bars.index)
    for col in cols:
        column = values[col].to_numpy(dtype=np.float64, copy=True)
        # TA-Lib's warm-up: e.g. the MACD line exists from bar 25, but TA-Lib (and the batch) start at 33.
        column[:LOOKBACK[col]] = np.nan
        frame[col] = column
    return frame


# ---------------------------------------------------------------------------------------------------
# Batch: numba kernels over flat arrays holding each ticker's bars back to back (ticker i is rows
# starts[i]..starts[i+1]); one compiled loop runs through all tickers, each a tight loop over time.
# Single-threaded on purpose: on a shared 2-core host OpenMP threads were erratic (up to 20x slower when
# the other core was busy), and workers already run one process per core. nogil lets callers' threads
# overlap. Seeding and warm-up follow TA-Lib's C code; recurrences are rearranged so that no division
# sits on the loop-carried chain (e.g. Wilder's (prev * (n-1) + x) / n as prev * (1 - 1/n) + x / n), and
# "contract" lets LLVM fuse multiply-adds. That changes results by a few ulp, not more.
# ---------------------------------------------------------------------------------------------------

_FAST = {"contract"}


@numba.njit(cache=True)
def _nan_head(out: np.ndarray, a: int, b: int, count: int) -> None:
    for i in range(a, min(a + count, b)):
        out[i] = np.nan


@numba.njit(cache=True, nogil=True)
def _sma_kernel(x: np.ndarray, starts: np.ndarray, n: int, out: np.ndarray) -> None:
    # TA-Lib's own running sum, operation for operation (so SMAs match it to the bit).
    for s in range(starts.size - 1):
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


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _bbands_kernel(x: np.ndarray, starts: np.ndarray, n: int, k: float,
                   upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> None:
    # Running window sums of d = x - anchor, the anchor being a recent price, so E[d^2] - E[d]^2 cancels
    # little and mean = anchor + E[d] is exact to ~1 ulp. The window is re-anchored on the current bar
    # and recomputed exactly whenever the variance is small next to E[d^2] (the mean has wandered
    # from the anchor) or next to the price (a flat window, where rounding left in the sums by earlier
    # bars would dominate: flat windows give exactly 0, like TA-Lib), and every 256 bars anyway.
    inv = 1.0 / n
    renew_every = 256
    for s in range(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(upper, a, b, n - 1)
        _nan_head(middle, a, b, n - 1)
        _nan_head(lower, a, b, n - 1)
        if b - a < n:
            continue
        anchor = x[a + n - 1]
        flat = 1e-16 * (anchor * anchor)
        renew = a + n - 1 + renew_every
        s1, s2 = _anchored_sums(x, a, a + n, anchor)
        for i in range(a + n - 1, b):
            if i > a + n - 1:
                d_in = x[i] - anchor
                d_out = x[i - n] - anchor
                s1 += d_in - d_out
                s2 += d_in * d_in - d_out * d_out
            m = s1 * inv
            mean_square = s2 * inv
            variance = mean_square - m * m
            if variance < 1e-4 * mean_square or variance < flat or i == renew:
                anchor = x[i]
                flat = 1e-16 * (anchor * anchor)
                renew = i + renew_every
                s1, s2 = _anchored_sums(x, i - n + 1, i + 1, anchor)
                m = s1 * inv
                variance = 0.0
                for j in range(i - n + 1, i + 1):
                    d = (x[j] - anchor) - m
                    variance += d * d
                variance *= inv
            mean = anchor + m
            deviation = math.sqrt(variance) * k
            middle[i] = mean
            upper[i] = mean + deviation
            lower[i] = mean - deviation


@numba.njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _rsi_kernel(x: np.ndarray, starts: np.ndarray, n: int, out: np.ndarray) -> None:
    keep = (n - 1) / n
    inv = 1.0 / n
    for s in range(starts.size - 1):
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


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _macd_kernel(x: np.ndarray, starts: np.ndarray, fast_n: int, slow_n: int, signal_n: int,
                 macd: np.ndarray, signal: np.ndarray, hist: np.ndarray) -> None:
    # Both EMAs are seeded at bar slow_n - 1 (TA-Lib's MACD seeds the fast one with the mean of the
    # fast_n closes ending there), the signal with the mean of the first signal_n MACD values.
    k_fast = 2.0 / (fast_n + 1)
    k_slow = 2.0 / (slow_n + 1)
    k_signal = 2.0 / (signal_n + 1)
    first = slow_n + signal_n - 2
    for s in range(starts.size - 1):
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
        average = line
        for i in range(seed + 1, a + first + 1):
            fast = fast * (1.0 - k_fast) + x[i] * k_fast
            slow = slow * (1.0 - k_slow) + x[i] * k_slow
            line = fast - slow
            average += line
        average /= signal_n
        macd[a + first] = line
        signal[a + first] = average
        hist[a + first] = line - average
        for i in range(a + first + 1, b):
            fast = fast * (1.0 - k_fast) + x[i] * k_fast
            slow = slow * (1.0 - k_slow) + x[i] * k_slow
            line = fast - slow
            average = average * (1.0 - k_signal) + line * k_signal
            macd[i] = line
            signal[i] = average
            hist[i] = line - average


@numba.njit(cache=True)
def _window_extreme(x: np.ndarray, lo: int, hi: int, sign: float) -> tuple[float, int]:
    # Largest of sign * x[lo:hi] (sign -1: smallest of x), and where; the later index on ties.
    best = x[lo]
    where = lo
    for j in range(lo + 1, hi):
        if sign * x[j] >= sign * best:
            best = x[j]
            where = j
    return best, where


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _stoch_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, starts: np.ndarray,
                  k_n: int, slow_k_n: int, d_n: int, slow_k: np.ndarray, slow_d: np.ndarray) -> None:
    # Fast %K over k_n bars, slow %K = SMA(slow_k_n) of it, %D = SMA(d_n) of slow %K, all outputs from
    # the first bar where %D exists (TA-Lib's lookback). The k_n-bar high/low are tracked with their
    # position and only rescanned when that bar leaves the window.
    first_fast = k_n - 1
    first_slow_k = first_fast + slow_k_n - 1
    first = first_slow_k + d_n - 1
    for s in range(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(slow_k, a, b, first)
        _nan_head(slow_d, a, b, first)
        if b - a <= first:
            continue
        recent = np.empty(slow_k_n)  # the last slow_k_n fast %K values, circularly
        slot = 0
        k_total = 0.0
        d_total = 0.0
        highest, highest_at = _window_extreme(high, a, a + k_n, 1.0)
        lowest, lowest_at = _window_extreme(low, a, a + k_n, -1.0)
        for i in range(a + first_fast, b):
            oldest = i - k_n + 1
            if highest_at < oldest:
                highest, highest_at = _window_extreme(high, oldest, i + 1, 1.0)
            elif high[i] >= highest:
                highest, highest_at = high[i], i
            if lowest_at < oldest:
                lowest, lowest_at = _window_extreme(low, oldest, i + 1, -1.0)
            elif low[i] <= lowest:
                lowest, lowest_at = low[i], i
            diff = (highest - lowest) / 100.0
            fast_k = (close[i] - lowest) / diff if diff != 0.0 else 0.0
            k_total += fast_k
            recent[slot] = fast_k
            slot = slot + 1 if slot + 1 < slow_k_n else 0
            if i < a + first_slow_k:
                continue
            k_value = k_total / slow_k_n
            # `slot` now points at the oldest of the last slow_k_n values, the one leaving the sum.
            k_total -= recent[slot]
            # Slow %K before `first` is parked in the output and blanked at the end.
            slow_k[i] = k_value
            d_total += k_value
            if i < a + first:
                continue
            slow_d[i] = d_total / d_n
            d_total -= slow_k[i - d_n + 1]
        _nan_head(slow_k, a, b, first)


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def _atr_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, starts: np.ndarray, n: int,
                out: np.ndarray) -> None:
    # True range from bar 1 (it needs the previous close); seed = mean of bars 1..n, then Wilder.
    keep = (n - 1) / n
    inv = 1.0 / n
    for s in range(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        _nan_head(out, a, b, n)
        if b - a <= n:
            continue
        atr = 0.0
        for i in range(a + 1, b):
            true_range = max(high[i] - low[i], abs(close[i - 1] - high[i]), abs(close[i - 1] - low[i]))
            if i < a + n:
                atr += true_range
            elif i == a + n:
                atr = (atr + true_range) / n
                out[i] = atr
            else:
                atr = atr * keep + true_range * inv
                out[i] = atr


def _block(inputs: dict[str, np.ndarray | None], starts: np.ndarray, cols: list[str]) -> np.ndarray:
    # One row per requested column, in the requested order, then scratch rows for the other columns of
    # the needed groups (kernels write whole groups); the result is the leading rows, without a copy.
    groups = _needed_groups(cols)
    for group in groups:
        missing = [name for name in _INPUTS.get(group, ("close",)) if inputs.get(name) is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} needed for {', '.join(_GROUPS[group])}")
    names = cols + [c for g in groups for c in _GROUPS[g] if c not in cols]
    row = {name: i for i, name in enumerate(names)}
    block = np.empty((len(names), starts[-1]))
    close, high, low, volume = (inputs.get(name) for name in ("close", "high", "low", "volume"))
    for group in groups:
        out = [block[row[c]] for c in _GROUPS[group]]
        if group == "rsi":
            _rsi_kernel(close, starts, RSI_PERIOD, *out)
        elif group == "macd":
            _macd_kernel(close, starts, MACD_FAST, MACD_SLOW, MACD_SIGNAL, *out)
        elif group == "stoch":
            _stoch_kernel(high, low, close, starts, STOCH_K, STOCH_SMOOTH_K, STOCH_D, *out)
        elif group in ("bb", "bb5"):
            _bbands_kernel(close, starts, BB_PERIOD if group == "bb" else BB5_PERIOD, BB_STDDEV, *out)
        elif group == "atr":
            _atr_kernel(high, low, close, starts, ATR_PERIOD, *out)
        elif group == "volume_avg_20":
            _sma_kernel(volume, starts, VOLUME_PERIOD, *out)
        else:
            _sma_kernel(close, starts, int(group.removeprefix("sma_")), *out)
    return block[:len(cols)]


def _float_array(values: np.ndarray | pd.Series | None, order: np.ndarray | None = None) -> np.ndarray | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    return np.ascontiguousarray(array if order is None else array[order])


def compute_indicators_arrays(close: np.ndarray, starts: np.ndarray, high: np.ndarray | None = None,
                              low: np.ndarray | None = None, volume: np.ndarray | None = None,
                              columns: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Batch core: tickers' bars back to back in flat arrays, ticker i in rows starts[i]:starts[i + 1]."""
    cols = _resolve_columns(columns)
    bounds = np.ascontiguousarray(np.asarray(starts, dtype=np.int64))
    inputs = {"close": _float_array(close), "high": _float_array(high), "low": _float_array(low),
              "volume": _float_array(volume)}
    size = len(close)
    if bounds.size < 1 or bounds[0] != 0 or bounds[-1] != size or np.any(np.diff(bounds) < 0):
        raise ValueError("starts must rise from 0 to len(close)")
    if any(v is not None and v.size != size for v in inputs.values()):
        raise ValueError("price arrays must have the same length")
    return dict(zip(cols, _block(inputs, bounds, cols), strict=True))


@numba.njit(cache=True)
def _rises_within_runs(changed: np.ndarray, times: np.ndarray) -> bool:
    # Whether times[i] > times[i - 1] wherever changed[i - 1] (a new ticker at i) is False.
    rises = True
    for i in range(1, times.size):
        rises &= changed[i - 1] | (times[i] > times[i - 1])
    return rises


def _runs(keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, bool]:
    # Starts of the runs of equal keys, then the end; and whether ts strictly rises within every run.
    changed = keys[1:] != keys[:-1]
    starts = np.concatenate(([0], np.flatnonzero(changed) + 1, [keys.size])).astype(np.int64)
    return starts, bool(_rises_within_runs(changed, times))


def _segments(tickers: pd.Series, ts: pd.Series) -> tuple[np.ndarray | None, np.ndarray]:
    # The row order that groups each ticker's bars in time order (None when the frame already does),
    # and the tickers' starts in that order.
    keys = tickers.array.codes if isinstance(tickers.dtype, pd.CategoricalDtype) else tickers.to_numpy()
    ts_values = ts.array
    if not hasattr(ts_values, "asi8"):
        ts_values = pd.to_datetime(ts, utc=True).array
    times = ts_values.asi8
    starts, rises = _runs(keys, times)
    if rises and len(pd.unique(keys[starts[:-1]])) == starts.size - 1:
        return None, starts
    codes = pd.factorize(keys)[0]
    order = np.lexsort((times, codes))
    starts, rises = _runs(codes[order], times[order])
    if not rises:
        raise ValueError("duplicate (ticker, ts) rows")
    return order, starts


def compute_indicators_batch(panel: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Many tickers' indicators at once: ticker, ts + columns, in the input's row order and index."""
    cols = _resolve_columns(columns)
    needed = _needed_inputs(_needed_groups(cols))
    _check_columns(panel, needed | {"ticker", "ts"})
    if panel.empty:
        return pd.DataFrame({"ticker": panel["ticker"], "ts": panel["ts"],
                             **{c: pd.Series(dtype="float64", index=panel.index) for c in cols}})
    order, starts = _segments(panel["ticker"], panel["ts"])
    inputs = {name: _float_array(panel[name], order) if name in needed else None
              for name in ("close", "high", "low", "volume")}
    block = _block(inputs, starts, cols)
    if order is not None:
        unsorted = np.empty_like(block)
        unsorted[:, order] = block
        block = unsorted
    frame = pd.DataFrame(block.T, index=panel.index, columns=cols, copy=False)
    # Inserting the index-aligned Series shares their data (.array would copy a str column).
    frame.insert(0, "ts", panel["ts"])
    frame.insert(0, "ticker", panel["ticker"])
    return frame
