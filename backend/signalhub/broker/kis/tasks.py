"""Celery tasks of the KIS real-time consumer: intraday signal evaluation of bars the ticks completed."""

from __future__ import annotations

import pandas as pd

from signalhub.core.db import session_scope
from signalhub.indicators.service import refresh_indicators
from signalhub.signals import service as signals_service
from signalhub.signals.model_client import get_model_client
from signalhub.worker import celery_app


@celery_app.task(name="signalhub.broker.kis.tasks.evaluate_realtime_bars")
def evaluate_realtime_bars(bars: dict[str, str], interval: str) -> dict[str, object]:
    """Evaluate strategies on each ticker's just-completed bar ({ticker: bar start ISO}); idempotent."""
    model = get_model_client()
    try:
        with session_scope() as session:
            # The bar after the completed one has already started: load both, evaluate up to the completed one.
            frame = refresh_indicators(session, list(bars), interval, new_bars=2)
            if not frame.empty:
                cutoff = frame["ticker"].map({t: pd.Timestamp(ts) for t, ts in bars.items()})
                frame = frame[frame["ts"] <= cutoff].reset_index(drop=True)
            result = signals_service.evaluate_and_store(session, frame, interval, 1, model)
    finally:
        model.close()
    if result.signal_ids:
        from signalhub.notifications.tasks import fan_out_signals

        fan_out_signals.delay(result.signal_ids)
    return {"bars": bars, "interval": interval, "new_signal_ids": result.signal_ids}
