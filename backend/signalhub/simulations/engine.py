"""The backtest engine: live strategy code over history, fills at the next bar's open, vectorised across tickers.

Rules (the same for every ticker, each trading its own equal share of the capital, long only):
- The strategy's state on bar t (decided on t's close) is acted on at bar t+1's open: flat and BUY -> buy,
  long and SELL -> sell everything. A state on the window's last bar is not acted on (no next bar).
- Fill prices carry slippage against us: buys at open x (1 + slippage), sells at open x (1 - slippage).
- Every fill pays commission on its value; sells also pay the sell tax on their value.
- Quantities are whole shares: the most the sizing budget buys including the buy commission.
  Sizing: "all_in" spends the ticker's cash, "fixed_fraction" that fraction of it, "fixed_amount" that
  amount (at most the cash).
- Buy-and-hold benchmark: each ticker's share buys whole shares at its first window bar's open (same
  slippage and commission) and holds; neither side is liquidated at the end, both are marked at the close.

The per-bar state machine is one numba kernel over flat arrays holding every ticker's bars back to back
(like indicators/compute.py): no Python loop over tickers or bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd

from signalhub.core import calendars
from signalhub.indicators.compute import compute_indicators_batch
from signalhub.signals import strategies
from signalhub.signals.strategies.base import BUY_CODE, SELL_CODE, state_codes

Sizing = Literal["all_in", "fixed_fraction", "fixed_amount"]
SIZING_CODES: dict[str, int] = {"all_in": 0, "fixed_fraction": 1, "fixed_amount": 2}

# Seed 004: KIS charges 0.015% commission on every fill.
DEFAULT_COMMISSION_BPS = 1.5
# Seed 004 simulates up to 0.1% slippage per fill; we take the adverse end of it.
DEFAULT_SLIPPAGE_BPS = 10.0
# Korean sells pay the securities transaction tax: 0.15% on KOSPI (incl. the rural development tax) and
# KOSDAQ as of 2025. US exchanges have no sell tax (the SEC fee is a few thousandths of a percent).
DEFAULT_SELL_TAX_BPS: dict[str, float] = {calendars.XKRX: 15.0, calendars.XNYS: 0.0}

_BPS = 1e-4
# Trade record columns written by the kernel.
_ENTRY_ROW, _EXIT_ROW, _QTY, _ENTRY_PRICE, _EXIT_PRICE, _ENTRY_FEE, _EXIT_FEE, _TICKER = range(8)


@dataclass(frozen=True)
class Costs:
    """Per-fill costs in basis points; `sell_tax_bps` None means each ticker's exchange default."""

    commission_bps: float = DEFAULT_COMMISSION_BPS
    slippage_bps: float = DEFAULT_SLIPPAGE_BPS
    sell_tax_bps: float | None = None

    def sell_tax_for(self, ticker: str) -> float:
        """The sell tax of `ticker` in basis points."""
        if self.sell_tax_bps is not None:
            return self.sell_tax_bps
        return DEFAULT_SELL_TAX_BPS[calendars.exchange_for_ticker(ticker)]


@dataclass(frozen=True)
class SizingRule:
    """How much a buy spends: all the ticker's cash, a fraction of it, or a fixed amount."""

    mode: Sizing = "all_in"
    fraction: float | None = None
    amount: float | None = None

    def value(self) -> float:
        """The kernel's sizing parameter (fraction or amount; unused for all_in)."""
        if self.mode == "fixed_fraction":
            if self.fraction is None or not 0 < self.fraction <= 1:
                raise ValueError("fraction must be in (0, 1] for fixed_fraction sizing")
            return float(self.fraction)
        if self.mode == "fixed_amount":
            if self.amount is None or not self.amount > 0:
                raise ValueError("amount must be positive for fixed_amount sizing")
            return float(self.amount)
        return 1.0


@dataclass
class Backtest:
    """Everything one run produced, as arrays and frames (metrics.py and the service turn it into JSON)."""

    tickers: list[str]
    dates: pd.DatetimeIndex  # union of the tickers' bar times in the window
    equity: np.ndarray  # portfolio equity at each date's close
    benchmark: np.ndarray  # buy-and-hold equity at each date's close
    trades: pd.DataFrame  # one row per round trip (open ones have NaT exit)
    initial_capital: float
    last_close: dict[str, float]  # each ticker's close on its last window bar


