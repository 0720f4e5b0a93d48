"""Exchange calendars: known holidays, early closes, trading hours and expected bar grids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from signalhub.core.calendars import (
    XKRX,
    XNYS,
    bar_end,
    exchange_for_ticker,
    expected_bar_starts,
    get_calendar,
    is_open,
    is_session,
    last_close,
    next_close,
    next_open,
    session_close_utc,
    session_open_utc,
    sessions_between,
)

KST = ZoneInfo("Asia/Seoul")
ET = ZoneInfo("America/New_York")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_exchange_for_ticker() -> None:
    assert exchange_for_ticker("005930.KS") == XKRX
    assert exchange_for_ticker("035720.kq") == XKRX
    assert exchange_for_ticker("AAPL") == XNYS
    assert exchange_for_ticker("BRK-B") == XNYS


def test_calendar_covers_bundled_korean_history() -> None:
    assert get_calendar(XKRX) is get_calendar(XKRX)
    assert get_calendar(XKRX).first_session <= pd.Timestamp("1990-09-11")
    assert sessions_between(XKRX, date(1990, 9, 10), date(1990, 9, 12))[0] == pd.Timestamp("1990-09-10")
    with pytest.raises(ValueError):
        get_calendar("XLON")


def test_krx_holidays() -> None:
    assert not is_session(XKRX, date(2025, 6, 3))  # presidential election day
    assert is_session(XKRX, date(2025, 6, 2)) and is_session(XKRX, date(2025, 6, 4))
    chuseok = sessions_between(XKRX, date(2024, 9, 13), date(2024, 9, 20))
    assert [d.date() for d in chuseok] == [date(2024, 9, 13), date(2024, 9, 19), date(2024, 9, 20)]


def test_nyse_holiday_and_early_close() -> None:
    assert not is_session(XNYS, date(2024, 7, 4))
    assert session_close_utc(XNYS, date(2024, 11, 29)) == utc("2024-11-29 18:00")  # 13:00 ET
    assert session_close_utc(XNYS, date(2024, 11, 27)) == utc("2024-11-27 21:00")  # 16:00 ET
    assert session_open_utc(XNYS, date(2024, 3, 8)) == utc("2024-03-08 14:30")  # EST
    assert session_open_utc(XNYS, date(2024, 3, 11)) == utc("2024-03-11 13:30")  # EDT
    with pytest.raises(ValueError):
        session_close_utc(XNYS, date(2024, 7, 4))


@pytest.mark.parametrize(
    ("exchange", "local", "tz", "expected"),
    [
        (XKRX, "2025-06-13 09:00", KST, True),
        (XKRX, "2025-06-13 08:59:59", KST, False),
        (XKRX, "2025-06-13 15:29:59", KST, True),
        (XKRX, "2025-06-13 15:30", KST, False),
        (XKRX, "2025-06-14 11:00", KST, False),  # Saturday
        (XKRX, "2025-06-03 11:00", KST, False),  # election day
        (XKRX, "2024-01-02 09:30", KST, False),  # first session of the year opens at 10:00
        (XKRX, "2024-01-02 10:00", KST, True),
        (XKRX, "1995-03-02 11:00", KST, True),
        (XKRX, "1995-03-02 12:00", KST, False),  # lunch break (abolished in 2000)
        (XNYS, "2024-11-29 12:59", ET, True),
        (XNYS, "2024-11-29 13:00", ET, False),  # day after Thanksgiving: early close
        (XNYS, "2024-07-04 11:00", ET, False),
        (XNYS, "2024-03-11 09:30", ET, True),
        (XNYS, "2024-03-11 16:00", ET, False),
    ],
)
def test_is_open(exchange: str, local: str, tz: ZoneInfo, expected: bool) -> None:
    at = pd.Timestamp(local).tz_localize(tz).to_pydatetime()
    assert is_open(exchange, at) is expected


def test_is_open_refuses_naive_datetime() -> None:
    with pytest.raises(ValueError):
        is_open(XNYS, datetime(2024, 7, 5, 15, 0))


def test_last_and_next_open_close() -> None:
    holiday = datetime(2024, 7, 4, 16, 0, tzinfo=UTC)
    assert last_close(XNYS, holiday) == utc("2024-07-03 17:00")  # early close before July 4th
    assert next_open(XNYS, holiday) == utc("2024-07-05 13:30")
    assert next_close(XNYS, holiday) == utc("2024-07-05 20:00")
    during = datetime(2024, 11, 29, 15, 0, tzinfo=UTC)
    assert next_close(XNYS, during) == utc("2024-11-29 18:00")
    assert next_open(XNYS, during) == utc("2024-12-02 14:30")
    assert last_close(XNYS, utc("2024-11-29 18:00")) == utc("2024-11-29 18:00")
    assert next_open(XKRX, utc("2024-09-13 07:00")) == utc("2024-09-19 00:00")  # across Chuseok
    assert all(v.tzinfo is not None for v in (last_close(XKRX, holiday), next_open(XKRX, holiday)))


def test_expected_daily_bars_are_midnight_utc_per_session() -> None:
    bars = expected_bar_starts(XKRX, "1d", date(2024, 9, 12), date(2024, 9, 20))
    assert list(bars) == [utc("2024-09-12"), utc("2024-09-13"), utc("2024-09-19"), utc("2024-09-20")]
    assert str(bars.tz) == "UTC"


def test_expected_intraday_bars() -> None:
    assert len(expected_bar_starts(XNYS, "1m", date(2024, 11, 27), date(2024, 11, 27))) == 390
    early = expected_bar_starts(XNYS, "1m", date(2024, 11, 29), date(2024, 11, 29))
    assert len(early) == 210 and early[-1] == utc("2024-11-29 17:59")
    krx = expected_bar_starts(XKRX, "1m", date(2025, 6, 13), date(2025, 6, 13))
    assert len(krx) == 390 and krx[0] == utc("2025-06-13 00:00") and krx[-1] == utc("2025-06-13 06:29")
    hourly = expected_bar_starts(XNYS, "60m", date(2024, 11, 27), date(2024, 11, 27))
    assert [t.strftime("%H:%M") for t in hourly] == ["14:30", "15:30", "16:30", "17:30", "18:30", "19:30", "20:30"]
    assert bar_end(XNYS, "60m", utc("2024-11-27 20:30")) == utc("2024-11-27 21:00")
    assert bar_end(XNYS, "60m", utc("2024-11-29 17:30")) == utc("2024-11-29 18:00")
    lunch = expected_bar_starts(XKRX, "30m", date(1995, 3, 2), date(1995, 3, 2))
    assert utc("1995-03-02 02:30") not in lunch and utc("1995-03-02 04:00") in lunch
    late_open = expected_bar_starts(XKRX, "5m", date(2024, 1, 2), date(2024, 1, 2))
    assert late_open[0] == utc("2024-01-02 01:00")
    assert expected_bar_starts(XNYS, "5m", date(2024, 7, 4), date(2024, 7, 4)).empty


def test_daily_bar_end_is_the_session_close() -> None:
    assert bar_end(XNYS, "1d", utc("2024-07-03")) == utc("2024-07-03 17:00")
    assert bar_end(XKRX, "1d", utc("2025-06-13")) == utc("2025-06-13 06:30")
