"""Simulation speed: the vectorised backtest against a per-ticker Python loop of the same logic.

The project's ma_cross strategy (SMA50/200 cross confirmed by volume, the live signal code) over the whole
501-ticker S&P 500 file (2018-01-02 .. 2023-06-29, daily), all tickers in one simulation: indicators
(numba batch), strategy states, fills at the next open with slippage, commission and sizing, the
portfolio equity curve with buy-and-hold beside it, and the metrics.

- vectorised: simulations.engine as the service runs it, one pass over the long frame for all tickers.
- loop: the same steps ticker by ticker (indicators and the strategy on that ticker's rows, then a plain
  Python loop over its bars for the fills), the portfolio summed date by date in Python.
Both must give the same trades and equity curve; the script stops if they do not.

    .venv/bin/python benchmarks/simulation.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signalhub.signals import strategies
from signalhub.signals.strategies import ma_cross
from signalhub.signals.strategies.base import BUY_CODE, SELL_CODE
from signalhub.simulations import engine, metrics

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "sp500_daily_2018-01-02_2023-06-29.csv.gz"
TARGET_SECONDS = 2.0
CAPITAL = 50_000_000.0
COSTS = engine.Costs(commission_bps=1.5, slippage_bps=10.0, sell_tax_bps=0.0)
SIZING = engine.SizingRule("all_in")
COLUMNS = list(ma_cross.COLUMNS)


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
    """The 501-ticker file as a long frame, grouped by ticker (categorical) and ascending in ts."""
    raw = pd.read_csv(DATA, dtype={"ticker": "category"})
    raw["ts"] = pd.to_datetime(raw["date"], utc=True)
    frame = raw[["ticker", "ts", "open", "high", "low", "close", "volume"]].astype({"volume": "float64"})
    return frame.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)


def vectorised(bars: pd.DataFrame, params: dict[str, Any]) -> tuple[engine.Backtest, dict[str, Any]]:
    """The engine as the service runs it: all tickers at once."""
    frame = engine.indicator_frame(bars, COLUMNS)
    codes = engine.strategy_states(frame, ma_cross.NAME, params)
    start, end = frame["ts"].min(), frame["ts"].max()
    backtest = engine.run_backtest(frame, codes, start, end, CAPITAL, COSTS, SIZING)
    summary = {**metrics.performance(backtest.dates, backtest.equity, CAPITAL), **metrics.trade_stats(backtest.trades),
               "benchmark": metrics.performance(backtest.dates, backtest.benchmark, CAPITAL)}
    return backtest, summary


def _loop_one(frame: pd.DataFrame, codes: np.ndarray, capital: float) -> tuple[list[float], list[tuple]]:
    """One ticker's fills bar by bar in plain Python (the engine's rules, written out)."""
    commission, slippage, tax = COSTS.commission_bps * 1e-4, COSTS.slippage_bps * 1e-4, 0.0
    opens, closes, times = frame["open"].tolist(), frame["close"].tolist(), frame["ts"].tolist()
    cash, shares, pending = capital, 0.0, 0
    equity, trades = [], []
    for i in range(len(closes)):
        if pending == 1:
            price = opens[i] * (1 + slippage)
            qty = math.floor(cash / (price * (1 + commission)) + 1e-9)
            if qty > 0 and qty * price * (1 + commission) > cash:
                qty -= 1
            if qty > 0:
                fee = qty * price * commission
                cash -= qty * price + fee
                shares = float(qty)
                trades.append([times[i], price, shares, fee, None, math.nan, 0.0])
        elif pending == -1:
            price = opens[i] * (1 - slippage)
            gross = shares * price
            fee = gross * commission + gross * tax
            cash += gross - fee
            shares = 0.0
            trades[-1][4:7] = [times[i], price, fee]
        pending = 0
        if i + 1 < len(closes):
            if shares == 0.0 and codes[i] == BUY_CODE:
                pending = 1
            elif shares > 0.0 and codes[i] == SELL_CODE:
                pending = -1
        equity.append(cash + shares * closes[i])
    return equity, [tuple(t) for t in trades]


def loop(bars: pd.DataFrame, params: dict[str, Any]) -> tuple[pd.DatetimeIndex, np.ndarray, list[tuple]]:
    """The same simulation ticker by ticker; the portfolio summed over dates in Python."""
    groups = [(str(t), g.reset_index(drop=True)) for t, g in bars.groupby("ticker", sort=True, observed=True)]
    capital = CAPITAL / len(groups)
    by_date: dict[pd.Timestamp, float] = {}
    all_dates = sorted(set(bars["ts"].tolist()))
    trades: list[tuple] = []
    for ticker, group in groups:
        frame = engine.indicator_frame(group, COLUMNS)
        codes = engine.strategy_states(frame, ma_cross.NAME, params)
        equity, ticker_trades = _loop_one(frame, codes, capital)
        trades.extend((ticker, *t) for t in ticker_trades)
        values = dict(zip(frame["ts"].tolist(), equity, strict=True))
        last = capital
        for day in all_dates:
            last = values.get(day, last)
            by_date[day] = by_date.get(day, 0.0) + last
    return pd.DatetimeIndex(all_dates), np.array([by_date[d] for d in all_dates]), trades


def check_same(backtest: engine.Backtest, reference: tuple[pd.DatetimeIndex, np.ndarray, list[tuple]]) -> str:
    """Stop unless both paths produced the same dates, equity and trades; a one-line summary otherwise."""
    dates, equity, trades = reference
    if not backtest.dates.equals(dates):
        raise SystemExit("equity curve dates differ")
    worst = float(np.max(np.abs(backtest.equity - equity) / equity))
    if worst > 1e-12:
        raise SystemExit(f"equity curves differ (max relative difference {worst:.1e})")
    got = backtest.trades
    if len(got) != len(trades):
        raise SystemExit(f"{len(got)} trades vs {len(trades)} in the loop")
    for row, want in zip(got.itertuples(index=False), trades, strict=True):
        ticker, entry_ts, entry_price, qty, entry_fee, exit_ts, exit_price, exit_fee = want
        same = (row.ticker == ticker and row.entry_ts == entry_ts and row.qty == qty
                and row.entry_price == entry_price
                and (pd.isna(row.exit_ts) if exit_ts is None else row.exit_ts == exit_ts)
                and (exit_ts is None or row.exit_price == exit_price)
                and math.isclose(row.fees, entry_fee + exit_fee, rel_tol=1e-12))
        if not same:
            raise SystemExit(f"trade differs: {row} vs {want}")
    return f"identical trades ({len(trades):,}) and equity curves (max relative difference {worst:.1e})"


def main() -> None:
    """Warm the kernels up, time both paths, compare their results and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="first 100 tickers, fewer repeats")
    args = parser.parse_args()
    bars = load()
    if args.quick:
        keep = bars["ticker"].cat.categories[:100]
        bars = bars[bars["ticker"].isin(keep)].reset_index(drop=True)
        bars["ticker"] = bars["ticker"].cat.remove_unused_categories()
    repeats, loop_repeats = (3, 1) if args.quick else (7, 2)
    params = strategies.resolved_params(ma_cross.NAME)
    started = time.perf_counter()
    vectorised(bars.head(3000), params)
    print("numba kernels (single-threaded) compiled or loaded from cache before timing"
          f" ({time.perf_counter() - started:.1f} s, not counted)")
    tickers, rows = bars["ticker"].nunique(), len(bars)
    print(f"ma_cross {params} over {tickers:,} tickers, {rows:,} daily bars "
          f"({bars['ts'].min():%Y-%m-%d} .. {bars['ts'].max():%Y-%m-%d}), capital split equally, "
          f"commission {COSTS.commission_bps} bps, slippage {COSTS.slippage_bps} bps, all-in sizing")

    t_vec, (backtest, summary) = best_of(repeats, lambda: vectorised(bars, params))
    frame = engine.indicator_frame(bars, COLUMNS)
    codes = engine.strategy_states(frame, ma_cross.NAME, params)
    t_ind, _ = best_of(repeats, lambda: engine.indicator_frame(bars, COLUMNS))
    t_strat, _ = best_of(repeats, lambda: engine.strategy_states(frame, ma_cross.NAME, params))
    start, end = frame["ts"].min(), frame["ts"].max()
    t_engine, _ = best_of(repeats, lambda: engine.run_backtest(frame, codes, start, end, CAPITAL, COSTS, SIZING))
    t_loop, reference = best_of(loop_repeats, lambda: loop(bars, params))
    verdict = check_same(backtest, reference)

    ms = 1000.0
    print(f"best of {repeats} runs (loop: best of {loop_repeats})")
    print(f"  vectorised, whole simulation          {t_vec * ms:9.1f} ms  (target < {TARGET_SECONDS * ms:.0f} ms: "
          f"{'met' if t_vec < TARGET_SECONDS else 'MISSED'})")
    print(f"    indicators (SMA50, SMA200, volume SMA20) {t_ind * ms:6.1f} ms")
    print(f"    ma_cross states                          {t_strat * ms:6.1f} ms")
    print(f"    fills, equity, buy-and-hold (engine)     {t_engine * ms:6.1f} ms")
    print(f"  per-ticker Python loop, same logic    {t_loop * ms:9.1f} ms")
    print(f"  loop / vectorised: {t_loop / t_vec:.1f}x")
    print(f"  check: {verdict}")
    bench = summary["benchmark"]
    print(f"  result: {summary['trades']:,} closed trades, win rate {summary['win_rate']:.1%}, total return "
          f"{summary['total_return']:.1%} (buy and hold {bench['total_return']:.1%}), max drawdown "
          f"{summary['max_drawdown']:.1%}, Sharpe {summary['sharpe']:.2f}")


if __name__ == "__main__":
    main()