def indicator_frame(bars: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Bars (ticker, ts, OHLCV; sorted by ticker and ts) with indicator columns, as live signals see them."""
    values = compute_indicators_batch(bars, columns=columns)
    frame = bars.reset_index(drop=True)
    for col in values.columns[2:]:
        frame[col] = values[col].to_numpy()
    return frame


def strategy_states(frame: pd.DataFrame, strategy: str, params: Mapping[str, Any]) -> np.ndarray:
    """BUY_CODE / SELL_CODE / HOLD_CODE per row of `frame`, from the live strategy code."""
    out = strategies.evaluate(frame, [strategy], {strategy: dict(params)}, reasons="none")[strategy]
    return state_codes(out["action"])


@numba.njit(cache=True, nogil=True)
def _trade_kernel(open_: np.ndarray, close: np.ndarray, code: np.ndarray, starts: np.ndarray,
                  capital: np.ndarray, commission: float, slippage: float, tax: np.ndarray, mode: int,
                  size: float, equity: np.ndarray, trades: np.ndarray) -> int:
    # One ticker after another, each a tight loop over its bars; returns how many trade rows were written.
    count = 0
    for s in range(starts.size - 1):
        a, b = starts[s], starts[s + 1]
        cash = capital[s]
        shares = 0.0
        pending = 0
        for i in range(a, b):
            if pending == 1:
                price = open_[i] * (1.0 + slippage)
                budget = cash
                if mode == 1:
                    budget = cash * size
                elif mode == 2:
                    budget = min(cash, size)
                # Whole shares; the epsilon keeps an exact fit from rounding down to one share fewer.
                qty = math.floor(budget / (price * (1.0 + commission)) + 1e-9)
                if qty > 0 and qty * price * (1.0 + commission) > cash:
                    qty -= 1
                if qty > 0:
                    fee = qty * price * commission
                    cash -= qty * price + fee
                    shares = float(qty)
                    trades[count, 0] = i
                    trades[count, 1] = -1
                    trades[count, 2] = shares
                    trades[count, 3] = price
                    trades[count, 4] = np.nan
                    trades[count, 5] = fee
                    trades[count, 6] = 0.0
                    trades[count, 7] = s
                    count += 1
            elif pending == -1:
                price = open_[i] * (1.0 - slippage)
                gross = shares * price
                fee = gross * commission + gross * tax[s]
                cash += gross - fee
                shares = 0.0
                trades[count - 1, 1] = i
                trades[count - 1, 4] = price
                trades[count - 1, 6] = fee
            pending = 0
            # The state on this bar's close becomes an order for the next bar's open.
            if i + 1 < b:
                if shares == 0.0 and code[i] == BUY_CODE:
                    pending = 1
                elif shares > 0.0 and code[i] == SELL_CODE:
                    pending = -1
            equity[i] = cash + shares * close[i]
    return count


def _starts(tickers: np.ndarray) -> np.ndarray:
    changed = np.flatnonzero(tickers[1:] != tickers[:-1]) + 1
    return np.concatenate(([0], changed, [tickers.size])).astype(np.int64)


def _buy_and_hold(open_: np.ndarray, close: np.ndarray, starts: np.ndarray, capital: np.ndarray,
                  commission: float, slippage: float) -> np.ndarray:
    first = starts[:-1]
    price = open_[first] * (1.0 + slippage)
    qty = np.floor(capital / (price * (1.0 + commission)) + 1e-9)
    qty = np.where(qty * price * (1.0 + commission) > capital, qty - 1, qty)
    cash = capital - qty * price * (1.0 + commission)
    lengths = np.diff(starts)
    return np.repeat(cash, lengths) + np.repeat(qty, lengths) * close


def _on_dates(values: np.ndarray, row_ticker: np.ndarray, row_date: np.ndarray, n_tickers: int,
              n_dates: int, before: np.ndarray) -> np.ndarray:
    """Sum over tickers of each ticker's latest value at or before each date (`before` until its first bar)."""
    grid = np.full((n_tickers, n_dates), np.nan)
    grid[row_ticker, row_date] = values
    # Carry each ticker's last value forward over dates it did not trade (holidays of its exchange).
    index = np.where(np.isnan(grid), -1, np.arange(n_dates))
    np.maximum.accumulate(index, axis=1, out=index)
    filled = np.take_along_axis(grid, np.maximum(index, 0), axis=1)
    filled = np.where(index < 0, before[:, None], filled)
    return filled.sum(axis=0)


def run_backtest(frame: pd.DataFrame, codes: np.ndarray, start: pd.Timestamp, end: pd.Timestamp,
                 initial_capital: float, costs: Costs, sizing: SizingRule) -> Backtest:
    """Trade the states `codes` (one per row of `frame`) over the bars with start <= ts <= end."""
    ts = pd.DatetimeIndex(frame["ts"])
    window = np.asarray((ts >= start) & (ts <= end))
    if not window.any():
        raise ValueError("no bars in the simulation window")
    column = frame["ticker"]
    # Integer keys find each ticker's run far faster than comparing strings row by row.
    if isinstance(column.dtype, pd.CategoricalDtype):
        keys, labels = column.cat.codes.to_numpy()[window], column.cat.categories
    else:
        keys, labels = pd.factorize(column.to_numpy()[window])
    starts = _starts(keys)
    tickers = [str(labels[k]) for k in keys[starts[:-1]]]
    if len(set(tickers)) != len(tickers):
        raise ValueError("frame must be sorted by (ticker, ts)")
    open_ = np.ascontiguousarray(frame["open"].to_numpy(dtype=np.float64)[window])
    close = np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64)[window])
    code = np.ascontiguousarray(np.asarray(codes)[window].astype(np.int8))
    n = len(tickers)
    capital = np.full(n, initial_capital / n)
    tax = np.array([costs.sell_tax_for(t) * _BPS for t in tickers])
    commission, slippage = costs.commission_bps * _BPS, costs.slippage_bps * _BPS
    equity_rows = np.empty(close.size)
    trades = np.empty((close.size // 2 + n, 8))
    count = _trade_kernel(open_, close, code, starts, capital, commission, slippage, tax,
                          SIZING_CODES[sizing.mode], sizing.value(), equity_rows, trades)
    held_rows = _buy_and_hold(open_, close, starts, capital, commission, slippage)

    times = ts[window].as_unit("ns")
    dates = times.unique().sort_values()
    row_date = np.searchsorted(dates.asi8, times.asi8)
    row_ticker = np.repeat(np.arange(n), np.diff(starts))
    equity = _on_dates(equity_rows, row_ticker, row_date, n, len(dates), capital)
    benchmark = _on_dates(held_rows, row_ticker, row_date, n, len(dates), capital)
    return Backtest(tickers=tickers, dates=dates, equity=equity, benchmark=benchmark,
                    trades=_trade_frame(trades[:count], tickers, times), initial_capital=initial_capital,
                    last_close=dict(zip(tickers, close[starts[1:] - 1].tolist(), strict=True)))


def _trade_frame(rows: np.ndarray, tickers: list[str], times: pd.DatetimeIndex) -> pd.DataFrame:
    entry_row = rows[:, _ENTRY_ROW].astype(np.int64)
    exit_row = rows[:, _EXIT_ROW].astype(np.int64)
    closed = exit_row >= 0
    qty = rows[:, _QTY]
    entry_cost = qty * rows[:, _ENTRY_PRICE] + rows[:, _ENTRY_FEE]
    proceeds = qty * rows[:, _EXIT_PRICE] - rows[:, _EXIT_FEE]
    pnl = np.where(closed, proceeds - entry_cost, np.nan)
    exit_ts = times[np.maximum(exit_row, 0)].where(closed)
    return pd.DataFrame({
        "ticker": [tickers[int(i)] for i in rows[:, _TICKER]],
        "entry_ts": times[entry_row], "entry_price": rows[:, _ENTRY_PRICE], "qty": qty,
        "exit_ts": exit_ts, "exit_price": rows[:, _EXIT_PRICE],
        "fees": rows[:, _ENTRY_FEE] + rows[:, _EXIT_FEE], "pnl": pnl, "trade_return": pnl / entry_cost,
        "entry_row": entry_row, "exit_row": exit_row,
    })
