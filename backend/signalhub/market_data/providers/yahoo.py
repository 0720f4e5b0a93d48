"""Yahoo Finance bars from the v8 chart API, over the same browser-impersonating transport yfinance uses.

Why not `yfinance.Ticker.history()`: for one `history(start, end)` call yfinance 1.7 first fetches a
cookie (fc.yahoo.com) and a crumb, then a separate `range=1d` chart request to learn the exchange timezone
(cached on disk), and only then the bars; on any HTTP error it toggles its cookie strategy (consent pages)
and repeats the request, and a failed timezone lookup falls through to quoteSummary, quote and
fundamentals requests. It fetches 30m bars as 15m and resamples, hides HTTP status and Retry-After behind
`YFRateLimitError`/logged errors, caches past ranges in-process, and keeps one global session. None of that
fits a shared rate budget or per-ticker classification. What yfinance does that matters here is its
transport: Yahoo answers HTTP 429 to clients without a browser TLS fingerprint, so like yfinance we send
requests through `curl_cffi` impersonating Chrome. One chart request per ticker; that is the only call.

Request: `GET {base_url}/v8/finance/chart/{symbol}?period1=&period2=&interval=&includePrePost=&events=div|split`.

Per-ticker classification:
- 200 with bars in the window -> OK;
- 200 with no bars (weekend/holiday: no `timestamp`, `quote == [{}]`; or every bar null / outside the
  window) -> NO_NEW_DATA;
- 400 "Data doesn't exist for startDate = ..., endDate = ..." -> NO_NEW_DATA: Yahoo resolved the symbol
  (unknown ones get 404) but holds no bars in that range (e.g. before the listing date);
- chart error "Not Found" ("No data found, symbol may be delisted", HTTP 404) -> UNKNOWN_TICKER;
- 429 / "Too Many Requests" -> shared cooldown (Retry-After honoured) and retry; 5xx, timeouts and
  network errors -> retry with exponential backoff and jitter; FAILED once `max_retries` are used up;
- any other error, a 404 without Yahoo's chart error body, or malformed JSON -> FAILED (not retried).

Bars: raw OHLC as Yahoo's `indicators.quote` (split-adjusted, not dividend-adjusted; `adjclose` is
ignored), volume as sent. `ts` is the bar start in UTC; for daily bars (whose Yahoo timestamp is the
session's opening time, or the last trade time for today's bar) it is midnight UTC of the session date in
the exchange's timezone, so a daily bar is identified by its trading date. Bars whose prices are all null
are dropped, as are bars outside the requested window (Yahoo appends the latest bar even after `end`);
for daily bars the window is compared by date, from the start's date. Unless `include_prepost`, intraday
bars outside the regular trading periods Yahoo lists are dropped too (it sometimes sends them unasked).

`FetchResult.meta`: `dividends` [{ts, amount}] and `splits` [{ts, numerator, denominator, ratio}] inside
the window (ts = midnight UTC of the ex-date, like daily bars), plus, when Yahoo sends them (older
responses lack some): `symbol`, `currency`, `exchange` (exchangeName), `exchange_name`
(fullExchangeName), `instrument_type`, `timezone` (IANA exchangeTimezoneName), `name` (longName, else
shortName).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from curl_cffi import requests as curl_requests

from signalhub.core.config import get_settings
from signalhub.core.httputil import parse_retry_after
from signalhub.core.throttle import RateLimiter, ThrottleTimeout, get_rate_limiter
from signalhub.market_data.providers.base import (
    BAR_COLUMNS,
    INTERVALS,
    FetchResult,
    FetchStatus,
    Interval,
    empty_bars,
    normalise_bars,
)

logger = logging.getLogger(__name__)

INTERVAL_SECONDS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "60m": 3600, "1d": 86400}
# How far back Yahoo serves each intraday interval; used when no start is given. Daily: all history.
MAX_LOOKBACK: dict[str, timedelta] = {
    "1m": timedelta(days=7), "5m": timedelta(days=59), "15m": timedelta(days=59),
    "30m": timedelta(days=59), "60m": timedelta(days=729),
}
NO_DATA_IN_RANGE = "Data doesn't exist for startDate"


@dataclass(frozen=True)
class _Retry:
    """A retryable failure of one attempt and how long to wait before the next."""

    problem: str
    delay: float
    shared: bool = False  # a rate limit: every worker must wait, through the limiter's cooldown


class _Malformed(ValueError):
    """The response body is not the chart JSON we expect."""


class YahooProvider:
    """Fetches bars from Yahoo's v8 chart API, throttled by a rate limiter shared by all workers."""

    name = "yahoo"

    def __init__(self, *, base_url: str | None = None, batch_size: int | None = None,
                 requests_per_second: float | None = None, max_retries: int | None = None,
                 timeout_seconds: float | None = None, include_prepost: bool = False,
                 limiter: RateLimiter | None = None, burst: int = 1,
                 backoff_base: float = 1.0, backoff_max: float = 30.0,
                 max_retry_after: float = 120.0, acquire_timeout: float = 120.0,
                 impersonate: str = "chrome", sleep: Callable[[float], None] = time.sleep) -> None:
        """Values not given come from settings; a given `limiter` replaces `requests_per_second`/`burst`."""
        settings = get_settings()
        self.base_url = (base_url or settings.yahoo_base_url).rstrip("/")
        self.batch_size = batch_size or settings.yahoo_batch_size
        self.max_retries = settings.yahoo_max_retries if max_retries is None else max_retries
        self.timeout_seconds = timeout_seconds or settings.yahoo_timeout_seconds
        self.include_prepost = include_prepost
        rate = requests_per_second or settings.yahoo_requests_per_second
        self.limiter = limiter if limiter is not None else get_rate_limiter("yahoo", rate, burst)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.acquire_timeout = acquire_timeout
        self._impersonate = impersonate
        self._sleep = sleep
        self._session: curl_requests.Session | None = None
        self._session_pid = 0
        self._session_lock = threading.Lock()

    # -- public ----------------------------------------------------------------------------------------

    def fetch_bars(self, tickers: Sequence[str], interval: Interval, start: datetime | None,
                   end: datetime | None) -> dict[str, FetchResult]:
        """One result per distinct ticker; a ticker's failure is reported in its result, never raised."""
        if interval not in INTERVALS:
            raise ValueError(f"unsupported interval {interval!r}; expected one of {INTERVALS}")
        end_utc = _as_utc(end) if end is not None else datetime.now(UTC)
        start_utc = _as_utc(start) if start is not None else _default_start(interval, end_utc)
        unique = list(dict.fromkeys(tickers))
        results: dict[str, FetchResult] = {}
        if not unique:
            return results
        if start_utc >= end_utc:
            return {t: FetchResult(t, interval, FetchStatus.NO_NEW_DATA, message="empty time window")
                    for t in unique}
        with ThreadPoolExecutor(max_workers=min(self.batch_size, len(unique)),
                                thread_name_prefix="yahoo") as pool:
            for i in range(0, len(unique), self.batch_size):
                batch = unique[i:i + self.batch_size]
                futures = {t: pool.submit(self._fetch_one, t, interval, start_utc, end_utc) for t in batch}
                for ticker, future in futures.items():
                    results[ticker] = future.result()
        return results

    def close(self) -> None:
        """Release the HTTP session."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self) -> YahooProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one ticker ------------------------------------------------------------------------------------

    def _fetch_one(self, ticker: str, interval: str, start: datetime, end: datetime) -> FetchResult:
        try:
            return self._fetch_with_retries(ticker, interval, start, end)
        except Exception as exc:  # a bug or surprise for one ticker must not sink the batch
            logger.exception("yahoo: unexpected error fetching %s", ticker)
            return _failed(ticker, interval, f"unexpected error: {type(exc).__name__}: {exc}")

    def _fetch_with_retries(self, ticker: str, interval: str, start: datetime,
                            end: datetime) -> FetchResult:
        url = f"{self.base_url}/v8/finance/chart/{quote(ticker, safe='')}"
        params = self._params(interval, start, end)
        attempts = self.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            try:
                self.limiter.acquire(timeout=self.acquire_timeout)
            except ThrottleTimeout as exc:
                return _failed(ticker, interval, str(exc))
            outcome = self._attempt(ticker, interval, url, params, start, end, attempt)
            if isinstance(outcome, FetchResult):
                return outcome
            problem = outcome.problem
            if outcome.shared:
                # Every worker backs off, even when this one gives up; our next acquire() waits it out.
                self.limiter.penalise(outcome.delay)
            if attempt + 1 == attempts:
                break
            logger.info("yahoo: %s attempt %d/%d: %s; retrying in %.2fs", ticker, attempt + 1, attempts,
                        problem, outcome.delay)
            if not outcome.shared:
                self._sleep(outcome.delay)
        return _failed(ticker, interval, f"{problem} (gave up after {attempts} attempts)")

    def _params(self, interval: str, start: datetime, end: datetime) -> dict[str, str]:
        period1 = start
        if interval == "1d":
            # Yahoo stamps a daily bar with the session open, which for exchanges east of UTC falls on
            # the previous UTC date; ask from a day earlier and filter by session date afterwards.
            period1 = _floor_day(start) - timedelta(days=1)
        return {
            "period1": str(max(0, int(period1.timestamp()))),
            "period2": str(int(end.timestamp())),
            "interval": interval,
            "includePrePost": "true" if self.include_prepost else "false",
            "events": "div|split",
        }

    def _attempt(self, ticker: str, interval: str, url: str, params: dict[str, str], start: datetime,
                 end: datetime, attempt: int) -> FetchResult | _Retry:
        try:
            response = self._http().get(url, params=params, timeout=self.timeout_seconds,
                                        allow_redirects=True)
        except curl_requests.exceptions.Timeout:
            return _Retry(f"timed out after {self.timeout_seconds:g}s", self._backoff(attempt))
        except curl_requests.exceptions.RequestException as exc:
            return _Retry(f"network error: {exc}", self._backoff(attempt))
        status = response.status_code
        body = response.content
        if status == 429 or (status != 200 and b"Too Many Requests" in body[:200]):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.max_retry_after:
                self.limiter.penalise(retry_after)
                return _failed(ticker, interval, f"rate limited by Yahoo; Retry-After {retry_after:.0f}s")
            delay = max(retry_after or 0.0, self._backoff(attempt))
            return _Retry(f"rate limited (HTTP {status})", delay, shared=True)
        if status >= 500:
            return _Retry(f"HTTP {status}: {_snippet(body)}", self._backoff(attempt))
        return self._classify(ticker, interval, status, body, start, end)

    def _classify(self, ticker: str, interval: str, status: int, body: bytes, start: datetime,
                  end: datetime) -> FetchResult:
        try:
            payload = json.loads(body)
        except ValueError:
            if status == 200:
                return _failed(ticker, interval, f"malformed JSON from Yahoo: {_snippet(body)}")
            return _failed(ticker, interval, f"HTTP {status}: {_snippet(body)}")
        if not isinstance(payload, dict):
            return _failed(ticker, interval, f"HTTP {status}: unexpected body {_snippet(body)}")
        chart = payload.get("chart")
        if not isinstance(chart, dict):
            # Yahoo's other error envelope, e.g. {"finance": {"error": {"code": "Unauthorized", ...}}}
            finance = payload.get("finance")
            error = finance.get("error") if isinstance(finance, dict) else None
            if isinstance(error, dict):
                return _failed(ticker, interval,
                               f"HTTP {status} {error.get('code', '')}: {error.get('description', '')}")
            return _failed(ticker, interval, f"HTTP {status}: unexpected body {_snippet(body)}")
        error = chart.get("error")
        if error:
            code = str(error.get("code", "")) if isinstance(error, dict) else ""
            description = str(error.get("description", "")) if isinstance(error, dict) else str(error)
            if code == "Not Found":
                return FetchResult(ticker, interval, FetchStatus.UNKNOWN_TICKER, message=description)
            if description.startswith(NO_DATA_IN_RANGE):
                return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, message=description)
            return _failed(ticker, interval, f"HTTP {status} {code}: {description}".strip())
        if status != 200:
            return _failed(ticker, interval, f"HTTP {status}: {_snippet(body)}")
        results = chart.get("result")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return _failed(ticker, interval, f"malformed chart response: {_snippet(body)}")
        try:
            bars, meta = self._parse(results[0], interval, start, end)
        except (_Malformed, KeyError, TypeError, ValueError) as exc:
            return _failed(ticker, interval, f"malformed chart response: {exc}")
        if bars.empty:
            return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, bars,
                               message="no bars in the requested range", meta=meta)
        return FetchResult(ticker, interval, FetchStatus.OK, bars, meta=meta)

    # -- parsing ---------------------------------------------------------------------------------------

    def _parse(self, result: dict[str, Any], interval: str, start: datetime,
               end: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
        raw_meta = result.get("meta") or {}
        tz = _zone(raw_meta.get("exchangeTimezoneName"))
        daily = interval == "1d"
        window_start = pd.Timestamp(_floor_day(start) if daily else start)
        window_end = pd.Timestamp(end)
        meta = _instrument_meta(raw_meta)
        # Events are dated (ex-date / split date), so they are matched by date whatever the interval.
        meta.update(_events(result.get("events") or {}, tz, pd.Timestamp(_floor_day(start)), window_end))

        timestamps = result.get("timestamp") or []
        if not timestamps:
            return empty_bars(), meta
        indicators = result.get("indicators") or {}
        quotes = indicators.get("quote") or [{}]
        quote_ = quotes[0] or {}
        columns: dict[str, Any] = {"ts": pd.to_datetime(timestamps, unit="s", utc=True)}
        for col in BAR_COLUMNS[1:]:
            values = quote_.get(col)
            if values is None or len(values) != len(timestamps):
                raise _Malformed(f"quote.{col} missing or not aligned with {len(timestamps)} timestamps")
            columns[col] = pd.array(values, dtype="Float64").to_numpy(dtype="float64", na_value=float("nan"))
        frame = pd.DataFrame(columns)
        frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
        if daily:
            frame["ts"] = _session_dates(frame["ts"], tz)
        elif not self.include_prepost:
            frame = _regular_hours_only(frame, raw_meta.get("tradingPeriods"), INTERVAL_SECONDS[interval])
        frame = frame[(frame["ts"] >= window_start) & (frame["ts"] < window_end)]
        bars = normalise_bars(frame)
        bars["ts"] = bars["ts"].astype("datetime64[ns, UTC]")
        return bars, meta

    # -- plumbing --------------------------------------------------------------------------------------

    def _http(self) -> curl_requests.Session:
        # Created lazily and per process: a session built before a Celery prefork must not be shared
        # by the children (its curl handles are not fork-safe).
        with self._session_lock:
            if self._session is None or self._session_pid != os.getpid():
                self._session = curl_requests.Session(impersonate=self._impersonate)
                self._session_pid = os.getpid()
            return self._session

    def _backoff(self, attempt: int) -> float:
        # "Equal jitter": at least half the exponential delay, so retries from many workers spread out.
        delay = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not cryptography


def _failed(ticker: str, interval: str, message: str) -> FetchResult:
    logger.warning("yahoo: %s %s failed: %s", ticker, interval, message)
    return FetchResult(ticker, interval, FetchStatus.FAILED, message=message)


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC, the platform's convention.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _default_start(interval: str, end: datetime) -> datetime:
    lookback = MAX_LOOKBACK.get(interval)
    if lookback is None:
        return datetime(1970, 1, 2, tzinfo=UTC)  # all history (period1 becomes 0)
    return end - lookback


def _zone(name: object) -> ZoneInfo:
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("yahoo: unknown exchange timezone %r; using UTC", name)
    return ZoneInfo("UTC")


def _session_dates(ts: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Midnight UTC of each timestamp's date in the exchange timezone."""
    local_dates = ts.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    return local_dates.dt.tz_localize("UTC")


