"""The strategy registry: names → specs, parameters from `signals/strategies.yaml`, evaluation, fingerprints.

- `REGISTRY` maps each strategy name to its `StrategySpec` (see `base.py` for the frame contract).
- `load_params(path=None)` reads the YAML (top-level keys are strategy names, values their parameter
  overrides) and returns every registered strategy's fully resolved parameters; unknown strategy or
  parameter names, wrong types and out-of-range values raise ValueError naming them.
  `resolve_all_params(overrides)` does the same from a mapping instead of a file.
- `evaluate(frame, names=None, params=None, reasons="all")` returns `{name: output}`, each output having
  the frame's index and the columns action, strength, reason (see `base.reasons_mode` for `reasons`).
  `long_results(frame, results)` stacks them into one long frame (ticker, ts, strategy, action,
  strength, reason).
- `lookback_bars(name, params)` is how many rows per ticker, ending at bar t, determine the state at t.
- `strategy_fingerprint(name, params)` identifies the exact rule and parameters that produced a signal.

The fusion strategy's `component_params` are derived, never configured: they are the resolved
parameters of the component strategies themselves, so one YAML section configures each indicator.
Pass fusion its entry of `load_params()` / `resolve_all_params()` (which holds them) wherever its
parameters are stored, fingerprinted or used for `lookback_bars`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from signalhub.signals.strategies import bollinger, fusion, ma_cross, macd, rsi, stochastic
from signalhub.signals.strategies.base import (
    MAX_LOOKBACK,
    Action,
    ReasonMode,
    StrategyFn,
    StrategySpec,
    reasons_mode,
    resolve_params,
    shared_layout,
)

__all__ = [
    "DEFAULT_PARAMS_PATH",
    "MAX_LOOKBACK",
    "REGISTRY",
    "Action",
    "StrategyFn",
    "StrategySpec",
    "evaluate",
    "get_strategy",
    "load_params",
    "long_results",
    "lookback_bars",
    "resolve_all_params",
    "resolved_params",
    "strategy_fingerprint",
]

DEFAULT_PARAMS_PATH = Path(__file__).resolve().parent.parent / "strategies.yaml"

REGISTRY: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (bollinger.SPEC, rsi.SPEC, macd.SPEC, stochastic.SPEC, ma_cross.SPEC, fusion.SPEC)
}

_DERIVED = {fusion.NAME: ("component_params",)}


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy called `name`; ValueError naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (known: {sorted(REGISTRY)})") from None


def resolved_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One strategy's parameters: its defaults overlaid with `params`, validated and normalised."""
    spec = get_strategy(name)
    resolved = fusion.fusion_params(params) if name == fusion.NAME else resolve_params(name, spec.defaults, params)
    if spec.check is not None:
        spec.check(resolved)
    rows = spec.lookback_for(resolved) if spec.lookback_for is not None else spec.lookback
    if rows > MAX_LOOKBACK:
        raise ValueError(f"strategy {name!r} would depend on {rows} bars with these parameters; at most "
                         f"{MAX_LOOKBACK} are stored per signal")
    return resolved


def resolve_all_params(overrides: Mapping[str, Mapping[str, Any] | None] | None = None) -> dict[str, dict[str, Any]]:
    """Every registered strategy's parameters, defaults overlaid with `overrides` (name → partial params)."""
    given = dict(overrides or {})
    unknown = sorted(set(given) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown strategies: {unknown} (known: {sorted(REGISTRY)})")
    resolved = {name: resolved_params(name, given.get(name)) for name in REGISTRY if name != fusion.NAME}
    # Fusion components take the standalone strategies' parameters unless given explicitly.
    fusion_given = dict(given.get(fusion.NAME) or {})
    explicit = dict(fusion_given.pop("component_params", None) or {})
    components = fusion_given.get("components", fusion.DEFAULTS["components"])
    fusion_given["component_params"] = {
        c: {**resolved[c], **dict(explicit.get(c) or {})} if c in resolved else explicit.get(c)
        for c in components}
    resolved[fusion.NAME] = resolved_params(fusion.NAME, fusion_given)
    return {name: resolved[name] for name in REGISTRY}


_CACHE: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}


