"""Multi-indicator fusion (seed 003): two or more agreeing indicators make a strong signal.

Sub-signals ("votes"): the states of the `components` strategies, by default the seed's three:
`rsi_reversal` (RSI zone), `macd_cross` (signal-line cross) and `stochastic_cross` (%K/%D cross out of
an extreme zone), each run with its own parameters (`component_params`; through the registry these are
the standalone strategies' parameters, so the YAML configures each indicator in one place).
`bollinger_breakout` and `ma_cross` may be listed too.

Window: a component votes BUY (SELL) at bar t when its most recent non-HOLD state within the last
`window` bars (t - window + 1 .. t, same ticker) is BUY (SELL); crosses last one bar, so a same-bar
rule would almost never see two of them together. A component with no BUY/SELL state in the window
does not vote.

Rule: BUY when at least `min_agree` components vote BUY and none votes SELL; SELL likewise; HOLD
otherwise (including conflicting votes).

State: BUY/SELL for as long as the agreement lasts (at most `window` bars after the last vote), so the
platform emits once when agreement forms.

Strength: 0.8 + 0.075 per agreeing component beyond `min_agree` + 0.125 × (mean strength of the
agreeing votes - 0.6) / 0.35, capped to [0.8, 1]: at least 0.8 (STRONG) by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from signalhub.signals.strategies import bollinger, ma_cross, macd, rsi, stochastic
from signalhub.signals.strategies.base import (
    BUY_CODE,
    FLOOR_STRENGTH,
    HOLD_CODE,
    SELL_CODE,
    StrategySpec,
    bar_positions,
    build_output,
    last_marked,
    resolve_params,
    state_codes,
)

NAME = "multi_indicator_fusion"
VERSION = "1"
# Strategies that may vote, by name.
COMPONENT_SPECS: dict[str, StrategySpec] = {
    spec.name: spec for spec in (rsi.SPEC, macd.SPEC, stochastic.SPEC, bollinger.SPEC, ma_cross.SPEC)
}
DEFAULT_COMPONENTS = [rsi.NAME, macd.NAME, stochastic.NAME]
DEFAULTS: dict[str, Any] = {
    "components": list(DEFAULT_COMPONENTS),
    "window": 3,
    "min_agree": 2,
    # Derived, not configured in the YAML: the registry fills in the standalone strategies' parameters.
    "component_params": {name: dict(COMPONENT_SPECS[name].defaults) for name in DEFAULT_COMPONENTS},
}
FUSION_FLOOR = 0.8
EXTRA_AGREE_BONUS = 0.075
STRENGTH_BONUS = 0.125


def fusion_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fusion parameters with every component's parameters resolved (defaults for any not given)."""
    p = resolve_params(NAME, DEFAULTS, params)
    components = p["components"]
    unknown = [c for c in components if c not in COMPONENT_SPECS]
    if unknown or not components or len(set(components)) != len(components):
        raise ValueError(f"{NAME}: components must be distinct names among {sorted(COMPONENT_SPECS)}, "
                         f"got {components}")
    if not 2 <= p["min_agree"] <= len(components):
        raise ValueError(f"{NAME}: min_agree must be between 2 and the number of components, got {p['min_agree']}")
    if p["window"] < 1:
        raise ValueError(f"{NAME}: window must be at least 1, got {p['window']}")
    extra = sorted(set(p["component_params"]) - set(components))
    if extra:
        raise ValueError(f"{NAME}: component_params for strategies that are not components: {extra}")
    p["component_params"] = {c: resolve_params(c, COMPONENT_SPECS[c].defaults, p["component_params"].get(c))
                             for c in components}
    for c in components:
        check = COMPONENT_SPECS[c].check
        if check is not None:
            check(p["component_params"][c])
    return p


