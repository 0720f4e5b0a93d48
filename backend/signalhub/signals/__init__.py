"""Signals: strategies, transitions, model-assisted grading, and the signal endpoints."""
