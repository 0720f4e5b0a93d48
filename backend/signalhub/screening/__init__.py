"""Screening and analysis: latest readings, oversold/overbought screens, return correlations."""