def multi_indicator_fusion(frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Fusion state per bar: STRONG BUY/SELL when at least two component indicators agree within the window."""
    p = fusion_params(params)
    outputs = {c: COMPONENT_SPECS[c].fn(frame, p["component_params"][c]) for c in p["components"]}
    return combine(frame, outputs, p)


def combine(frame: pd.DataFrame, outputs: Mapping[str, pd.DataFrame], params: Mapping[str, Any]) -> pd.DataFrame:
    """Fuse already computed component outputs (same index as `frame`) under resolved fusion params."""
    p = fusion_params(params)
    components = p["components"]
    pos = bar_positions(frame)
    n = len(frame)
    index = np.arange(n, dtype=np.int64)
    window = p["window"]
    votes = np.zeros((len(components), n), dtype=np.int8)
    vote_strength = np.zeros((len(components), n))
    vote_at = np.full((len(components), n), -1, dtype=np.int64)
    for j, c in enumerate(components):
        out = outputs[c]
        code = state_codes(out["action"])
        latest = last_marked(code != HOLD_CODE, pos)
        live = (latest >= 0) & (index - latest < window)
        src = np.maximum(latest, 0)
        votes[j] = np.where(live, code[src], HOLD_CODE)
        vote_strength[j] = np.where(live, out["strength"].to_numpy(dtype=np.float64)[src], 0.0)
        vote_at[j] = np.where(live, latest, -1)
    buys = (votes == BUY_CODE).sum(axis=0)
    sells = (votes == SELL_CODE).sum(axis=0)
    min_agree = p["min_agree"]
    state = np.where((buys >= min_agree) & (sells == 0), BUY_CODE,
                     np.where((sells >= min_agree) & (buys == 0), SELL_CODE, HOLD_CODE)).astype(np.int8)
    agree = np.where(state == BUY_CODE, buys, sells)
    agreeing = votes == state
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(agreeing, vote_strength, 0.0).sum(axis=0) / agree
    bonus = np.clip(np.nan_to_num((mean - FLOOR_STRENGTH) / 0.35, nan=0.0), 0.0, 1.0)
    strength = np.clip(FUSION_FLOOR + EXTRA_AGREE_BONUS * (agree - min_agree) + STRENGTH_BONUS * bonus,
                       FUSION_FLOOR, 1.0)
    reasons_of = {c: outputs[c]["reason"].to_numpy() for c in components}

    def reason(rows: np.ndarray) -> list[str]:
        columns = []
        for j, c in enumerate(components):
            agrees = votes[j, rows] == state[rows]
            at = vote_at[j, rows[agrees]]
            ago = rows[agrees] - at
            when = np.where(ago == 0, "this bar", np.where(ago == 1, "1 bar ago", "")).tolist()
            # "; " separates the clauses of the fusion reason, so components' own clauses use ", ".
            values = zip(when, ago.tolist(), vote_strength[j, rows[agrees]].tolist(), reasons_of[c][at].tolist(),
                         strict=True)
            texts = [f"; {c} ({w or f'{a} bars ago'}, {st:.2f}){': ' if r else ''}{r.replace('; ', ', ')}"
                     for w, a, st, r in values]
            part = np.full(rows.size, "", dtype=object)
            part[agrees] = texts
            columns.append(part.tolist())
        heads = [f"STRONG {'BUY' if code == BUY_CODE else 'SELL'}: {k} of {len(components)} indicators agree "
                 f"within {window} bars, none opposed"
                 for code, k in zip(state[rows].tolist(), agree[rows].tolist(), strict=True)]
        return ["".join(parts) for parts in zip(heads, *columns, strict=True)]

    return build_output(frame, state, strength, reason)


def _component_lookback(name: str, params: Mapping[str, Any]) -> int:
    spec = COMPONENT_SPECS[name]
    return spec.lookback_for(params) if spec.lookback_for is not None else spec.lookback


def lookback(params: Mapping[str, Any]) -> int:
    """Rows ending at bar t needed for an exact fusion state at t: the window plus the components' own."""
    p = fusion_params(params)
    need = max(_component_lookback(c, p["component_params"][c]) for c in p["components"])
    return p["window"] - 1 + need


SPEC = StrategySpec(
    name=NAME,
    fn=multi_indicator_fusion,
    defaults=DEFAULTS,
    description="Multi-indicator fusion: STRONG BUY/SELL when >= 2 of RSI, MACD, stochastic agree within 3 bars",
    # The first bar at which `min_agree` components can vote (RSI and stochastic before MACD exists).
    min_bars=sorted(COMPONENT_SPECS[c].min_bars for c in DEFAULT_COMPONENTS)[DEFAULTS["min_agree"] - 1],
    version=VERSION,
    columns=tuple(dict.fromkeys(col for c in DEFAULT_COMPONENTS for col in COMPONENT_SPECS[c].columns)),
    lookback=lookback(DEFAULTS),
    lookback_for=lookback,
)