def load_params(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every strategy's parameters: defaults merged with the overrides in the YAML file (default: strategies.yaml)."""
    file = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    stat = file.stat()
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"{file}: expected a mapping of strategy names to parameters")
        for name, section in raw.items():
            if section is not None and not isinstance(section, Mapping):
                raise ValueError(f"{file}: parameters of {name!r} must be a mapping, got {section!r}")
            derived = [k for k in _DERIVED.get(name, ()) if k in (section or {})]
            if derived:
                raise ValueError(f"{file}: {name}.{derived[0]} is derived from the component strategies' own "
                                 "sections and cannot be set")
        try:
            resolved = resolve_all_params(raw)
        except ValueError as exc:
            raise ValueError(f"{file}: {exc}") from None
        _CACHE.clear()
        _CACHE[key] = resolved
    return copy.deepcopy(_CACHE[key])


def evaluate(frame: pd.DataFrame, names: Iterable[str] | None = None,
             params: Mapping[str, Mapping[str, Any] | None] | None = None,
             reasons: ReasonMode = "all") -> dict[str, pd.DataFrame]:
    """Run strategies on a long (ticker, ts)-sorted frame: {name: frame of action, strength, reason}.

    `params` maps strategy names to (partial) parameter overrides of the registry defaults; when it
    is None the YAML configuration (`load_params()`) is used. `reasons` = "changes" writes reasons only
    on the rows whose state differs from the ticker's previous bar (the transitions the platform emits;
    much faster on whole histories), "none" nowhere; the default "all" writes them on every non-HOLD row.
    """
    selected = list(REGISTRY) if names is None else list(dict.fromkeys(names))
    for name in selected:
        get_strategy(name)
    resolved = load_params() if params is None else resolve_all_params(params)
    results: dict[str, pd.DataFrame] = {}
    with shared_layout(frame), reasons_mode(reasons):
        # Standalone strategies first, so fusion can reuse their outputs when the parameters agree.
        for name in sorted(selected, key=lambda n: n == fusion.NAME):
            p = resolved[name]
            if name == fusion.NAME:
                outputs = {}
                for c in p["components"]:
                    cp = p["component_params"][c]
                    reuse = c in results and cp == resolved[c]
                    outputs[c] = results[c] if reuse else REGISTRY[c].fn(frame, cp)
                results[name] = fusion.combine(frame, outputs, p)
            else:
                results[name] = REGISTRY[name].fn(frame, p)
    return {name: results[name] for name in selected}


def lookback_bars(name: str, params: Mapping[str, Any] | None = None) -> int:
    """Rows per ticker, ending at bar t, that the state at t depends on under `params` (StrategySpec.lookback).

    Evaluating a frame that holds at least these rows of a ticker up to t (with indicator columns
    computed on enough earlier history) gives exactly the state at t of the whole history.
    """
    spec = get_strategy(name)
    resolved = resolved_params(name, params)
    return spec.lookback_for(resolved) if spec.lookback_for is not None else spec.lookback


def long_results(frame: pd.DataFrame, results: Mapping[str, pd.DataFrame], signals_only: bool = False) -> pd.DataFrame:
    """Stack `evaluate` results into one frame: ticker, ts, strategy, action, strength, reason."""
    parts = []
    for name, out in results.items():
        part = pd.DataFrame({"ticker": frame["ticker"].array, "ts": frame["ts"].array, "strategy": name,
                             "action": out["action"].array, "strength": out["strength"].array,
                             "reason": out["reason"].array}, index=frame.index)
        if signals_only:
            part = part[part["action"].to_numpy() != Action.HOLD.value]
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["ticker", "ts", "strategy", "action", "strength", "reason"])
    return pd.concat(parts)


def strategy_fingerprint(name: str, params: Mapping[str, Any] | None = None) -> str:
    """sha256 of the canonical JSON of the strategy's name, code version(s) and resolved parameters."""
    spec = get_strategy(name)
    resolved = resolved_params(name, params)
    payload: dict[str, Any] = {"strategy": name, "version": spec.version, "params": resolved}
    if name == fusion.NAME:
        payload["component_versions"] = {c: REGISTRY[c].version for c in resolved["components"]}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False,
                      default=_json_default)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"parameter value {value!r} is not JSON-serialisable")
