"""Response bodies for signals and prediction accuracy."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SignalRead(BaseModel):
    """A graded strategy transition."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticker: str
    strategy: str
    interval: str
    bar_ts: datetime
    action: str
    grade: str
    technical_confidence: float
    model_direction: str | None
    model_confidence: float | None
    model_predicted_return: float | None
    model_version: str | None
    combined_confidence: float
    technical_only: bool
    price: float
    reasons: list[str]
    params: dict[str, Any]
    params_hash: str
    inputs_hash: str
    input_start_ts: datetime
    created_at: datetime


class SignalPage(BaseModel):
    """A page of signals, newest bar first."""

    total: int
    limit: int
    offset: int
    items: list[SignalRead]


class SignalCheck(BaseModel):
    """Result of recomputing a stored signal from the stored bars and indicators."""

    signal_id: int
    inputs_hash_matches: bool
    params_hash_matches: bool
    recomputed_action: str
    recomputed_strength: float
    matches: bool


class AccuracyRow(BaseModel):
    """Directional accuracy of resolved predictions for one model version or ticker."""

    key: str
    predictions: int
    correct: int
    accuracy: float | None
    mean_actual_return: float | None


class AccuracyReport(BaseModel):
    """Accuracy grouped by model version or ticker."""

    group_by: str
    rows: list[AccuracyRow]


class PerformanceRow(BaseModel):
    """How the evaluated signals of one strategy, ticker or grade did at one horizon."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    horizon: int
    count: int
    wins: int
    successes: int
    win_rate: float
    success_rate: float
    average_return: float
    std_return: float | None
    sharpe: float | None
    worst_loss: float | None


class PerformanceReport(BaseModel):
    """Signal performance grouped by strategy, ticker or grade."""

    horizon: int
    group_by: str
    success_threshold: float
    rows: list[PerformanceRow]
