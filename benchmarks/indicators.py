"""Indicator speed: the numba batch path against per-ticker TA-Lib and pandas-ta loops.

BB(20, 2) + RSI(14) + MACD(12, 26, 9) on (a) 3,000 pseudo-tickers x 250 daily bars cut from the real
501-ticker S&P 500 file and (b) that whole file. Run: .venv/bin/python benchmarks/indicators.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas_ta as ta
import talib

from signalhub.indicators.compute import compute_indicators_arrays, compute_indicators_batch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "sp500_daily_2018-01-02_2023-06-29.csv.gz"
COLUMNS = ["bb_upper", "bb_middle", "bb_lower", "rsi_14", "macd", "macd_signal", "macd_hist"]
WINDOW = 250


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time in seconds over `repeats` runs (garbage collector off while timing), last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        result = None
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            result = run()
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
    return best, result


def load() -> pd.DataFrame:
    """The 501-ticker file as a long frame, grouped by ticker and ascending in ts."""
    raw = pd.read_csv(DATA)
    raw["ts"] = pd.to_datetime(raw["date"], utc=True)
    frame = raw[["ticker", "ts", "open", "high", "low", "close", "volume"]]
    return frame.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)


def pseudo_tickers(frame: pd.DataFrame, count: int) -> tuple[pd.DataFrame, str]:
    """`count` tickers of WINDOW bars: non-overlapping windows of each real ticker, then half-shifted ones."""
    pieces: list[pd.DataFrame] = []
    groups = [group for _, group in frame.groupby("ticker", sort=True)]
    shifted = 0
    for offset in (0, WINDOW // 2):
        for group in groups:
            for k, start in enumerate(range(offset, len(group) - WINDOW + 1, WINDOW)):
                if len(pieces) == count:
                    break
                piece = group.iloc[start:start + WINDOW].copy()
                piece["ticker"] = f"{group['ticker'].iat[0]}#{offset}-{k}"
                pieces.append(piece)
                shifted += offset > 0
    if len(pieces) < count:
        raise SystemExit(f"only {len(pieces)} windows of {WINDOW} bars available")
    note = (f"{count - shifted:,} non-overlapping {WINDOW}-bar windows of the real tickers"
            + (f" + {shifted:,} windows shifted by {WINDOW // 2} bars (these overlap the first set)"
               if shifted else ""))
    return pd.concat(pieces, ignore_index=True), note


def talib_loop(closes: list[np.ndarray]) -> list[tuple[Any, ...]]:
    """TA-Lib on each ticker's close array; outputs kept, as the batch path keeps its own."""
    return [(talib.BBANDS(c, 20, 2.0, 2.0, 0), talib.RSI(c, 14), talib.MACD(c, 12, 26, 9)) for c in closes]


def pandas_ta_loop(closes: list[pd.Series]) -> list[tuple[Any, ...]]:
    """pandas-ta's own functions (TA-Lib off) on each ticker's close Series; outputs kept."""
    return [(ta.bbands(c, 20, 2.0, 2.0, ddof=0, talib=False), ta.rsi(c, 14, talib=False),
             ta.macd(c, 12, 26, 9, talib=False)) for c in closes]


def as_columns(outputs: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    """TA-Lib's per-ticker outputs stacked into long columns, the shape of the batch path's output."""
    parts = {"bb_upper": [r[0][0] for r in outputs], "bb_middle": [r[0][1] for r in outputs],
             "bb_lower": [r[0][2] for r in outputs], "rsi_14": [r[1] for r in outputs],
             "macd": [r[2][0] for r in outputs], "macd_signal": [r[2][1] for r in outputs],
             "macd_hist": [r[2][2] for r in outputs]}
    return {col: np.concatenate(arrays) for col, arrays in parts.items()}


def max_difference(batch: pd.DataFrame, reference: dict[str, np.ndarray]) -> tuple[float, float]:
    """Largest |batch - TA-Lib| over all rows and columns, absolute and relative to |TA-Lib| (>= 1)."""
    worst_abs = worst_rel = 0.0
    for col, want in reference.items():
        got = batch[col].to_numpy()
        if not np.array_equal(np.isnan(got), np.isnan(want)):
            raise SystemExit(f"{col}: NaN positions differ from TA-Lib")
        diff = np.abs(got - want)[~np.isnan(want)]
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float((diff / np.maximum(np.abs(want[~np.isnan(want)]), 1.0)).max()))
    return worst_abs, worst_rel


