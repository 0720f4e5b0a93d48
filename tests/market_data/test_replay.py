"""Replay provider on the bundled history: file mapping, statuses, resampling and the replay clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signalhub.core.calendars import XKRX, XNYS
from signalhub.core.config import PROJECT_ROOT, Settings
from signalhub.market_data.providers.base import BAR_COLUMNS, FetchStatus
from signalhub.market_data.providers.replay import (
    STOCKS,
    ReplayClock,
    ReplayProvider,
    replay_clock_from_settings,
    stock_info,
)

SEED = PROJECT_ROOT / "database" / "seed"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class FakeWall:
    """A settable wall clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def provider() -> ReplayProvider:
    return ReplayProvider(SEED)


def test_lists_bundled_tickers_and_reference_data(provider: ReplayProvider) -> None:
    tickers = provider.list_tickers()
    assert tickers == sorted(["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "SPY",
                              "005930.KS", "000660.KS", "035420.KS"])
    assert provider.list_tickers("1m") == ["005930.KS", "AAPL", "AMZN", "MSFT", "SPY"]
    stocks = {s.ticker: s for s in provider.list_stocks()}
    assert set(stocks) == set(tickers) == {s.ticker for s in STOCKS}
    assert stocks["005930.KS"].name == "Samsung Electronics Co., Ltd."
    assert (stocks["000660.KS"].exchange, stocks["000660.KS"].currency) == (XKRX, "KRW")
    assert stocks["035420.KS"].name == "NAVER Corporation"
    assert stocks["AAPL"].sector == "Technology" and stocks["SPY"].asset_type == "etf"
    assert stock_info("aapl") is stocks["AAPL"]


def test_daily_bars_match_the_csv(provider: ReplayProvider) -> None:
    result = provider.fetch_bars(["AAPL"], "1d", None, None)["AAPL"]
    assert result.status is FetchStatus.OK
    assert result.meta["currency"] == "USD" and result.meta["exchange"] == XNYS
    bars = result.bars
    csv = pd.read_csv(SEED / "daily" / "AAPL.csv")
    assert list(bars.columns) == BAR_COLUMNS and len(bars) == len(csv) == 1256
    assert str(bars["ts"].dt.tz) == "UTC"
    assert bars["ts"].iloc[0] == utc("2020-08-10") and bars["ts"].iloc[-1] == utc("2025-08-08")
    for col in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(bars[col].to_numpy(), csv[col].to_numpy(dtype=float))
    first = bars.iloc[0]
    assert (first["open"], first["close"], first["volume"]) == (112.5999984741211, 112.72750091552734, 212403600)


def test_korean_meta_and_range_filter(provider: ReplayProvider) -> None:
    result = provider.fetch_bars(["005930.KS"], "1d", utc("2025-06-02 12:00"), utc("2025-06-05"))["005930.KS"]
    assert result.meta["currency"] == "KRW" and result.meta["exchange"] == XKRX
    assert result.meta["name"] == "Samsung Electronics Co., Ltd." and result.meta["sector"] == "Technology"
    # Daily start counts from its date, end is exclusive, and 06-03 (election day) has no bar.
    assert list(result.bars["ts"]) == [utc("2025-06-02"), utc("2025-06-04")]
    minutes = provider.fetch_bars(["SPY"], "1m", utc("2025-04-24 13:31"), utc("2025-04-24 13:34"))["SPY"].bars
    assert list(minutes["ts"]) == [utc("2025-04-24 13:31"), utc("2025-04-24 13:32"), utc("2025-04-24 13:33")]


def test_statuses(provider: ReplayProvider) -> None:
    results = provider.fetch_bars(["NOPE", "NVDA", "SPY"], "1m", None, None)
    assert results["NOPE"].status is FetchStatus.UNKNOWN_TICKER
    assert results["NVDA"].status is FetchStatus.NO_NEW_DATA  # known ticker, no bundled 1m bars
    assert results["SPY"].status is FetchStatus.OK
    weekend = provider.fetch_bars(["AAPL"], "1d", utc("2024-07-06"), utc("2024-07-07"))["AAPL"]
    assert weekend.status is FetchStatus.NO_NEW_DATA and weekend.bars.empty
    with pytest.raises(ValueError):
        provider.fetch_bars(["AAPL"], "2h", None, None)  # type: ignore[arg-type]


