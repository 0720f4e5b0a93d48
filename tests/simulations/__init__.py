"""Tests of strategy simulations (backtests)."""
