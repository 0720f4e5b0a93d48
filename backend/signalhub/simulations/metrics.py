"""Performance metrics of an equity curve and a trade list.

Conventions (documented in the API too):
- Daily returns are the close-to-close changes of the portfolio equity on the window's bar dates.
- Sharpe = mean / sample standard deviation (ddof 1) of the daily returns x sqrt(252); Sortino = mean /
  downside deviation x sqrt(252), the downside deviation being sqrt(mean(min(r, 0)^2)) over all daily
  returns. The risk-free rate is taken as 0. Either is null when its denominator is 0 or there are fewer
  than two returns.
- CAGR = (final / initial) ^ (365.25 / calendar days from the first to the last bar date) - 1, with the
  initial capital as the starting value; null for a window of less than one day.
- Maximum drawdown is the deepest fall of equity below its running peak (a negative fraction), with the
  peak date, the trough date and the first later date the equity got back to the peak (null if never).
- Win rate, profit factor and trade count cover closed round trips only (positions still open at the end
  are marked to market in the equity, not counted as trades). Profit factor = gross profit / gross loss,
  null when there is no losing trade.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

TRADING_DAYS = 252
DAYS_PER_YEAR = 365.25


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def drawdowns(equity: np.ndarray) -> np.ndarray:
    """Equity relative to its running peak, minus one (0 at a new high, negative below it)."""
    return equity / np.maximum.accumulate(equity) - 1.0


def performance(dates: pd.DatetimeIndex, equity: np.ndarray, initial_capital: float) -> dict[str, Any]:
    """Total return, CAGR, Sharpe, Sortino and maximum drawdown with its dates, for one equity curve."""
    final = float(equity[-1])
    returns = equity[1:] / equity[:-1] - 1.0
    sharpe = sortino = None
    if returns.size >= 2:
        deviation = float(np.std(returns, ddof=1))
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        mean = float(np.mean(returns))
        sharpe = _finite(mean / deviation * math.sqrt(TRADING_DAYS)) if deviation > 0 else None
        sortino = _finite(mean / downside * math.sqrt(TRADING_DAYS)) if downside > 0 else None
    days = (dates[-1] - dates[0]).total_seconds() / 86400.0
    cagr = _finite((final / initial_capital) ** (DAYS_PER_YEAR / days) - 1.0) if days >= 1 and final > 0 else None
    dd = drawdowns(equity)
    trough = int(np.argmin(dd))
    peak = int(np.argmax(equity[:trough + 1]))
    recovered = np.flatnonzero(equity[trough:] >= equity[peak])
    recovery = trough + int(recovered[0]) if dd[trough] < 0 and recovered.size else None
    deep = dd[trough] < 0
    return {
        "final_equity": final,
        "total_return": final / initial_capital - 1.0,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": float(dd[trough]),
        "max_drawdown_peak": dates[peak].date().isoformat() if deep else None,
        "max_drawdown_trough": dates[trough].date().isoformat() if deep else None,
        "max_drawdown_recovery": dates[recovery].date().isoformat() if recovery is not None else None,
    }


def trade_stats(trades: pd.DataFrame) -> dict[str, Any]:
    """Win rate, profit factor and number of closed trades."""
    pnl = trades.loc[trades["exit_row"] >= 0, "pnl"].to_numpy(dtype=np.float64)
    gains = float(pnl[pnl > 0].sum())
    losses = float(-pnl[pnl < 0].sum())
    return {
        "trades": int(pnl.size),
        "win_rate": float((pnl > 0).mean()) if pnl.size else None,
        "profit_factor": gains / losses if losses > 0 else None,
        "gross_profit": gains,
        "gross_loss": losses,
    }
