"""Market data providers behind one interface (see `base.py`) and the registry that picks one."""

from __future__ import annotations

from signalhub.core.config import get_settings
from signalhub.market_data.providers.base import INTERVALS, MarketDataProvider

__all__ = ["INTERVALS", "MarketDataProvider", "get_provider"]


def get_provider(name: str | None = None) -> MarketDataProvider:
    """Return the provider called `name` (default: MARKET_DATA_PROVIDER)."""
    name = name or get_settings().market_data_provider
    if name == "replay":
        from signalhub.market_data.providers.replay import ReplayProvider

        return ReplayProvider.from_settings()
    if name == "yahoo":
        from signalhub.market_data.providers.yahoo import YahooProvider

        return YahooProvider()
    if name == "kis":
        from signalhub.market_data.providers.kis import KisProvider

        return KisProvider()
    raise ValueError(f"unknown market data provider {name!r}; use 'replay', 'yahoo' or 'kis'")
