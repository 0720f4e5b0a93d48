"""MACD(12, 26, 9) signal-line cross (seed 003).

Rule: BUY at bar t when MACD crosses above its signal line (histogram <= 0 at t-1 and > 0 at t), SELL
when it crosses below (histogram >= 0 at t-1 and < 0 at t).

State: event-based; the cross's direction is held for `hold_bars` bars from the cross bar (default 1:
the cross bar only) or until the next cross, HOLD otherwise. The platform therefore emits on the bar
of each cross.

Strength: a cross on the far side of the zero line (bullish below zero, bearish above) is a reversal
after an extended move and scores 0.6 + 0.35 × min(|MACD| / (`full_depth_atr` × ATR(14)), 1), i.e.
0.95 once MACD is one ATR (default) away from zero; a cross on the near side (trend continuation)
scores 0.6. Held bars keep the cross bar's strength.
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

NAME = "macd_cross"
VERSION = "1"
COLUMNS = ("macd", "macd_signal", "macd_hist", "atr_14")
DEFAULTS: dict[str, Any] = {
    "hold_bars": 1,
    "full_depth_atr": 1.0,
}


def check_params(p: Mapping[str, Any]) -> None:
    """ValueError for parameter values out of range."""
    if p["hold_bars"] < 1 or not p["full_depth_atr"] > 0:
        raise ValueError(f"{NAME}: hold_bars must be at least 1 and full_depth_atr > 0, got {dict(p)}")


def macd_cross(frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """MACD signal-line cross state per bar: BUY/SELL on the cross bar (held `hold_bars` bars)."""
    p = resolve_params(NAME, DEFAULTS, params)
    check_params(p)
    require_columns(frame, ("close", *COLUMNS), NAME)
    pos = bar_positions(frame)
    macd = column(frame, "macd")
    signal = column(frame, "macd_signal")
    hist = column(frame, "macd_hist")
    atr = column(frame, "atr_14")
    prev_hist = lag(hist, pos)
    with np.errstate(invalid="ignore"):
        up = (prev_hist <= 0.0) & (hist > 0.0)
        down = (prev_hist >= 0.0) & (hist < 0.0)
    event = np.where(up, BUY_CODE, np.where(down, SELL_CODE, HOLD_CODE)).astype(np.int8)
    # Bullish below zero / bearish above zero: how far MACD is on the far side, in ATRs.
    depth = np.where(event == BUY_CODE, -macd, macd)
    with np.errstate(invalid="ignore", divide="ignore"):
        event_strength = scaled_strength(np.maximum(depth, 0.0) / atr, p["full_depth_atr"])
    state, source = hold_events(event, pos, p["hold_bars"])
    src = np.maximum(source, 0)
    strength = event_strength[src]

    def reason(rows: np.ndarray) -> list[str]:
        at = src[rows]
        code = state[rows]
        ago = rows - at
        word = np.where(code == BUY_CODE, "BUY: MACD", "SELL: MACD").tolist()
        side = np.where(code == BUY_CODE, "above", "below").tolist()
        when = np.where(ago == 0, "", np.where(ago == 1, " 1 bar ago", " bars ago")).tolist()
        zone = np.where(macd[at] < 0, "below", "above").tolist()
        reversal = depth[at] > 0
        return [f"{w} {m:.4g} crossed {sd} signal {sg:.4g}{f' {a}' + wn if a > 1 else wn} {z} the zero line "
                f"({f'reversal, {x:.2f} ATR from zero' if r else 'trend continuation'})"
                for w, m, sd, sg, a, wn, z, r, x in zip(
                    word, macd[at].tolist(), side, signal[at].tolist(), ago.tolist(), when, zone, reversal.tolist(),
                    (np.abs(macd[at]) / atr[at]).tolist(), strict=True)]

    return build_output(frame, state, strength, reason)


SPEC = StrategySpec(
    name=NAME,
    fn=macd_cross,
    defaults=DEFAULTS,
    description="MACD(12,26,9) signal-line cross: BUY on a cross above, SELL on a cross below",
    # MACD exists from bar 33 (TA-Lib lookback) and a cross needs the bar before.
    min_bars=35,
    version=VERSION,
    columns=COLUMNS,
    # A held cross up to hold_bars - 1 bars back, and the bar before it.
    lookback=DEFAULTS["hold_bars"] + 1,
    lookback_for=lambda params: int(params["hold_bars"]) + 1,
    check=check_params,
)
