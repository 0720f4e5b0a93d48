"""Bollinger 5-day / 2σ breakout (seed 001): mean reversion at the edges of a short band.

Rule at bar t (close c_t), against the band of the PREVIOUS bar, i.e. the 5 closes t-5..t-1
(`bb5_upper/middle/lower` of bar t-1) and the ATR(14) of bar t-1:

- SELL when c_t > upper * (1 - threshold_pct/100): STRONG beyond the band (c_t > upper), WEAK inside
  the threshold (upper * 0.99 < c_t <= upper with the default 1%);
- BUY  when c_t < lower * (1 + threshold_pct/100): STRONG below the band, WEAK inside the threshold;
- ATR noise filter: the close must also lie at least `atr_multiple` × ATR(14) from the band's middle
  on that side (a displacement within one day's normal range is noise, typically a very narrow band
  after a quiet week); otherwise HOLD.

Why the previous bar's band: a band that contains the close itself can never be broken by it. Among
n values the largest distance from their mean is at most (n-1)/√n population σ, i.e. 1.79σ for n = 5,
so c_t > upper_t is impossible and the seed's STRONG case would never occur. The seed's live code
compares the current price with bands of the recent closes; on daily bars that is the band up to
t-1. The ATR is likewise the one known before today's bar, so a big move does not widen its own
filter.

State: level-based; BUY (SELL) on every bar whose close is in the lower (upper) zone, so the platform
emits when the close enters a zone.

Strength: WEAK 0.6; STRONG 0.7 + 0.25 × min(distance beyond the band / (`strong_full_atr` × ATR), 1),
i.e. 0.7 just beyond the band, 0.95 at one ATR (default) or more beyond it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from signalhub.signals.strategies.base import (
    BUY_CODE,
    HOLD_CODE,
    SELL_CODE,
    StrategySpec,
    bar_positions,
    build_output,
    column,
    lag,
    require_columns,
    resolve_params,
)

NAME = "bollinger_breakout"
VERSION = "1"
COLUMNS = ("bb5_upper", "bb5_middle", "bb5_lower", "atr_14")
DEFAULTS: dict[str, Any] = {
    "threshold_pct": 1.0,
    "atr_multiple": 1.0,
    "strong_full_atr": 1.0,
    "weak_strength": 0.6,
}
STRONG_FLOOR, STRONG_CEILING = 0.7, 0.95


def check_params(p: Mapping[str, Any]) -> None:
    """ValueError for parameter values out of range."""
    if not (p["threshold_pct"] >= 0 and p["atr_multiple"] >= 0 and p["strong_full_atr"] > 0
            and 0 <= p["weak_strength"] <= 1):
        raise ValueError(f"{NAME}: need threshold_pct >= 0, atr_multiple >= 0, strong_full_atr > 0 and "
                         f"0 <= weak_strength <= 1, got {dict(p)}")


def bollinger_breakout(frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Bollinger 5d(2σ) breakout state per bar: SELL near/above the upper band, BUY near/below the lower."""
    p = resolve_params(NAME, DEFAULTS, params)
    check_params(p)
    require_columns(frame, ("close", *COLUMNS), NAME)
    pos = bar_positions(frame)
    close = column(frame, "close")
    upper = lag(column(frame, "bb5_upper"), pos)
    middle = lag(column(frame, "bb5_middle"), pos)
    lower = lag(column(frame, "bb5_lower"), pos)
    atr = lag(column(frame, "atr_14"), pos)
    threshold = p["threshold_pct"] / 100.0
    min_move = p["atr_multiple"] * atr

    with np.errstate(invalid="ignore"):
        # Comparisons with NaN are False, so warm-up rows fall through to HOLD.
        sell = (close > upper * (1.0 - threshold)) & (close - middle >= min_move) & (close > middle)
        buy = (close < lower * (1.0 + threshold)) & (middle - close >= min_move) & (close < middle)
        state = np.where(sell, SELL_CODE, np.where(buy, BUY_CODE, HOLD_CODE)).astype(np.int8)
        beyond = np.where(state == SELL_CODE, close - upper, lower - close)
        strong = beyond > 0
        full = p["strong_full_atr"] * atr
        ratio = np.clip(np.nan_to_num(beyond / full, nan=0.0), 0.0, 1.0)
    strength = np.where(strong, STRONG_FLOOR + (STRONG_CEILING - STRONG_FLOOR) * ratio, p["weak_strength"])

    limits = f"noise filter >= {p['atr_multiple']:g} ATR"
    threshold_text = f"threshold {p['threshold_pct']:g}%"
    # Text around the first three numbers, per (action, STRONG?): few per-row fields, as reasons are
    # formatted for a large share of the bars of a long history.
    templates = {
        (SELL_CODE, True): ("SELL STRONG: close ", " broke above the upper band 5d(2σ) ", " by "),
        (SELL_CODE, False): ("SELL WEAK: close ", " is ", "% below the upper band 5d(2σ) "),
        (BUY_CODE, True): ("BUY STRONG: close ", " broke below the lower band 5d(2σ) ", " by "),
        (BUY_CODE, False): ("BUY WEAK: close ", " is ", "% above the lower band 5d(2σ) "),
    }

    def reason(rows: np.ndarray) -> list[str]:
        out = np.empty(rows.size, dtype=object)
        code = state[rows]
        is_strong = strong[rows]
        for (which, grade), (head, between, after) in templates.items():
            pick = np.flatnonzero((code == which) & (is_strong == grade))
            if not pick.size:
                continue
            at = rows[pick]
            band = upper[at] if which == SELL_CODE else lower[at]
            pct = np.abs(beyond[at]) / band * 100.0
            first, second = (band, pct) if grade else (pct, band)
            unit = "%" if grade else ""
            tail = f"{unit} (prior 5 closes, {threshold_text}); close "
            out[pick] = [
                f"{head}{c:.2f}{between}{x:.2f}{after}{y:.2f}{tail}{dist:.2f} ATR(14) from the band middle ({limits})"
                for c, x, y, dist in zip(close[at].tolist(), first.tolist(), second.tolist(),
                                         (np.abs(close[at] - middle[at]) / atr[at]).tolist(), strict=True)]
        return out.tolist()

    return build_output(frame, state, strength, reason)


SPEC = StrategySpec(
    name=NAME,
    fn=bollinger_breakout,
    defaults=DEFAULTS,
    description="Bollinger 5d(2σ) breakout: SELL near/above the upper band, BUY near/below the lower, ATR-filtered",
    # ATR(14) exists from bar 14 and is read one bar late.
    min_bars=16,
    version=VERSION,
    columns=COLUMNS,
    # The band and ATR are read from the bar before.
    lookback=2,
    check=check_params,
)
