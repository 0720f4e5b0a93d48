"""KIS as a market-data provider: daily bars of KRX stocks through the KIS Open API (FHKST03010100).

Only KRX tickers (`005930.KS`, `035720.KQ`) are served: any other symbol is UNKNOWN_TICKER, as is a code KIS
does not know (APBK0656). Daily bars are raw KRW prices (FID_ORG_ADJ_PRC=1), `ts` = midnight UTC of the
session date like every other provider. Intraday bars come from the real-time consumer (`signalhub
realtime`), which writes them as ticks arrive, so intraday intervals are FAILED here with a message saying
so. Uses the platform credential (KIS_APP_KEY / KIS_APP_SECRET / KIS_PAPER); the client's shared rate
limiter and token cache make concurrent fetches safe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from signalhub.broker.kis.client import KisClient, KisError, krx_code
from signalhub.core.calendars import XKRX, exchange_for_ticker
from signalhub.core.time import utcnow
from signalhub.market_data.providers.base import FetchResult, FetchStatus, Interval, empty_bars, normalise_bars

logger = logging.getLogger(__name__)

_DEFAULT_LOOKBACK = timedelta(days=800)
UNKNOWN_CODES = frozenset({"APBK0656"})


class KisProvider:
    """Daily KRX bars from KIS, one chart call per 100 bars."""

    name = "kis"

    def __init__(self, client: KisClient | None = None) -> None:
        self._client = client
        self._owns_client = client is None

    @property
    def client(self) -> KisClient:
        """The KIS client (the platform credential unless one was given)."""
        if self._client is None:
            self._client = KisClient.from_settings()
        return self._client

    def close(self) -> None:
        """Close the client if this provider created it."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    def fetch_bars(self, tickers: Sequence[str], interval: Interval, start: datetime | None,
                   end: datetime | None) -> dict[str, FetchResult]:
        """Return one result per ticker; never raises for a single ticker's failure."""
        end = end or utcnow()
        start = start or end - _DEFAULT_LOOKBACK
        results: dict[str, FetchResult] = {}
        for ticker in tickers:
            results[ticker] = self._fetch_one(ticker, interval, start, end)
        return results

    def _fetch_one(self, ticker: str, interval: str, start: datetime, end: datetime) -> FetchResult:
        if exchange_for_ticker(ticker) != XKRX:
            return FetchResult(ticker, interval, FetchStatus.UNKNOWN_TICKER, message="KIS serves KRX tickers only")
        try:
            krx_code(ticker)
        except ValueError as exc:
            return FetchResult(ticker, interval, FetchStatus.UNKNOWN_TICKER, message=str(exc))
        if interval != "1d":
            return FetchResult(ticker, interval, FetchStatus.FAILED,
                               message="KIS provider serves daily bars; intraday bars come from `signalhub realtime`")
        # Daily `ts` is midnight UTC of the session date, so compare by date (KST date == session date).
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        if first > last:
            return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, message="empty range")
        try:
            frame = self.client.daily_chart(ticker, first, last)
        except KisError as exc:
            if exc.msg_cd in UNKNOWN_CODES:
                return FetchResult(ticker, interval, FetchStatus.UNKNOWN_TICKER, message=exc.message)
            logger.warning("KIS daily chart failed", extra={"ticker": ticker, "msg_cd": exc.msg_cd})
            return FetchResult(ticker, interval, FetchStatus.FAILED, message=str(exc))
        if frame.empty:
            return FetchResult(ticker, interval, FetchStatus.NO_NEW_DATA, bars=empty_bars())
        meta = {"currency": "KRW", "exchange": XKRX, "timezone": "Asia/Seoul"}
        return FetchResult(ticker, interval, FetchStatus.OK, bars=normalise_bars(frame), meta=meta)
