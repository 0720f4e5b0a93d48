"""Market data: providers, stored bars, stocks, data quality and the stock endpoints."""
