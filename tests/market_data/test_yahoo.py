"""The Yahoo provider against recorded real Yahoo chart responses, served over real HTTP on loopback.

Daily requests ask Yahoo from one day before `start` (see `YahooProvider._params`), so to replay a
recording whose request began at `period1 = D` the tests ask from `D + 1 day`.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from signalhub.market_data.providers.base import BAR_COLUMNS, FetchStatus
from tests.fakes.yahoo import FIXTURES, FakeYahoo, recorded_json


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def recorded_quote(file: str) -> tuple[pd.Series, pd.DataFrame]:
    """Raw timestamps and quote arrays exactly as Yahoo sent them."""
    result = recorded_json(file)["chart"]["result"][0]
    ts = pd.to_datetime(pd.Series(result["timestamp"]), unit="s", utc=True)
    return ts, pd.DataFrame(result["indicators"]["quote"][0])


def assert_normalised(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == BAR_COLUMNS
    assert str(bars["ts"].dtype) == "datetime64[ns, UTC]"
    assert bars["ts"].is_monotonic_increasing and bars["ts"].is_unique


NVDA = "chart_v8/historical-via-chart-NVDA-split-2021-02-01-to-2022-01-31.json"
MSFT = "chart_v8/historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.json"
AAPL_1M = "chart_v8/chart-AAPL-2024-10-02-to-2024-10-03-includePrePost-false-interval-1m.json"
TSLA_30M = "chart_v8/chart-TSLA-2021-11-22-to-2021-11-23-interval-30m.json"


# -- bars and events ------------------------------------------------------------------------------


def test_daily_bars_are_raw_quotes_on_session_dates_and_the_split_is_in_meta(make_yahoo_provider,
                                                                              yahoo_server: FakeYahoo):
    result = make_yahoo_provider().fetch_bars(["NVDA"], "1d", utc(2021, 2, 2), utc(2022, 1, 31))["NVDA"]

    assert result.status is FetchStatus.OK, result.message
    (request,) = yahoo_server.chart_requests("NVDA")
    assert request.file == NVDA
    assert request.query["period1"] == "1612137600" and request.query["period2"] == "1643587200"
    assert request.query["interval"] == "1d" and request.query["events"] == "div|split"
    assert "Chrome" in request.headers.get("User-Agent", "")  # browser impersonation, as yfinance does

    bars = result.bars
    assert_normalised(bars)
    raw_ts, quote = recorded_quote(NVDA)
    # The 2021-02-01 session is before start (2021-02-02); every other recorded bar is returned as sent.
    assert len(bars) == len(raw_ts) - 1 == 251
    expected_days = raw_ts.dt.tz_convert("America/New_York").dt.date.iloc[1:].tolist()
    assert bars["ts"].dt.date.tolist() == expected_days
    assert (bars["ts"].dt.hour == 0).all()  # midnight UTC of the session date
    for col in ("open", "high", "low", "close", "volume"):
        assert bars[col].tolist() == quote[col].iloc[1:].astype(float).tolist()

    assert result.meta["splits"] == [{"ts": utc(2021, 7, 20), "numerator": 4.0, "denominator": 1.0,
                                      "ratio": 4.0}]
    assert result.meta["dividends"] == []
    assert result.meta["currency"] == "USD" and result.meta["exchange"] == "NMS"
    assert result.meta["instrument_type"] == "EQUITY" and result.meta["timezone"] == "America/New_York"
    assert result.meta["name"] == "NVIDIA Corporation" and result.meta["exchange_name"] == "NasdaqGS"


def test_dividends_are_in_meta_on_their_ex_dates(make_yahoo_provider):
    result = make_yahoo_provider().fetch_bars(["MSFT"], "1d", utc(2021, 2, 2), utc(2022, 1, 31))["MSFT"]

    assert result.status is FetchStatus.OK
    assert len(result.bars) == 251
    assert result.meta["dividends"] == [
        {"ts": utc(2021, 2, 17), "amount": 0.56}, {"ts": utc(2021, 5, 19), "amount": 0.56},
        {"ts": utc(2021, 8, 18), "amount": 0.56}, {"ts": utc(2021, 11, 17), "amount": 0.62},
    ]
    assert result.meta["splits"] == []
    ex_dates = [d["ts"] for d in result.meta["dividends"]]
    assert set(ex_dates) <= set(result.bars["ts"])  # events line up with the daily bars they belong to


def test_events_outside_the_window_are_left_out(make_yahoo_provider):
    # Recorded request 2020-08-31..2020-11-07: AAPL's 4:1 split on 2020-08-31 and a dividend on 11-06.
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1d", utc(2020, 9, 1), utc(2020, 11, 7))["AAPL"]

    assert result.status is FetchStatus.OK
    assert result.meta["splits"] == []
    assert result.meta["dividends"] == [{"ts": utc(2020, 11, 6), "amount": 0.205}]
    assert result.bars["ts"].iloc[0] == pd.Timestamp("2020-09-01", tz="UTC")


def test_one_minute_bars_drop_the_all_null_bar_and_the_trailing_bar_after_end(make_yahoo_provider):
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1m", utc(2024, 10, 2), utc(2024, 10, 3))["AAPL"]

    assert result.status is FetchStatus.OK
    bars = result.bars
    assert_normalised(bars)
    raw_ts, quote = recorded_quote(AAPL_1M)
    null_at = pd.Timestamp("2024-10-02 15:15", tz="UTC")
    trailing_at = pd.Timestamp("2024-10-03 20:00", tz="UTC")
    assert quote.loc[raw_ts == null_at, ["open", "high", "low", "close"]].isna().all(axis=None)
    assert trailing_at in set(raw_ts)
    assert len(raw_ts) == 391 and len(bars) == 389
    assert null_at not in set(bars["ts"]) and trailing_at not in set(bars["ts"])
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-10-02 13:30", tz="UTC")
    assert bars["ts"].iloc[-1] == pd.Timestamp("2024-10-02 19:59", tz="UTC")
    kept = raw_ts.isin(bars["ts"])
    assert bars["close"].tolist() == quote.loc[kept, "close"].tolist()


def test_weekend_one_minute_request_is_no_new_data(make_yahoo_provider):
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1m", utc(2025, 2, 1), utc(2025, 2, 2))["AAPL"]

    assert result.status is FetchStatus.NO_NEW_DATA
    assert result.bars.empty and list(result.bars.columns) == BAR_COLUMNS
    assert result.meta["name"] == "Apple Inc."  # the instrument is known, only the bars are missing


def test_thirty_minute_bars_with_pre_and_post_market(make_yahoo_provider, yahoo_server: FakeYahoo):
    provider = make_yahoo_provider(include_prepost=True)
    result = provider.fetch_bars(["TSLA"], "30m", utc(2021, 11, 22), utc(2021, 11, 23))["TSLA"]

    assert result.status is FetchStatus.OK
    assert yahoo_server.chart_requests("TSLA")[0].query["interval"] == "30m"  # not fetched as 15m
    raw_ts, quote = recorded_quote(TSLA_30M)
    assert result.bars["ts"].tolist() == raw_ts.tolist()
    assert result.bars["ts"].diff().dropna().eq(pd.Timedelta(minutes=30)).all()
    assert result.bars["open"].tolist() == quote["open"].tolist()
    assert result.meta["splits"] == [] and result.meta["dividends"] == []


def test_pre_and_post_market_bars_sent_unasked_are_dropped(make_yahoo_provider, yahoo_server: FakeYahoo):
    # Yahoo sometimes returns extended-hours bars despite includePrePost=false; replay such an answer.
    yahoo_server.pin("TSLA", TSLA_30M)
    result = make_yahoo_provider().fetch_bars(["TSLA"], "30m", utc(2021, 11, 22), utc(2021, 11, 23))["TSLA"]

    assert yahoo_server.chart_requests("TSLA")[0].query["includePrePost"] == "false"
    assert result.status is FetchStatus.OK
    assert result.bars["ts"].iloc[0] == pd.Timestamp("2021-11-22 14:30", tz="UTC")  # 09:30 New York
    assert result.bars["ts"].iloc[-1] == pd.Timestamp("2021-11-22 20:30", tz="UTC")  # last bar to 16:00
    assert len(result.bars) == 13


def test_full_daily_history_without_start(make_yahoo_provider, yahoo_server: FakeYahoo):
    result = make_yahoo_provider().fetch_bars(["TSLA"], "1d", None, utc(2023, 8, 12))["TSLA"]

    assert yahoo_server.chart_requests("TSLA")[0].query["period1"] == "0"
    assert result.status is FetchStatus.OK
    assert len(result.bars) == 3303
    assert result.bars["ts"].iloc[0] == pd.Timestamp("2010-06-29", tz="UTC")
    assert result.bars["ts"].iloc[-1] == pd.Timestamp("2023-08-11", tz="UTC")


@pytest.mark.parametrize(("ticker", "session"), [
    ("WSKT.JK", date(2020, 1, 2)),  # Jakarta, opens 02:00 UTC
    ("OCDO.L", date(2020, 1, 2)),  # London
    ("BTC-USD", date(2020, 1, 2)),  # 24/7, bars at 00:00 UTC; Yahoo also sends the 01-01 and 01-03 bars
    ("EURUSD=X", date(2020, 1, 2)),
])
def test_daily_bars_of_other_markets_land_on_their_session_date(make_yahoo_provider, ticker, session):
    result = make_yahoo_provider().fetch_bars([ticker], "1d", utc(2020, 1, 2), utc(2020, 1, 3))[ticker]

    assert result.status is FetchStatus.OK, result.message
    assert result.bars["ts"].tolist() == [pd.Timestamp(session, tz="UTC")]


# -- classification ---------------------------------------------------------------------------------


def test_a_batch_mixing_good_unknown_and_not_yet_listed_tickers(make_yahoo_provider,
                                                               yahoo_server: FakeYahoo):
    tickers = ["AAPL", "SI", "AMZN", "BEKE", "SIX", "AAPL"]
    results = make_yahoo_provider(batch_size=2).fetch_bars(tickers, "1d", utc(2020, 1, 2), utc(2020, 1, 3))

    assert list(results) == ["AAPL", "SI", "AMZN", "BEKE", "SIX"]
    assert {t: r.status for t, r in results.items()} == {
        "AAPL": FetchStatus.OK, "AMZN": FetchStatus.OK,
        "SI": FetchStatus.UNKNOWN_TICKER, "SIX": FetchStatus.UNKNOWN_TICKER,  # HTTP 404
        "BEKE": FetchStatus.NO_NEW_DATA,  # HTTP 400: listed in August 2020, no bars in the range
    }
    assert results["SI"].message == "No data found, symbol may be delisted"
    assert results["BEKE"].message.startswith("Data doesn't exist for startDate = 1577836800")
    assert results["AAPL"].bars["close"].tolist() == [75.0875015258789]
    # One request per distinct ticker, in batches of two: a batch finishes before the next starts.
    symbols = [r.symbol for r in yahoo_server.chart_requests()]
    assert len(symbols) == 5
    assert set(symbols[:2]) == {"AAPL", "SI"} and set(symbols[2:4]) == {"AMZN", "BEKE"}
    assert symbols[4] == "SIX"


def test_a_404_without_yahoos_error_body_is_a_failure_not_an_unknown_ticker(make_yahoo_provider,
                                                                           yahoo_server: FakeYahoo):
    # e.g. a wrong base URL or a proxy page: must not mark every ticker as unknown.
    yahoo_server.fail(status=404, body=b"<html><body>Not Found</body></html>", symbol="AAPL")
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.FAILED
    assert "HTTP 404" in result.message
    assert len(yahoo_server.chart_requests("AAPL")) == 1  # not retried


def test_unauthorized_is_a_failure_with_yahoos_reason(make_yahoo_provider, yahoo_server: FakeYahoo):
    body = (FIXTURES / "v7_download" / "error-unauthorized-invalid-cookie.json").read_bytes()
    yahoo_server.fail(status=401, body=body, symbol="AAPL")
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.FAILED
    assert result.message == "HTTP 401 Unauthorized: Invalid cookie"
    assert len(yahoo_server.chart_requests("AAPL")) == 1


def test_unrecorded_request_fails_loudly(make_yahoo_provider):
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1d", utc(2019, 1, 2), utc(2019, 1, 3))["AAPL"]

    assert result.status is FetchStatus.FAILED
    assert "no recording" in result.message


def test_malformed_json_fails_without_retry(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.malformed(symbol="AMZN")
    results = make_yahoo_provider().fetch_bars(["AMZN", "AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))

    assert results["AMZN"].status is FetchStatus.FAILED
    assert "malformed JSON" in results["AMZN"].message
    assert results["AAPL"].status is FetchStatus.OK
    assert len(yahoo_server.chart_requests("AMZN")) == 1


def test_empty_window_and_bad_interval(make_yahoo_provider, yahoo_server: FakeYahoo):
    provider = make_yahoo_provider()
    results = provider.fetch_bars(["AAPL"], "1d", utc(2020, 1, 3), utc(2020, 1, 3))
    assert results["AAPL"].status is FetchStatus.NO_NEW_DATA
    assert provider.fetch_bars([], "1d", None, None) == {}
    with pytest.raises(ValueError, match="interval"):
        provider.fetch_bars(["AAPL"], "7m", None, None)  # type: ignore[arg-type]
    assert yahoo_server.requests == []


# -- rate limiting, retries, timeouts -------------------------------------------------------------------


def test_every_request_goes_through_the_rate_limiter(make_yahoo_provider, yahoo_server: FakeYahoo):
    provider = make_yahoo_provider(rate=20.0, batch_size=3)
    results = provider.fetch_bars(["AAPL", "AMZN", "GOOG", "SI", "SIX", "BEKE"], "1d",
                                  utc(2020, 1, 2), utc(2020, 1, 3))

    assert len(results) == 6
    arrivals = [r.at for r in yahoo_server.chart_requests()]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # 20/s with no burst: slots 50 ms apart whatever the concurrency. Arrival times carry thread-scheduling
    # jitter on a loaded machine, so individual gaps get slack while the whole span must hold the rate.
    assert min(gaps) >= 0.02
    assert arrivals[-1] - arrivals[0] >= 5 / 20 * 0.9


def test_429_backs_off_for_retry_after_then_succeeds(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.rate_limit(times=1, retry_after="1", symbol="NVDA")
    result = make_yahoo_provider().fetch_bars(["NVDA"], "1d", utc(2021, 2, 2), utc(2022, 1, 31))["NVDA"]

    assert result.status is FetchStatus.OK
    first, second = yahoo_server.chart_requests("NVDA")
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0


def test_429_without_retry_after_uses_exponential_backoff(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.rate_limit(times=2, retry_after=None)
    result = make_yahoo_provider(backoff_base=0.1, backoff_max=1.0).fetch_bars(
        ["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.OK
    first, second, third = (r.at for r in yahoo_server.chart_requests("AAPL"))
    assert second - first >= 0.05  # attempt 0: 0.1 s, at least half of it (equal jitter)
    assert third - second >= 0.1  # attempt 1: 0.2 s, at least half of it


def test_a_429_makes_other_workers_wait_too(make_yahoo_provider, yahoo_server: FakeYahoo):
    # Two providers on one limiter name = two workers sharing the budget (through Redis when configured).
    worker_a, worker_b = make_yahoo_provider(), make_yahoo_provider()
    yahoo_server.rate_limit(times=1, retry_after="1", symbol="AAPL")
    window = (utc(2020, 1, 2), utc(2020, 1, 3))
    thread = threading.Thread(target=worker_a.fetch_bars, args=(["AAPL"], "1d", *window))
    thread.start()
    deadline = time.monotonic() + 5
    while worker_b.limiter.cooldown_remaining() == 0 and time.monotonic() < deadline:
        time.sleep(0.005)  # until worker A has had its 429 and set the shared cooldown

    result = worker_b.fetch_bars(["AMZN"], "1d", *window)["AMZN"]
    thread.join()

    assert result.status is FetchStatus.OK
    rate_limited = yahoo_server.chart_requests("AAPL")[0]
    (amzn,) = yahoo_server.chart_requests("AMZN")
    assert rate_limited.status == 429
    assert amzn.at - rate_limited.at >= 1.0


def test_retry_after_beyond_the_limit_fails_at_once_and_cools_everyone_down(make_yahoo_provider,
                                                                          yahoo_server: FakeYahoo):
    yahoo_server.rate_limit(times=1, retry_after="600")
    provider = make_yahoo_provider(max_retry_after=30.0)
    result = provider.fetch_bars(["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.FAILED
    assert "Retry-After 600s" in result.message
    assert len(yahoo_server.chart_requests()) == 1
    assert provider.limiter.cooldown_remaining() > 500
    provider.limiter.reset()


def test_rate_limit_retries_exhausted_is_failed(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.rate_limit(times=None, retry_after="0")
    result = make_yahoo_provider(max_retries=2).fetch_bars(
        ["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.FAILED
    assert "rate limited (HTTP 429)" in result.message and "3 attempts" in result.message
    assert len(yahoo_server.chart_requests("AAPL")) == 3


def test_transient_500_is_retried(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.fail(status=502, times=1, symbol="AAPL", body=b"Bad Gateway")
    result = make_yahoo_provider().fetch_bars(["AAPL"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))["AAPL"]

    assert result.status is FetchStatus.OK
    assert [r.status for r in yahoo_server.chart_requests("AAPL")] == [502, 200]


def test_persistent_500_fails_after_retries_and_leaves_the_others_alone(make_yahoo_provider,
                                                                        yahoo_server: FakeYahoo):
    yahoo_server.fail(status=500, times=None, symbol="AMZN")
    results = make_yahoo_provider(max_retries=3).fetch_bars(
        ["AAPL", "AMZN", "GOOG"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))

    assert results["AMZN"].status is FetchStatus.FAILED
    assert "HTTP 500" in results["AMZN"].message and "4 attempts" in results["AMZN"].message
    assert len(yahoo_server.chart_requests("AMZN")) == 4
    assert results["AAPL"].status is FetchStatus.OK and results["GOOG"].status is FetchStatus.OK


def test_a_hanging_server_times_out_and_fails_only_that_ticker(make_yahoo_provider, yahoo_server: FakeYahoo):
    yahoo_server.hang(seconds=5, times=None, symbol="AMZN")
    started = time.monotonic()
    results = make_yahoo_provider(timeout_seconds=0.3, max_retries=1).fetch_bars(
        ["AAPL", "AMZN"], "1d", utc(2020, 1, 2), utc(2020, 1, 3))
    elapsed = time.monotonic() - started

    assert results["AMZN"].status is FetchStatus.FAILED
    assert "timed out after 0.3s" in results["AMZN"].message
    assert len(yahoo_server.chart_requests("AMZN")) == 2
    assert results["AAPL"].status is FetchStatus.OK
    assert elapsed < 2.0
