"""Per-user watchlists of tickers."""