def test_returned_frames_do_not_alias_the_cache(provider: ReplayProvider) -> None:
    first = provider.fetch_bars(["MSFT"], "1d", None, None)["MSFT"].bars
    first.loc[0, "close"] = -1.0
    again = provider.fetch_bars(["MSFT"], "1d", None, None)["MSFT"].bars
    assert again.loc[0, "close"] > 0


def test_alpha_vantage_bar_ends_are_shifted_to_starts(provider: ReplayProvider) -> None:
    bars = provider.history("MSFT", "1m")
    first = bars.iloc[0]
    # The CSV row labelled 14:31Z (09:31 EST, the bar END) is the 09:30 bar.
    assert first["ts"] == utc("2019-02-11 14:30")
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        106.075, 106.23, 106.0, 106.23, 469145)
    assert bars["ts"].iloc[-1] == utc("2019-02-15 20:59")


def test_regular_hours_only_by_default(provider: ReplayProvider) -> None:
    spy = provider.history("SPY", "1m")
    assert len(spy) == 780  # 2 x 390 regular-session minutes out of 1,774 rows
    assert spy["ts"].iloc[0] == utc("2025-04-24 13:30") and spy["ts"].iloc[-1] == utc("2025-04-25 19:59")
    assert len(ReplayProvider(SEED, regular_hours_only=False).history("SPY", "1m")) == 1774
    aapl = provider.history("AAPL", "1m")
    assert utc("2024-10-02 15:15") not in set(aapl["ts"])  # null row in the Yahoo response
    assert aapl["ts"].iloc[-1] == utc("2024-10-02 19:59")  # trailing daily-close row left out
    assert len(aapl) == 1948 + 389  # Alpha Vantage 2019 days + Yahoo 2024-10-02


def test_resample_1m_to_5m_by_hand(provider: ReplayProvider) -> None:
    spy = provider.fetch_bars(["SPY"], "5m", utc("2025-04-24 13:30"), utc("2025-04-24 13:40"))["SPY"].bars
    assert list(spy["ts"]) == [utc("2025-04-24 13:30"), utc("2025-04-24 13:35")]
    first, second = spy.iloc[0], spy.iloc[1]
    # CSV rows 13:30..13:34 and 13:35..13:39.
    assert (first["open"], first["high"], first["low"], first["close"]) == (536.74, 536.96, 535.8074, 536.2701)
    assert first["volume"] == 433488 + 219844 + 211880 + 185812 + 127282
    assert (second["open"], second["high"], second["low"], second["close"]) == (536.27, 536.76, 535.4504, 536.71)
    assert second["volume"] == 126033 + 158595 + 71850 + 111450 + 144640
    # Alpha Vantage minutes labelled 14:31..14:35 form the 14:30 bar once shifted.
    msft = provider.history("MSFT", "5m").iloc[0]
    assert msft["ts"] == utc("2019-02-11 14:30")
    assert (msft["open"], msft["high"], msft["low"], msft["close"]) == (106.075, 106.45, 106.0, 106.45)
    assert msft["volume"] == 469145 + 59089 + 100915 + 131771 + 85231


def test_resample_follows_the_session_clock(provider: ReplayProvider) -> None:
    hourly = provider.history("SPY", "60m")
    day = hourly[hourly["ts"] < utc("2025-04-25")]
    assert [t.strftime("%H:%M") for t in day["ts"]] == ["13:30", "14:30", "15:30", "16:30", "17:30", "18:30",
                                                         "19:30"]
    minutes = provider.history("SPY", "1m")
    assert hourly["volume"].sum() == minutes["volume"].sum()
    last = minutes[(minutes["ts"] >= utc("2025-04-24 19:30")) & (minutes["ts"] < utc("2025-04-24 20:00"))]
    assert day.iloc[-1]["close"] == last["close"].iloc[-1] and day.iloc[-1]["high"] == last["high"].max()
    samsung = provider.history("005930.KS", "60m")
    assert len(samsung) == 4 * 6  # 09:00..14:00 KST; the source has no 15:00-15:30 minutes
    assert samsung["ts"].iloc[0] == utc("2025-06-13 00:00")


def test_clock_reveals_a_daily_bar_only_after_the_close() -> None:
    wall = FakeWall(datetime(2030, 1, 1, tzinfo=UTC))
    clock = ReplayClock(utc("2024-07-03 16:59"), speed=1.0, anchor=wall.at, wall=wall)
    provider = ReplayProvider(SEED, clock=clock)

    def newest() -> pd.Timestamp:
        return provider.fetch_bars(["AAPL"], "1d", None, None)["AAPL"].bars["ts"].iloc[-1]

    assert newest() == utc("2024-07-02")  # 07-03 closes early, at 17:00Z
    wall.at += timedelta(minutes=1)
    assert newest() == utc("2024-07-03")
    wall.at += timedelta(days=1)  # July 4th: nothing new
    assert newest() == utc("2024-07-03")
    since = provider.fetch_bars(["AAPL"], "1d", utc("2024-07-04"), None)["AAPL"]
    assert since.status is FetchStatus.NO_NEW_DATA


