"""Per-user portfolios: the trade ledger, positions by average cost, and the dashboard."""
