"""From bars and indicators to graded, deduplicated, reproducible signals; flushes, never commits."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from signalhub.core import metrics
from signalhub.core.calendars import exchange_for_ticker
from signalhub.core.config import get_settings
from signalhub.indicators.compute import INDICATOR_COLUMNS
from signalhub.market_data.quality import gap_breaks
from signalhub.signals import grading, repository, strategies
from signalhub.signals.model_client import ModelClient, ModelPrediction, ModelUnavailableError
from signalhub.signals.strategies.base import Action

logger = logging.getLogger(__name__)

HASH_COLUMNS = ["open", "high", "low", "close", "volume", *INDICATOR_COLUMNS]


@dataclass
class PipelineResult:
    """What one evaluation did, and where its time went (seconds per stage)."""

    signal_ids: list[int] = field(default_factory=list)
    candidates: int = 0
    suppressed_by_gap: int = 0
    model_status: str = "not called"
    timings: dict[str, float] = field(default_factory=dict)


def inputs_hash(rows: pd.DataFrame) -> str:
    """sha256 over the bar times and the OHLCV + indicator values a strategy looked at (NaN-stable)."""
    digest = hashlib.sha256()
    digest.update(pd.DatetimeIndex(rows["ts"]).as_unit("ns").asi8.tobytes())
    digest.update(np.ascontiguousarray(rows[HASH_COLUMNS].to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


def _transitions(frame: pd.DataFrame, states: pd.DataFrame, new_bars: int | None) -> np.ndarray:
    """Rows where the state changes into BUY or SELL, among each ticker's newest `new_bars` rows."""
    action = states["action"].to_numpy()
    previous = states["action"].groupby(frame["ticker"].to_numpy(), sort=False).shift(1).to_numpy()
    # The first loaded row of a ticker has no known previous state: never treat it as a change.
    changed = (action != previous) & pd.notna(previous) & np.isin(action, [Action.BUY, Action.SELL])
    if new_bars is not None:
        from_end = frame.groupby("ticker", sort=False).cumcount(ascending=False).to_numpy()
        changed &= from_end < new_bars
    return np.flatnonzero(changed)


def _gap_within(breaks: np.ndarray, tickers: np.ndarray, row: int, lookback: int) -> bool:
    lo = max(0, row - lookback + 1)
    same = tickers[lo:row + 1] == tickers[row]
    return bool(breaks[lo:row + 1][same].any())


def _predict(model: ModelClient | None, frame: pd.DataFrame, rows: dict[str, int], interval: str,
             result: PipelineResult) -> dict[str, ModelPrediction]:
    """Model predictions for the candidate rows (one per ticker); empty when the model is unavailable."""
    if model is None or not rows:
        return {}
    try:
        info = model.info()
        wanted = {t: r for t, r in rows.items() if t in info.symbols}
        if not wanted:
            result.model_status = "no supported symbols"
            return {}
        from model_server.features import RECOMMENDED_BARS, build_features

        # Only each candidate's recent bars: the features need RECOMMENDED_BARS of history, not all of it.
        subset = frame[frame["ticker"].isin(list(wanted))].groupby("ticker", sort=False, observed=True).tail(
            RECOMMENDED_BARS)
        features = build_features(subset[["ticker", "ts", "open", "high", "low", "close", "volume"]])
        unknown = [name for name in info.features if name not in features.columns]
        if unknown:
            raise ModelUnavailableError(f"model {info.version} expects features this platform does not build: "
                                        f"{', '.join(unknown)}")
        payload = []
        for ticker, row in wanted.items():
            values = features.loc[row, list(info.features)]
            if values.notna().all():
                payload.append((ticker, {k: float(v) for k, v in values.items()}))
        predictions = model.predict_batch(payload, interval, info.horizon)
        result.model_status = f"ok ({len(predictions)} predictions, {info.version})"
        return predictions
    except ModelUnavailableError as exc:
        result.model_status = f"unavailable: {exc}"
        logger.warning("model server unavailable; grading technical-only", extra={"reason": str(exc)})
        return {}


