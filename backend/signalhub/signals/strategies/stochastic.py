"""Stochastic (14, 3, 3) %K/%D cross out of an extreme zone (seed 003).

Rule: BUY at bar t when slow %K crosses above %D (%K <= %D at t-1, %K > %D at t) and both lines were
in the oversold zone on the bar before the cross (%K and %D < `oversold` at t-1); SELL when %K crosses
below %D (%K >= %D at t-1, %K < %D at t) with both lines above `overbought` at t-1. The zone is tested
on the bar before the cross because %K often leaves the zone on the crossing bar itself: the turn is
what signals, the zone is where it started.

State: event-based; the cross's direction is held for `hold_bars` bars from the cross bar (default 1:
the cross bar only) or until the next qualifying cross, HOLD otherwise.

Strength: 0.6 + 0.35 × how deep %D was in the zone at t-1 as a fraction of the zone's width
((oversold - %D) / oversold for BUY, (%D - overbought) / (100 - overbought) for SELL): %D 10 gives
0.775, %D 0 gives 0.95. Held bars keep the cross bar's strength.
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
    hold_events,
    lag,
    require_columns,
    resolve_params,
    scaled_strength,
)

NAME = "stochastic_cross"
VERSION = "1"
COLUMNS = ("stoch_k", "stoch_d")
DEFAULTS: dict[str, Any] = {
    "oversold": 20.0,
    "overbought": 80.0,
    "hold_bars": 1,
}


def check_params(p: Mapping[str, Any]) -> None:
    """ValueError for parameter values out of range."""
    if not 0.0 < p["oversold"] < p["overbought"] < 100.0 or p["hold_bars"] < 1:
        raise ValueError(f"{NAME}: need 0 < oversold < overbought < 100 and hold_bars at least 1, got {dict(p)}")


def stochastic_cross(frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Stochastic cross state per bar: BUY/SELL on a %K/%D cross that starts in an extreme zone."""
    p = resolve_params(NAME, DEFAULTS, params)
    check_params(p)
    require_columns(frame, ("close", *COLUMNS), NAME)
    pos = bar_positions(frame)
    k = column(frame, "stoch_k")
    d = column(frame, "stoch_d")
    prev_k = lag(k, pos)
    prev_d = lag(d, pos)
    with np.errstate(invalid="ignore"):
        up = (prev_k <= prev_d) & (k > d) & (np.maximum(prev_k, prev_d) < p["oversold"])
        down = (prev_k >= prev_d) & (k < d) & (np.minimum(prev_k, prev_d) > p["overbought"])
    event = np.where(up, BUY_CODE, np.where(down, SELL_CODE, HOLD_CODE)).astype(np.int8)
    depth = np.where(event == BUY_CODE, (p["oversold"] - prev_d) / p["oversold"],
                     (prev_d - p["overbought"]) / (100.0 - p["overbought"]))
    event_strength = scaled_strength(depth, 1.0)
    state, source = hold_events(event, pos, p["hold_bars"])
    src = np.maximum(source, 0)
    strength = event_strength[src]

    buy_text = f"BUY: stochastic %K crossed above %D in the oversold zone (< {p['oversold']:g})"
    sell_text = f"SELL: stochastic %K crossed below %D in the overbought zone (> {p['overbought']:g})"

    def reason(rows: np.ndarray) -> list[str]:
        at = src[rows]
        ago = rows - at
        text = np.where(state[rows] == BUY_CODE, buy_text, sell_text).tolist()
        when = np.where(ago == 0, "", np.where(ago == 1, " 1 bar ago", " bars ago")).tolist()
        return [f"{t}{f' {a}' + wn if a > 1 else wn}: %K {k0:.2f} -> {k1:.2f}, %D {d0:.2f} -> {d1:.2f}"
                for t, a, wn, k0, k1, d0, d1 in zip(text, ago.tolist(), when, prev_k[at].tolist(), k[at].tolist(),
                                                   prev_d[at].tolist(), d[at].tolist(), strict=True)]

    return build_output(frame, state, strength, reason)


SPEC = StrategySpec(
    name=NAME,
    fn=stochastic_cross,
    defaults=DEFAULTS,
    description="Stochastic(14,3,3) %K/%D cross starting below 20 (BUY) or above 80 (SELL)",
    # %D exists from bar 16 (TA-Lib lookback) and a cross needs the bar before.
    min_bars=18,
    version=VERSION,
    columns=COLUMNS,
    # A held cross up to hold_bars - 1 bars back, and the bar before it.
    lookback=DEFAULTS["hold_bars"] + 1,
    lookback_for=lambda params: int(params["hold_bars"]) + 1,
    check=check_params,
)