def _regular_hours_only(frame: pd.DataFrame, trading_periods: object, interval_seconds: int) -> pd.DataFrame:
    """Keep bars overlapping a regular trading period (Yahoo lists them for intraday requests)."""
    periods = _regular_periods(trading_periods)
    if not periods or frame.empty:
        return frame
    starts = frame["ts"].astype("int64") // 10**9
    keep = pd.Series(False, index=frame.index)
    for period_start, period_end in periods:
        keep |= (starts < period_end) & (starts + interval_seconds > period_start)
    return frame[keep]


def _regular_periods(trading_periods: object) -> list[tuple[int, int]]:
    # Shapes seen: a list of per-day lists (regular hours only, includePrePost=false), or
    # {"pre": [[...]], "regular": [[...]], "post": [[...]]} (includePrePost=true).
    if isinstance(trading_periods, dict):
        trading_periods = trading_periods.get("regular")
    if not isinstance(trading_periods, list):
        return []
    periods = []
    for day in trading_periods:
        for period in day if isinstance(day, list) else [day]:
            if isinstance(period, dict) and "start" in period and "end" in period:
                periods.append((int(period["start"]), int(period["end"])))
    return periods


def _instrument_meta(raw: dict[str, Any]) -> dict[str, Any]:
    fields = {"symbol": "symbol", "currency": "currency", "exchange": "exchangeName",
              "exchange_name": "fullExchangeName", "instrument_type": "instrumentType",
              "timezone": "exchangeTimezoneName"}
    meta = {key: raw[source] for key, source in fields.items() if raw.get(source)}
    name = raw.get("longName") or raw.get("shortName")
    if name:
        meta["name"] = name
    return meta


