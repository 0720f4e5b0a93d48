"""Data quality on the bundled real history: gaps, unexpected bars, staleness, contiguous tails."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from signalhub.core.calendars import XKRX, XNYS
from signalhub.core.config import PROJECT_ROOT
from signalhub.market_data.providers.replay import ReplayProvider
from signalhub.market_data.quality import (
    check_freshness,
    contiguous_tail,
    find_gaps,
    is_stale,
    missing_gaps,
    quality_report,
    summarise_gaps,
)

SEED = PROJECT_ROOT / "database" / "seed"
US = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL", "SPY"]
TOLERANCE = timedelta(minutes=15)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def daily(ticker: str) -> pd.DataFrame:
    return ReplayProvider(SEED).history(ticker, "1d")


def raw_intraday_ts(name: str) -> pd.Series:
    return pd.to_datetime(pd.read_csv(SEED / "intraday" / name)["datetime"], utc=True)


@pytest.mark.parametrize("ticker", [*US, "035420.KS"])
def test_clean_daily_files_have_no_gaps(ticker: str) -> None:
    exchange = XKRX if ticker.endswith(".KS") else XNYS
    assert find_gaps(daily(ticker)["ts"], exchange, "1d") == []


@pytest.mark.parametrize("ticker", ["005930.KS", "000660.KS"])
def test_korean_daily_files_are_clean_from_1999(ticker: str) -> None:
    bars = daily(ticker)
    recent = bars[bars["ts"] >= utc("1999-01-01")]
    assert find_gaps(recent, XKRX, "1d") == []
    # The 2025-06-03 election holiday is absent from data and calendar alike: not a gap.
    assert utc("2025-06-03") not in set(recent["ts"])


def test_samsung_daily_anomalies_before_1999() -> None:
    gaps = find_gaps(daily("005930.KS"), XKRX, "1d")
    holes = missing_gaps(gaps)
    assert len(holes) == 27 and sum(g.count for g in holes) == 218
    # The source's systematic holes around January, May and September (24 of them)...
    spans = {(g.start.date(), g.end.date(), g.count) for g in holes}
    assert (date(1998, 1, 5), date(1998, 1, 16), 10) in spans
    assert (date(1991, 5, 1), date(1991, 5, 15), 11) in spans
    assert sum(1 for g in holes if g.count >= 6) == 24
    # ...plus three election days that KRX closed but the exchange-calendars holiday list lacks.
    assert sorted(g.start.date() for g in holes if g.count == 1) == [
        date(1995, 6, 27), date(1996, 4, 11), date(1998, 6, 4)]
    stray = [g for g in gaps if g.kind == "unexpected"]
    observed = daily("005930.KS")["ts"]
    stray_days = pd.DatetimeIndex(
        observed[pd.concat([observed.between(g.start, g.end) for g in stray], axis=1).any(axis=1)])
    assert sum(g.count for g in stray) == len(stray_days) == 364 and len(stray) == 361
    assert (stray_days.day_of_week == 5).sum() == 360  # Saturday sessions up to 1998-12-05
    assert stray_days.max() == utc("1998-12-05")
    assert sorted(d.date() for d in stray_days if d.day_of_week < 5) == [
        date(1992, 12, 28), date(1993, 7, 7), date(1994, 2, 14), date(1994, 5, 20)]


def test_hynix_daily_anomalies_before_1999() -> None:
    gaps = find_gaps(daily("000660.KS"), XKRX, "1d")
    holes = missing_gaps(gaps)
    assert [(g.start.date(), g.count) for g in holes] == [
        (date(1997, 1, 3), 9), (date(1997, 5, 2), 9), (date(1997, 9, 1), 7), (date(1998, 1, 5), 10),
        (date(1998, 5, 4), 9), (date(1998, 6, 4), 1), (date(1998, 9, 1), 6)]
    stray = [g for g in gaps if g.kind == "unexpected"]
    assert sum(g.count for g in stray) == 83
    assert all(g.start.day_of_week == 5 for g in stray)


def test_removed_session_is_detected_with_its_dates() -> None:
    bars = daily("AAPL")
    gaps = find_gaps(bars[bars["ts"] != utc("2024-07-05")], XNYS, "1d")
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.kind, gap.start, gap.end, gap.missing) == ("missing", utc("2024-07-05"), utc("2024-07-05"), 1)
    assert (gap.before, gap.after) == (utc("2024-07-03"), utc("2024-07-08"))  # July 4th is no gap

    kr = daily("005930.KS")
    kr = kr[kr["ts"] >= utc("2020-01-01")]
    gaps = find_gaps(kr[kr["ts"] != utc("2024-09-19")], XKRX, "1d")
    assert [(g.start, g.before, g.after) for g in gaps] == [
        (utc("2024-09-19"), utc("2024-09-13"), utc("2024-09-20"))]  # Chuseok 16-18 is no gap


def test_bar_on_a_holiday_is_reported_as_unexpected() -> None:
    bars = daily("AAPL")
    extra = pd.concat([bars, bars.iloc[[0]].assign(ts=utc("2024-07-04"))]).sort_values("ts")
    gaps = find_gaps(extra, XNYS, "1d")
    assert [(g.kind, g.start, g.count, g.missing) for g in gaps] == [("unexpected", utc("2024-07-04"), 1, 0)]


def test_intraday_anomalies_in_bundled_files() -> None:
    provider = ReplayProvider(SEED)
    # Yahoo AAPL: the 15:15Z bar is null in the source, so it is missing once the null row is dropped.
    aapl = provider.history("AAPL", "1m")
    aapl_2024 = aapl[aapl["ts"] >= utc("2024-01-01")]
    assert [(g.start, g.count) for g in find_gaps(aapl_2024, XNYS, "1m")] == [(utc("2024-10-02 15:15"), 1)]
    # ...and the raw file's trailing daily-close row (10-03 20:00Z) lies outside regular hours.
    raw = raw_intraday_ts("AAPL_1m_2024-10-02_yahoo.csv")
    assert [(g.kind, g.start) for g in find_gaps(raw, XNYS, "1m")] == [("unexpected", utc("2024-10-03 20:00"))]
    # Samsung 1m: 15:00-15:29 KST (incl. the closing auction) absent every day.
    samsung = find_gaps(provider.history("005930.KS", "1m"), XKRX, "1m")
    assert [(g.start, g.end, g.count) for g in samsung] == [
        (utc(f"2025-06-{d} 06:00"), utc(f"2025-06-{d} 06:29"), 30) for d in (13, 16, 17)]
    # Alpha Vantage MSFT (bar ends shifted to starts): two minutes missing on 2019-02-14.
    msft = find_gaps(provider.history("MSFT", "1m"), XNYS, "1m")
    assert [g.start for g in msft] == [utc("2019-02-14 19:31"), utc("2019-02-14 19:36")]
    assert len(find_gaps(provider.history("AMZN", "1m"), XNYS, "1m")) == 6


def test_extended_hours_are_unexpected_not_missing() -> None:
    gaps = find_gaps(raw_intraday_ts("SPY_1m_2025-04-24_2025-04-25_alpaca.csv"), XNYS, "1m")
    assert all(g.kind == "unexpected" for g in gaps)
    assert [(g.start, g.end, g.count) for g in gaps] == [
        (utc("2025-04-24 08:00"), utc("2025-04-24 13:29"), 289),
        (utc("2025-04-24 20:00"), utc("2025-04-25 13:29"), 512),
        (utc("2025-04-25 20:00"), utc("2025-04-25 23:59"), 193),
    ]


def test_freshness_intraday_during_open_hours() -> None:
    now = utc("2024-10-02 15:00")  # 11:00 ET, market open
    fresh = check_freshness(utc("2024-10-02 14:58"), XNYS, "1m", now, TOLERANCE)
    assert fresh.market_open and not fresh.stale and fresh.expected_last_bar == utc("2024-10-02 14:59")
    lagging = check_freshness(utc("2024-10-02 14:30"), XNYS, "1m", now, TOLERANCE)
    assert lagging.stale and lagging.overdue_since == utc("2024-10-02 14:32")
    assert lagging.lag == timedelta(minutes=28)
    assert not is_stale(utc("2024-10-02 14:50"), XNYS, "1m", now, TOLERANCE)  # 8 min behind: tolerated


def test_freshness_when_market_closed() -> None:
    weekend = utc("2024-10-05 12:00")
    result = check_freshness(utc("2024-10-04 19:59"), XNYS, "1m", weekend, TOLERANCE)
    assert not result.stale and not result.market_open
    assert is_stale(utc("2024-10-04 15:00"), XNYS, "1m", weekend, TOLERANCE)  # closed since, bars never came
    # Daily: after the July 4th holiday, before Monday's open, Friday's bar is the newest expected.
    monday = utc("2024-07-08 10:00")
    assert not is_stale(utc("2024-07-05"), XNYS, "1d", monday, TOLERANCE)
    assert is_stale(utc("2024-07-03"), XNYS, "1d", monday, TOLERANCE)
    assert not is_stale(utc("2024-07-03"), XNYS, "1d", utc("2024-07-04 18:00"), TOLERANCE)
    assert not is_stale(utc("2024-09-13"), XKRX, "1d", utc("2024-09-18 03:00"), TOLERANCE)  # Chuseok
    # During a session today's daily bar is not due yet; shortly after the close it is tolerated.
    assert not is_stale(utc("2024-10-01"), XNYS, "1d", utc("2024-10-02 15:00"), TOLERANCE)
    assert not is_stale(utc("2024-10-01"), XNYS, "1d", utc("2024-10-02 20:10"), TOLERANCE)
    assert is_stale(utc("2024-10-01"), XNYS, "1d", utc("2024-10-02 20:20"), TOLERANCE)
    assert is_stale(None, XNYS, "1d", monday, TOLERANCE)


def test_contiguous_tail_cuts_at_the_last_gap() -> None:
    bars = daily("AAPL")
    holed = bars[~bars["ts"].isin([utc("2023-03-01"), utc("2024-07-05")])].reset_index(drop=True)
    tail = contiguous_tail(holed, XNYS, "1d")
    assert tail["ts"].iloc[0] == utc("2024-07-08") and tail["ts"].iloc[-1] == bars["ts"].iloc[-1]
    assert len(contiguous_tail(bars, XNYS, "1d")) == len(bars)

    samsung = contiguous_tail(daily("005930.KS"), XKRX, "1d")
    assert samsung["ts"].iloc[0] == utc("1998-09-09")

    hynix = daily("000660.KS")
    kept = contiguous_tail(hynix, XKRX, "1d")
    assert (kept["ts"].dt.day_of_week == 5).sum() == 12  # Saturdays after the last hole are kept...
    dropped = contiguous_tail(hynix, XKRX, "1d", drop_unexpected=True)
    assert (dropped["ts"].dt.day_of_week == 5).sum() == 0  # ...unless asked otherwise
    assert len(kept) - len(dropped) == 12


def test_reports_are_json_ready() -> None:
    report = quality_report(daily("005930.KS"), XKRX, "1d", ticker="005930.KS", max_items=5)
    assert report["missing_runs"] == 27 and report["missing_bars"] == 218
    assert report["unexpected_bars"] == 364 and report["truncated"] is True
    assert report["last_missing"]["start"] == "1998-09-01T00:00:00+00:00"
    assert len(report["missing"]) == 5
    json.dumps(report)
    assert summarise_gaps([])["missing_runs"] == 0
    assert quality_report(pd.Series([], dtype="datetime64[ns, UTC]"), XNYS, "1m")["bars"] == 0
