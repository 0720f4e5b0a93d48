"""Combining technical confidence with the model's prediction into a grade (seed 001's 60/40 rule)."""

from __future__ import annotations

from dataclasses import dataclass

TECHNICAL_WEIGHT, MODEL_WEIGHT = 0.6, 0.4
AGREE_FACTOR, DISAGREE_FACTOR = 1.2, 0.8
STRONG_AT, PLAIN_AT = 0.8, 0.6


@dataclass(frozen=True)
class Graded:
    """The combined confidence and grade of one signal."""

    combined: float
    grade: str
    technical_only: bool


def grade_for(action: str, confidence: float) -> str:
    """STRONG_BUY/STRONG_SELL at >= 0.8, BUY/SELL at >= 0.6, HOLD below."""
    if confidence >= STRONG_AT:
        return f"STRONG_{action}"
    if confidence >= PLAIN_AT:
        return action
    return "HOLD"


def combine(action: str, technical: float, model_direction: str | None,
            model_confidence: float | None) -> Graded:
    """Technical 60% / model 40%, x1.2 when they agree and x0.8 when they don't; technical alone without a model."""
    if model_direction is None or model_confidence is None:
        return Graded(technical, grade_for(action, technical), technical_only=True)
    agrees = (model_direction == "up") == (action == "BUY")
    combined = (TECHNICAL_WEIGHT * technical + MODEL_WEIGHT * model_confidence) * (
        AGREE_FACTOR if agrees else DISAGREE_FACTOR)
    combined = min(1.0, combined)
    return Graded(combined, grade_for(action, combined), technical_only=False)
