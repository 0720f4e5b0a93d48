"""KIS as a market-data provider: daily KRX bars through the provider interface, into price_bars."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import func, select

from signalhub.core.config import get_settings
from signalhub.market_data import service
from signalhub.market_data.providers import get_provider
from signalhub.market_data.providers.base import FetchStatus
from signalhub.market_data.providers.kis import KisProvider
from signalhub.models import PriceBar, Stock


def _bars(days: int) -> list[tuple]:
    sessions = pd.bdate_range("2025-01-02", periods=days)
    return [(d.date(), 100.0 + i, 105.0 + i, 95.0 + i, 101.0 + i, 1000 + i) for i, d in enumerate(sessions)]


def test_registry_builds_the_kis_provider_from_settings(kis_env, fake):
    creds = fake.add_app(paper=True)
    for name, value in fake.settings_env(creds).items():
        kis_env.setenv(name, value)
    fake.add_daily_bars("005930", _bars(5))
    provider = get_provider("kis")
    try:
        result = provider.fetch_bars(["005930.KS"], "1d", datetime(2025, 1, 1, tzinfo=UTC),
                                     datetime(2025, 2, 1, tzinfo=UTC))["005930.KS"]
    finally:
        provider.close()
    assert isinstance(provider, KisProvider) and result.status == FetchStatus.OK and len(result.bars) == 5


def test_fetch_classifies_each_ticker(kis_env, fake):
    creds = fake.add_app(paper=True)
    for name, value in fake.settings_env(creds).items():
        kis_env.setenv(name, value)
    fake.add_daily_bars("005930", _bars(130))
    with_provider = KisProvider()
    try:
        results = with_provider.fetch_bars(["005930.KS", "AAPL", "999999.KS"], "1d",
                                           datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
        intraday = with_provider.fetch_bars(["005930.KS"], "1m", None, None)["005930.KS"]
        empty = with_provider.fetch_bars(["005930.KS"], "1d", datetime(2024, 1, 1, tzinfo=UTC),
                                         datetime(2024, 6, 1, tzinfo=UTC))["005930.KS"]
    finally:
        with_provider.close()
    ok = results["005930.KS"]
    assert ok.status == FetchStatus.OK and len(ok.bars) == 130 and ok.meta["currency"] == "KRW"
    assert ok.bars["ts"].iloc[0] == pd.Timestamp("2025-01-02", tz="UTC")
    assert results["AAPL"].status == FetchStatus.UNKNOWN_TICKER
    assert results["999999.KS"].status == FetchStatus.UNKNOWN_TICKER
    assert intraday.status == FetchStatus.FAILED and "realtime" in intraday.message
    assert empty.status == FetchStatus.NO_NEW_DATA


def test_update_prices_stores_kis_bars(kis_env, fake, db_session):
    creds = fake.add_app(paper=False)
    for name, value in fake.settings_env(creds).items():
        kis_env.setenv(name, value)
    get_settings.cache_clear()  # db_session read the settings before the KIS variables were set
    fake.add_daily_bars("000660", _bars(20))
    provider = KisProvider()
    try:
        summary = service.update_prices(db_session, provider, ["000660.KS"], "1d",
                                        datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
    finally:
        provider.close()
    db_session.flush()
    assert summary.summaries[0].status == "ok" and summary.summaries[0].bars_stored == 20
    assert db_session.scalar(select(func.count()).select_from(PriceBar).where(PriceBar.source == "kis")) == 20
    assert db_session.get(Stock, "000660.KS").exchange == "XKRX"
    last = db_session.get(PriceBar, ("000660.KS", "1d", datetime.combine(date(2025, 1, 29), datetime.min.time(),
                                                                        tzinfo=UTC)))
    assert last is not None and last.close == 120.0