def run(label: str, frame: pd.DataFrame, repeats: int, slow_repeats: int) -> None:
    """Time every path on one dataset and print the figures and ratios."""
    print(f"\n{label}: {frame['ticker'].nunique():,} tickers, {len(frame):,} rows")
    by_category = frame.astype({"ticker": "category"})
    starts = np.r_[0, np.cumsum(frame.groupby("ticker", sort=False).size().to_numpy())]
    close = frame["close"].to_numpy()
    closes = [close[a:b] for a, b in itertools.pairwise(starts)]
    close_series = [pd.Series(c) for c in closes]

    t_cat, batch = best_of(repeats, lambda: compute_indicators_batch(by_category, columns=COLUMNS))
    t_str, _ = best_of(repeats, lambda: compute_indicators_batch(frame, columns=COLUMNS))
    t_core, _ = best_of(repeats, lambda: compute_indicators_arrays(close, starts, columns=COLUMNS))
    t_fresh, _ = best_of(repeats, lambda: np.empty((len(COLUMNS), len(frame))).fill(0.0))
    t_talib, _ = best_of(repeats, lambda: talib_loop(closes))
    t_talib_long, reference = best_of(repeats, lambda: as_columns(talib_loop(closes)))
    worst_abs, worst_rel = max_difference(batch, reference)
    del batch, reference
    # Last: its millions of small objects would fragment the heap under the other paths.
    t_pta, _ = best_of(slow_repeats, lambda: pandas_ta_loop(close_series))

    ms = 1000.0
    mb = len(COLUMNS) * len(frame) * 8 / 1e6
    print("  batch      compute_indicators_batch, long frame in -> long frame out (finds each ticker's rows,"
          " builds the frame)")
    print(f"               ticker column categorical {t_cat * ms:10.1f} ms")
    print(f"               ticker column str         {t_str * ms:10.1f} ms")
    print(f"  batch core compute_indicators_arrays, flat close + ticker offsets in -> arrays out"
          f" {t_core * ms:8.1f} ms")
    print(f"               (for scale: np.empty + fill of an output-sized {mb:.0f} MB block alone takes"
          f" {t_fresh * ms:.1f} ms)")
    print(f"  TA-Lib     BBANDS, RSI, MACD per ticker on ready-split numpy arrays, outputs kept"
          f" {t_talib * ms:8.1f} ms")
    print(f"  TA-Lib     the same, then its outputs stacked into long columns like the batch's output"
          f" {t_talib_long * ms:8.1f} ms")
    print(f"  pandas-ta  bbands, rsi, macd (talib=False) per ticker on ready-split Series, outputs kept"
          f" {t_pta * ms:8.1f} ms")
    print(f"  batch vs TA-Lib over all rows: max abs diff {worst_abs:.1e}, max diff relative to max(|TA-Lib|, 1)"
          f" {worst_rel:.1e}")
    print(f"  batch / TA-Lib    (target <= 1.0): categorical {t_cat / t_talib:.2f}, str {t_str / t_talib:.2f},"
          f" core {t_core / t_talib:.2f}; against TA-Lib with stacked output: categorical"
          f" {t_cat / t_talib_long:.2f}, str {t_str / t_talib_long:.2f}")
    print(f"  pandas-ta / batch (target >= 20):  categorical {t_pta / t_cat:.0f}x, str {t_pta / t_str:.0f}x,"
          f" core {t_pta / t_core:.0f}x")


def main() -> None:
    """Build both datasets, warm the kernels up, and run the comparisons."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300 pseudo-tickers and 100 real ones, fewer repeats")
    args = parser.parse_args()
    frame = load()
    if args.quick:
        keep = frame["ticker"].drop_duplicates().iloc[:100]
        whole = frame[frame["ticker"].isin(keep)].reset_index(drop=True)
        count, repeats, slow_repeats = 300, 5, 1
    else:
        whole, count, repeats, slow_repeats = frame, 3_000, 15, 3
    windows, note = pseudo_tickers(frame, count)

    started = time.perf_counter()
    compute_indicators_batch(windows.head(1000).astype({"ticker": "category"}), columns=COLUMNS)
    compute_indicators_batch(windows.head(1000), columns=COLUMNS)
    compute_indicators_arrays(windows["close"].to_numpy()[:500], [0, 250, 500], columns=COLUMNS)
    print("numba kernels (single-threaded) compiled or loaded from cache before timing"
          f" ({time.perf_counter() - started:.1f} s, not counted)")
    print(f"best of {repeats} runs (pandas-ta: best of {slow_repeats}); the per-ticker arrays/Series for TA-Lib and"
          " pandas-ta are split from the long frame before timing")
    run(f"(a) {count:,} x {WINDOW} bars: {note}", windows, repeats, slow_repeats)
    run("(b) whole S&P 500 file" if not args.quick else "(b) first 100 tickers of the S&P 500 file",
        whole, repeats, slow_repeats)


if __name__ == "__main__":
    main()