def test_clock_reveals_intraday_bars_after_their_end() -> None:
    wall = FakeWall(datetime(2030, 1, 1, tzinfo=UTC))
    clock = ReplayClock(utc("2025-06-13 00:10:30"), speed=60.0, anchor=wall.at, wall=wall)
    provider = ReplayProvider(SEED, clock=clock)
    bars = provider.fetch_bars(["005930.KS"], "1m", None, None)["005930.KS"].bars
    assert bars["ts"].iloc[-1] == utc("2025-06-13 00:09")  # the 00:10 bar ends at 00:11
    five = provider.fetch_bars(["005930.KS"], "5m", None, None)["005930.KS"].bars
    assert list(five["ts"]) == [utc("2025-06-13 00:00"), utc("2025-06-13 00:05")]
    wall.at += timedelta(seconds=30)  # x60: 30 simulated minutes later
    assert provider.fetch_bars(["005930.KS"], "1m", None, None)["005930.KS"].bars["ts"].iloc[-1] == utc(
        "2025-06-13 00:39")
    assert provider.now() == utc("2025-06-13 00:40:30")


def test_clock_speed_against_the_real_wall_clock() -> None:
    start = utc("2025-06-12 21:00")  # after the 06-12 KRX close, before 06-13
    clock = ReplayClock(start, speed=3600.0, anchor=datetime.now(UTC) - timedelta(seconds=10))
    elapsed = clock.now() - start
    assert timedelta(hours=10) <= elapsed < timedelta(hours=11)
    bars = ReplayProvider(SEED, clock=clock).fetch_bars(["005930.KS"], "1d", None, None)["005930.KS"].bars
    assert bars["ts"].iloc[-1] == utc("2025-06-13")  # 06-13 closed at 06:30Z, 9.5 h after start
    frozen = ReplayClock(start, speed=3600.0)
    assert ReplayProvider(SEED, clock=frozen).fetch_bars(["005930.KS"], "1d", None, None)[
        "005930.KS"].bars["ts"].iloc[-1] == utc("2025-06-12")


def test_clock_is_persisted_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "replay-clock.json"
    start = datetime(2024, 1, 2, tzinfo=UTC)
    first = ReplayClock.load_or_create(start, 60.0, path=path, wall=FakeWall(datetime(2030, 1, 1, tzinfo=UTC)))
    assert json.loads(path.read_text())["anchor"] == "2030-01-01T00:00:00+00:00"
    later = FakeWall(datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC))
    second = ReplayClock.load_or_create(start, 60.0, path=path, wall=later)  # another process, 10 s on
    assert second.anchor == first.anchor and second.now() == datetime(2024, 1, 2, 0, 10, tzinfo=UTC)
    reset = ReplayClock.load_or_create(start, 60.0, path=path, reset=True, wall=later)
    assert reset.anchor == later.at and reset.now() == start
    changed = ReplayClock.load_or_create(start, 120.0, path=path, wall=FakeWall(datetime(2030, 2, 1, tzinfo=UTC)))
    assert changed.anchor == datetime(2030, 2, 1, tzinfo=UTC)
    assert json.loads(path.read_text())["speed"] == 120.0


def test_clock_from_settings(tmp_path: Path) -> None:
    assert replay_clock_from_settings(Settings(replay_start=None), path=tmp_path / "c.json") is None
    assert not (tmp_path / "c.json").exists()
    clock = replay_clock_from_settings(Settings(replay_start=datetime(2024, 1, 2), replay_speed=10),
                                       path=tmp_path / "c.json")
    assert clock is not None and clock.start == datetime(2024, 1, 2, tzinfo=UTC) and clock.speed == 10
    assert (tmp_path / "c.json").exists()


def test_without_clock_all_history_is_served(provider: ReplayProvider) -> None:
    assert provider.clock is None
    bars = provider.fetch_bars(["000660.KS"], "1d", None, None)["000660.KS"].bars
    assert bars["ts"].iloc[0] == utc("1996-12-26") and bars["ts"].iloc[-1] == utc("2025-06-17")