def _events(events: dict[str, Any], tz: ZoneInfo, window_start: pd.Timestamp,
            window_end: pd.Timestamp) -> dict[str, list[dict[str, Any]]]:
    def when(event: dict[str, Any]) -> pd.Timestamp:
        moment = pd.Timestamp(int(event["date"]), unit="s", tz="UTC").tz_convert(tz)
        return pd.Timestamp(moment.date(), tz="UTC")

    dividends = []
    for event in (events.get("dividends") or {}).values():
        ts = when(event)
        if window_start <= ts < window_end:
            dividend: dict[str, Any] = {"ts": ts.to_pydatetime(), "amount": float(event["amount"])}
            if event.get("currency"):
                dividend["currency"] = event["currency"]
            dividends.append(dividend)
    splits = []
    for event in (events.get("splits") or {}).values():
        ts = when(event)
        if window_start <= ts < window_end:
            numerator, denominator = float(event["numerator"]), float(event["denominator"])
            splits.append({"ts": ts.to_pydatetime(), "numerator": numerator, "denominator": denominator,
                           "ratio": numerator / denominator if denominator else float("nan")})
    return {"dividends": sorted(dividends, key=lambda d: d["ts"]),
            "splits": sorted(splits, key=lambda s: s["ts"])}


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace").strip()
    return text + ("..." if len(body) > limit else "")
