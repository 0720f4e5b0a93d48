"""RSI(14) oversold / overbought: BUY while RSI < 30, SELL while RSI > 70 (seed 003).

State: level-based; BUY on every bar whose RSI is below `oversold`, SELL on every bar above
`overbought`, HOLD otherwise, so the platform emits when RSI enters a zone.

RSI exactly 0 is HOLD: TA-Lib reports 0 when average gain and loss are both 0 (a flat window), which
is not an oversold market (a true 0 needs no up-move at all since the history began).

Strength: 0.6 at the zone boundary, rising linearly with the depth into the zone to 0.95 at
`full_depth` RSI points (default 20, i.e. RSI 10 or 90) and beyond.
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
    build_output,
    column,
    require_columns,
    resolve_params,
    scaled_strength,
)

NAME = "rsi_reversal"
VERSION = "1"
COLUMNS = ("rsi_14",)
DEFAULTS: dict[str, Any] = {
    "oversold": 30.0,
    "overbought": 70.0,
    "full_depth": 20.0,
}


def check_params(p: Mapping[str, Any]) -> None:
    """ValueError for parameter values out of range."""
    if not 0 < p["oversold"] < p["overbought"] < 100 or not p["full_depth"] > 0:
        raise ValueError(f"{NAME}: need 0 < oversold < overbought < 100 and full_depth > 0, got {dict(p)}")


def rsi_reversal(frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """RSI zone state per bar: BUY while oversold, SELL while overbought."""
    p = resolve_params(NAME, DEFAULTS, params)
    check_params(p)
    require_columns(frame, ("close", *COLUMNS), NAME)
    rsi = column(frame, "rsi_14")
    close = column(frame, "close")
    with np.errstate(invalid="ignore"):
        buy = (rsi < p["oversold"]) & (rsi > 0.0)
        sell = rsi > p["overbought"]
    state = np.where(buy, BUY_CODE, np.where(sell, SELL_CODE, HOLD_CODE)).astype(np.int8)
    depth = np.where(state == BUY_CODE, p["oversold"] - rsi, rsi - p["overbought"])
    strength = scaled_strength(depth, p["full_depth"])

    def reason(rows: np.ndarray) -> list[str]:
        out = []
        for code, r, d, c in zip(state[rows].tolist(), rsi[rows].tolist(), depth[rows].tolist(),
                                 close[rows].tolist(), strict=True):
            if code == BUY_CODE:
                text = f"BUY: RSI(14) {r:.2f} < {p['oversold']:g} (oversold, {d:.2f} deep)"
            else:
                text = f"SELL: RSI(14) {r:.2f} > {p['overbought']:g} (overbought, {d:.2f} deep)"
            out.append(f"{text}; close {c:.2f}")
        return out

    return build_output(frame, state, strength, reason)


SPEC = StrategySpec(
    name=NAME,
    fn=rsi_reversal,
    defaults=DEFAULTS,
    description="RSI(14) zones: BUY while below 30 (oversold), SELL while above 70 (overbought)",
    # RSI(14) exists from bar 14.
    min_bars=15,
    version=VERSION,
    columns=COLUMNS,
    lookback=1,
    check=check_params,
)