def evaluate_and_store(session: Session, frame: pd.DataFrame, interval: str, new_bars: int | None,
                       model: ModelClient | None, strategy_names: Sequence[str] | None = None,
                       params: Mapping[str, Mapping[str, Any]] | None = None) -> PipelineResult:
    """Run strategies over bars+indicators, keep transitions not preceded by a gap, grade with the model,
    and store new signals (existing dedup keys are skipped)."""
    result = PipelineResult()
    if frame.empty:
        return result
    params = params if params is not None else strategies.load_params()
    names = list(strategy_names or strategies.REGISTRY)
    started = time.perf_counter()
    # Reasons are only needed where a state changes, which is where signals come from.
    states = strategies.evaluate(frame, names, params, reasons="changes")
    result.timings["strategies"] = time.perf_counter() - started

    started = time.perf_counter()
    breaks = gap_breaks(frame, interval)
    tickers = frame["ticker"].to_numpy()
    candidates: list[tuple[str, int]] = []
    for name in names:
        for row in _transitions(frame, states[name], new_bars):
            # Never signal across an unfilled gap inside the bars this strategy depends on.
            if _gap_within(breaks, tickers, row, strategies.REGISTRY[name].min_bars):
                result.suppressed_by_gap += 1
                continue
            candidates.append((name, row))
    result.candidates = len(candidates)
    result.timings["transitions"] = time.perf_counter() - started

    started = time.perf_counter()
    latest_rows = {}
    for _, row in candidates:
        ticker = tickers[row]
        latest_rows[ticker] = max(row, latest_rows.get(ticker, -1))
    predictions = _predict(model, frame, latest_rows, interval, result)
    result.timings["model"] = time.perf_counter() - started

    started = time.perf_counter()
    horizon = get_settings().model_horizon
    # Index of each ticker's first loaded row: an input window never reaches into another ticker.
    first_row = frame.reset_index(drop=True).groupby("ticker", sort=False).head(1)
    ticker_start = dict(zip(first_row["ticker"], first_row.index, strict=True))
    signal_rows, prediction_rows = [], []
    for name, row in candidates:
        ticker, state = tickers[row], states[name].iloc[row]
        bar = frame.iloc[row]
        prediction = predictions.get(ticker) if latest_rows[ticker] == row else None
        graded = grading.combine(state["action"], float(state["strength"]),
                                 prediction.direction if prediction else None,
                                 prediction.confidence if prediction else None)
        lookback = strategies.lookback_bars(name, params.get(name))
        first = max(row - lookback + 1, int(ticker_start[ticker]))
        window = frame.iloc[first:row + 1]
        strategy_params = dict(params.get(name, {}))
        signal_rows.append({
            "ticker": ticker, "strategy": name, "interval": interval, "bar_ts": bar["ts"].to_pydatetime(),
            "action": state["action"], "grade": graded.grade, "technical_confidence": float(state["strength"]),
            "model_direction": prediction.direction if prediction else None,
            "model_confidence": prediction.confidence if prediction else None,
            "model_predicted_return": prediction.predicted_return if prediction else None,
            "model_version": prediction.model_version if prediction else None,
            "combined_confidence": graded.combined, "technical_only": graded.technical_only,
            "price": float(bar["close"]), "reasons": [r for r in str(state["reason"]).split("; ") if r],
            "params": strategy_params, "params_hash": strategies.strategy_fingerprint(name, strategy_params),
            "inputs_hash": inputs_hash(window), "input_start_ts": window["ts"].iloc[0].to_pydatetime(),
        })
        if prediction:
            prediction_rows.append({
                "ticker": ticker, "interval": interval, "base_ts": bar["ts"].to_pydatetime(),
                "base_price": float(bar["close"]), "horizon": horizon, "model_version": prediction.model_version,
                "direction": prediction.direction, "confidence": prediction.confidence,
                "predicted_return": prediction.predicted_return,
            })
    repository.insert_new_predictions(session, _unique(prediction_rows))
    result.signal_ids = repository.insert_new_signals(session, signal_rows)
    result.timings["storage"] = time.perf_counter() - started
    # Counted per run even when nothing transitioned: the invariants watch that evaluation keeps happening.
    for exchange in {exchange_for_ticker(str(t)) for t in frame["ticker"].unique()}:
        metrics.SIGNAL_EVALUATIONS.labels(exchange=exchange).inc()
    for strategy, grade in repository.strategy_grades(session, result.signal_ids):
        metrics.SIGNALS.labels(strategy=strategy, grade=grade).inc()
    return result


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen[(row["ticker"], row["interval"], row["base_ts"], row["horizon"], row["model_version"])] = row
    return list(seen.values())


def verify_signal(session: Session, signal_id: int) -> dict[str, Any]:
    """Recompute a stored signal from the stored bars and indicators of its input window and compare."""
    from signalhub.core.errors import NotFoundError
    from signalhub.indicators.repository import load_indicator_frame

    signal = repository.get_signal(session, signal_id)
    if signal is None:
        raise NotFoundError(f"No signal {signal_id}")
    rows = load_indicator_frame(session, signal.ticker, signal.interval, signal.input_start_ts, signal.bar_ts)
    states = strategies.evaluate(rows, [signal.strategy], {signal.strategy: signal.params})[signal.strategy]
    last = states.iloc[-1] if len(states) else None
    params_ok = strategies.strategy_fingerprint(signal.strategy, dict(signal.params)) == signal.params_hash
    inputs_ok = bool(len(rows)) and inputs_hash(rows) == signal.inputs_hash
    action = str(last["action"]) if last is not None else "HOLD"
    strength = float(last["strength"]) if last is not None else 0.0
    return {"signal_id": signal.id, "inputs_hash_matches": inputs_ok, "params_hash_matches": params_ok,
            "recomputed_action": action, "recomputed_strength": strength,
            "matches": inputs_ok and params_ok and action == signal.action
            and abs(strength - signal.technical_confidence) < 1e-12}


def resolve_predictions(session: Session) -> int:
    """Record the outcome of predictions whose horizon has passed (idempotent); returns how many."""
    from signalhub.core.time import utcnow
    from signalhub.market_data.repository import close_after

    resolved = 0
    now = utcnow()
    for prediction in repository.unresolved_predictions(session):
        close = close_after(session, prediction.ticker, prediction.interval, prediction.base_ts, prediction.horizon)
        if close is None:
            continue
        actual = close / prediction.base_price - 1.0
        prediction.actual_return = actual
        prediction.correct = (actual > 0) if prediction.direction == "up" else (actual < 0)
        prediction.resolved_at = now
        resolved += 1
    session.flush()
    return resolved


def require_strategy(name: str) -> None:
    """422 naming the strategy when it is not registered."""
    from signalhub.core.errors import UnprocessableError

    if name not in strategies.REGISTRY:
        raise UnprocessableError(f"Unknown strategy '{name}'; known: {', '.join(sorted(strategies.REGISTRY))}")
