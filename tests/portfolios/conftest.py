"""Fixtures for portfolio tests: bundled real bars for a KRW and two USD tickers, and signed-in users."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from signalhub.core.db import session_scope
from signalhub.market_data import service as market_service
from signalhub.market_data.providers import get_provider
from tests.helpers import auth_headers

# Latest bundled closes these tests value holdings at (database/seed/daily/*.csv, column `close`).
LAST_CLOSE = {"005930.KS": ("2025-06-17", "58450"), "AAPL": ("2025-08-08", "229.35"), "SPY": ("2025-08-08", "637.18")}


@pytest.fixture
def market() -> None:
    """Load the last weeks of bundled history through the real update path (replay provider → bars)."""
    with session_scope() as session:
        market_service.update_prices(session, get_provider("replay"), ["005930.KS"], "1d",
                                     datetime(2025, 5, 20, tzinfo=UTC))
        market_service.update_prices(session, get_provider("replay"), ["AAPL", "SPY"], "1d",
                                     datetime(2025, 7, 15, tzinfo=UTC))


@pytest.fixture
def ann(client) -> dict[str, str]:
    """Ann: capital 10,000,000 KRW (the default)."""
    return auth_headers(client, "ann@example.com")


@pytest.fixture
def bob(client) -> dict[str, str]:
    """Bob: another user, who must never see Ann's ledger."""
    return auth_headers(client, "bob@example.com")
