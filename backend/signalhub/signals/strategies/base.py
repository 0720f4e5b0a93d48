"""The strategy plugin interface: pure, vectorised functions of bars and indicators."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd


class Action(enum.StrEnum):
    """What a strategy says about a bar."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


# Input of every strategy: a long frame sorted by (ticker, ts) with columns
#   ticker, ts, open, high, low, close, volume, and every column of indicators.compute.INDICATOR_COLUMNS.
# Output: a frame with the SAME index and three columns:
#   action   (Action value as str: "BUY" / "SELL" / "HOLD"), the strategy's state at that bar (the built-in
#            strategies return it as a categorical column of those strings);
#   strength (float in [0, 1]): the technical confidence of that state (0 for HOLD);
#   reason   (str): why, in plain words with the numbers that matter ("" for HOLD); "; " separates
#            independent clauses (the platform stores them as a list).
# A strategy may only look at rows at or before each row of the same ticker (no look-ahead), so the same
# function serves live signals (last rows) and backtests (whole history).
StrategyFn = Callable[[pd.DataFrame, Mapping[str, Any]], pd.DataFrame]


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its name, function, default parameters and a one-line description."""

    name: str
    fn: StrategyFn
    defaults: Mapping[str, Any]
    description: str
    # Bars of history a ticker needs before the strategy's first meaningful state (every earlier bar is
    # HOLD because an indicator it reads is still NaN).
    min_bars: int = 2
    # Bumped whenever the rule changes, so stored signals can tell which code produced them.
    version: str = "1"
    # Indicator columns (of indicators.compute.INDICATOR_COLUMNS) the strategy reads.
    columns: tuple[str, ...] = ()
    # Rows (ending at t) whose bars and indicator values the state at t depends on; at most
    # MAX_LOOKBACK. Signals hash exactly these rows so they can be recomputed and checked.
    # This is the value under the default parameters; see `lookback_for`.
    lookback: int = 2
    # lookback_for(resolved params) -> the same row count under those parameters (some rules hold or
    # confirm over a parameterised number of bars); None when it does not depend on them.
    lookback_for: Callable[[Mapping[str, Any]], int] | None = None
    # check(resolved params) raises ValueError for values out of range (names and types are checked
    # against `defaults` already); None when any value of the right type is acceptable.
    check: Callable[[Mapping[str, Any]], None] | None = None


MAX_LOOKBACK = 10


# ---------------------------------------------------------------------------------------------------
# Shared helpers for strategy implementations (vectorised over the whole long frame).
# ---------------------------------------------------------------------------------------------------

# Strength of a plain valid signal and the ceiling of a single-indicator one: the platform grades
# BUY/SELL from 0.6 and STRONG from 0.8 (after mixing with the model), so one indicator alone lands in
# [0.6, 0.95] and only agreement (fusion) starts at 0.8 by construction.
FLOOR_STRENGTH = 0.6
CEILING_STRENGTH = 0.95

BUY_CODE, HOLD_CODE, SELL_CODE = 1, 0, -1


def resolve_params(name: str, defaults: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with `params`; unknown names or values of the wrong type raise ValueError."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameters for strategy {name!r}: {unknown} (known: {sorted(defaults)})")
    resolved: dict[str, Any] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        resolved[key] = _coerce(name, key, default, value)
    return resolved


def _coerce(name: str, key: str, default: Any, value: Any) -> Any:
    # Floats are stored as float so that 30 and 30.0 give the same fingerprint.
    where = f"parameter {key!r} of strategy {name!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be a boolean, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, list | tuple):
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where} must be a list, got {value!r}")
        return list(value)
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    return value


def bar_positions(frame: pd.DataFrame) -> np.ndarray:
    """Position of each row within its ticker (0 = the ticker's first bar); checks the (ticker, ts) order."""
    cached = _LAYOUT.get()
    if cached is not None and cached[0] is frame:
        return cached[1]
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    tickers = frame["ticker"].to_numpy()
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(tickers[1:], tickers[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    if len(set(tickers[starts].tolist())) != starts.size:
        raise ValueError("frame must be sorted by (ticker, ts): some ticker's rows are not contiguous")
    times = _time_values(frame["ts"])
    later = times[1:] > times[:-1]
    if not (later | first[1:]).all():
        raise ValueError("frame must be sorted by (ticker, ts): ts is not strictly increasing within a ticker")
    index = np.arange(n, dtype=np.int64)
    return index - np.maximum.accumulate(np.where(first, index, 0))


# While `shared_layout(frame)` is active, bar_positions(frame) is computed once for all strategies.
_LAYOUT: ContextVar[tuple[pd.DataFrame, np.ndarray] | None] = ContextVar("strategy_layout", default=None)


@contextmanager
def shared_layout(frame: pd.DataFrame) -> Iterator[np.ndarray]:
    """Compute `frame`'s bar positions once and reuse them in every strategy run inside the block."""
    positions = bar_positions(frame)
    token = _LAYOUT.set((frame, positions))
    try:
        yield positions
    finally:
        _LAYOUT.reset(token)


def _time_values(ts: pd.Series) -> np.ndarray:
    values = ts.array
    if hasattr(values, "asi8"):
        return values.asi8
    return np.asarray(values)


def lag(values: np.ndarray, positions: np.ndarray, periods: int = 1) -> np.ndarray:
    """`values` of `periods` bars earlier in the same ticker (NaN where the ticker has no such bar)."""
    out = np.full(values.shape, np.nan)
    if periods < len(values):
        out[periods:] = values[:-periods] if periods else values
    out[positions < periods] = np.nan
    return out


def last_marked(marked: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Row index of the latest marked row at or before each row within the same ticker, -1 if none."""
    index = np.arange(marked.size, dtype=np.int64)
    latest = np.maximum.accumulate(np.where(marked, index, -1))
    latest[latest < index - positions] = -1
    return latest


def hold_events(event: np.ndarray, positions: np.ndarray, hold_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """State codes that keep each event's direction for `hold_bars` bars (cut short by the next event).

    `event` holds BUY_CODE / SELL_CODE on event bars and HOLD_CODE elsewhere. Returns the state codes
    and, for non-HOLD rows, the row index of the event the state comes from (-1 elsewhere).
    """
    if hold_bars < 1:
        raise ValueError(f"hold_bars must be at least 1, got {hold_bars}")
    source = last_marked(event != HOLD_CODE, positions)
    index = np.arange(event.size, dtype=np.int64)
    live = (source >= 0) & (index - source < hold_bars)
    state = np.where(live, event[np.maximum(source, 0)], HOLD_CODE).astype(np.int8)
    return state, np.where(live, source, -1)


def scaled_strength(excess: np.ndarray, full: float) -> np.ndarray:
    """FLOOR_STRENGTH at zero `excess`, rising linearly to CEILING_STRENGTH at `full` and capped there."""
    ratio = np.clip(np.nan_to_num(excess / full if full > 0 else np.ones_like(excess), nan=0.0), 0.0, 1.0)
    return FLOOR_STRENGTH + (CEILING_STRENGTH - FLOOR_STRENGTH) * ratio


def require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ValueError naming the input columns a strategy needs that `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"strategy {name!r} needs columns missing from the frame: {missing}")


def column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as a float64 array (missing values as NaN)."""
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


ReasonMode = Literal["all", "changes", "none"]
REASON_MODES: tuple[str, ...] = ("all", "changes", "none")
_REASONS: ContextVar[str] = ContextVar("strategy_reasons", default="all")


@contextmanager
def reasons_mode(mode: ReasonMode) -> Iterator[None]:
    """Within the block, strategies write reasons on all non-HOLD rows ("all", the contract), only on rows
    whose state differs from the ticker's previous bar ("changes": the transitions the platform emits,
    much faster on long histories), or nowhere ("none")."""
    if mode not in REASON_MODES:
        raise ValueError(f"reasons mode must be one of {REASON_MODES}, got {mode!r}")
    token = _REASONS.set(mode)
    try:
        yield
    finally:
        _REASONS.reset(token)


ACTION_DTYPE = pd.CategoricalDtype([Action.SELL.value, Action.HOLD.value, Action.BUY.value])


def state_codes(actions: pd.Series) -> np.ndarray:
    """BUY_CODE / SELL_CODE / HOLD_CODE of an output's action column."""
    if isinstance(actions.dtype, pd.CategoricalDtype) and actions.dtype == ACTION_DTYPE:
        return (actions.cat.codes.to_numpy() - 1).astype(np.int8)
    values = actions.to_numpy()
    return np.where(values == Action.BUY.value, BUY_CODE,
                    np.where(values == Action.SELL.value, SELL_CODE, HOLD_CODE)).astype(np.int8)


def build_output(frame: pd.DataFrame, state: np.ndarray, strength: np.ndarray,
                 reason: Callable[[np.ndarray], list[str]]) -> pd.DataFrame:
    """The output frame; `reason(rows)` formats the reasons of the given non-HOLD row positions only.

    The action column is categorical (values "SELL", "HOLD", "BUY"), far cheaper than strings on long
    histories and compared like strings.
    """
    mode = _REASONS.get()
    active = state != HOLD_CODE
    if mode == "changes":
        active &= state != lag(state.astype(np.float64), bar_positions(frame))
    rows = np.flatnonzero(active) if mode != "none" else np.zeros(0, dtype=np.int64)
    reasons = np.full(state.size, "", dtype=object)
    if rows.size:
        reasons[rows] = reason(rows)
    strengths = np.where(state != HOLD_CODE, np.round(strength, 4), 0.0)
    action = pd.Categorical.from_codes(state.astype(np.int64) + 1, dtype=ACTION_DTYPE)
    return pd.DataFrame({"action": action, "strength": strengths, "reason": reasons}, index=frame.index)
