"""AI recommendations and cross-ticker patterns, built from stored signals, indicators and bars."""
