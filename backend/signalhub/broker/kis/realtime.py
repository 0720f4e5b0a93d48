"""The KIS real-time price consumer (`signalhub realtime`): WebSocket trades -> intraday bars -> signals.

- One instance per deployment holds the connection (`leader.py`: Redis lock with TTL, or a file lock on a
  single host); the others wait and take over when the leader's lock lapses.
- The symbol set is the KRX tickers of users' active alert rules (and the watchlists of rules that use
  theirs), re-read every REALTIME_SYMBOLS_REFRESH_SECONDS and diffed into subscribe/unsubscribe messages.
- One WebSocket carries at most KIS_WS_MAX_SUBSCRIPTIONS (40) H0STCNT0 subscriptions, because KIS allows
  one session per approval key. Symbols beyond the cap (or refused with OPSP0008) are polled over REST
  (current_price) instead, with a log line naming how many.
- PINGPONG frames are echoed. A dropped connection is reconnected with a fresh approval key and every
  subscription is sent again; while it is down all symbols are polled over REST, and the
  REALTIME_FALLBACK gauge and a warning say so.
- Ticks (including batched `0|H0STCNT0|003|...` frames) update the current INTRADAY_INTERVAL bar of their
  ticker in price_bars (upserted once a second); when a tick opens a new bar, the completed one is queued
  for signal evaluation, at most once per bar per ticker.
- The leader also runs the users' fill-notice feed (`notice_feed.py`), one connection per user app key;
  both use `hold_websocket` for connect / PINGPONG / reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
from prometheus_client import start_http_server
from sqlalchemy.orm import Session
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from signalhub.broker.kis.client import KisClient, KisError, krx_code
from signalhub.broker.kis.leader import LeaderLease, get_leader_lease
from signalhub.broker.kis.repository import realtime_tickers
from signalhub.core import calendars, metrics
from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.market_data import repository as bars_repository
from signalhub.models.price_bar import PriceBar

if TYPE_CHECKING:
    from signalhub.broker.kis.notice_feed import NoticeFeed

logger = logging.getLogger(__name__)

KST = calendars.KST
TRADE_TR_ID = "H0STCNT0"
TRADE_FIELDS = 46
SOURCE = "kis"


@dataclass(frozen=True)
class Tick:
    """One trade: 6-digit code, time (UTC), price and traded volume."""

    code: str
    at: datetime
    price: float
    volume: float


def parse_trade_frame(frame: str) -> list[Tick]:
    """Parse a `0|H0STCNT0|<count>|<payload>` frame into its `count` trades (46 fields each)."""
    _enc, tr, count, payload = frame.split("|", 3)
    if tr != TRADE_TR_ID:
        raise ValueError(f"not a trade frame: {tr}")
    fields = payload.split("^")
    n = int(count)
    if len(fields) < n * TRADE_FIELDS:
        raise ValueError(f"trade frame holds {len(fields)} fields, {n} x {TRADE_FIELDS} expected")
    ticks = []
    for i in range(n):
        rec = fields[i * TRADE_FIELDS:(i + 1) * TRADE_FIELDS]
        day = rec[33].strip() or datetime.now(KST).strftime("%Y%m%d")
        at = datetime.strptime(day + rec[1].strip().zfill(6), "%Y%m%d%H%M%S").replace(tzinfo=KST).astimezone(UTC)
        ticks.append(Tick(rec[0].strip(), at, float(rec[2]), float(rec[12] or 0)))
    return ticks


@dataclass
class _Bar:
    ts: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    merged: bool = False  # combined with what price_bars already held for this bar
    dirty: bool = True


class BarBook:
    """Ticks -> the current bar per ticker, written to price_bars; reports bars that completed."""

    def __init__(self, interval: str) -> None:
        self.interval = interval
        self._step = calendars.interval_step(interval)
        self._bars: dict[str, _Bar] = {}
        self._completed: dict[str, pd.Timestamp] = {}
        self._evaluated: dict[str, pd.Timestamp] = {}

    def add(self, ticker: str, tick: Tick) -> None:
        """Fold a tick into its ticker's bar (ticks older than the current bar are ignored)."""
        ts = pd.Timestamp(tick.at).floor(self._step)
        bar = self._bars.get(ticker)
        if bar is not None and ts < bar.ts:
            return
        if bar is None or ts > bar.ts:
            if bar is not None and self._evaluated.get(ticker) != bar.ts:
                self._completed[ticker] = bar.ts
            self._bars[ticker] = _Bar(ts, tick.price, tick.price, tick.price, tick.price, tick.volume)
            return
        bar.high, bar.low = max(bar.high, tick.price), min(bar.low, tick.price)
        bar.close = tick.price
        bar.volume += tick.volume
        bar.dirty = True

    def flush(self, session: Session) -> dict[str, str]:
        """Upsert changed bars; return {ticker: bar start ISO} of bars completed since the last flush."""
        rows = []
        for ticker, bar in self._bars.items():
            if not bar.dirty:
                continue
            if not bar.merged:
                # A bar already stored (an earlier run, or REST polling) keeps its open, extremes and volume.
                stored = session.get(PriceBar, (ticker, self.interval, bar.ts.to_pydatetime()))
                if stored is not None:
                    bar.open = stored.open
                    bar.high, bar.low = max(bar.high, stored.high), min(bar.low, stored.low)
                    bar.volume += stored.volume
                bar.merged = True
            rows.append({"ticker": ticker, "ts": bar.ts, "open": bar.open, "high": bar.high, "low": bar.low,
                         "close": bar.close, "volume": bar.volume})
            bar.dirty = False
        if rows:
            bars_repository.upsert_bars(session, pd.DataFrame(rows), self.interval, SOURCE)
        completed = {t: ts.isoformat() for t, ts in self._completed.items()}
        self._evaluated.update(self._completed)
        self._completed.clear()
        return completed


def _enqueue_evaluation(bars: dict[str, str], interval: str) -> None:
    from signalhub.broker.kis.tasks import evaluate_realtime_bars

    evaluate_realtime_bars.delay(bars, interval)


def _read_symbols() -> list[str]:
    with session_scope() as session:
        return realtime_tickers(session)


class RealtimeConsumer:
    """Holds the KIS WebSocket while leader; polls over REST what the WebSocket does not carry."""

    def __init__(self, client: KisClient, *, ws_url: str | None = None, lease: LeaderLease | None = None,
                 symbols: Callable[[], list[str]] = _read_symbols,
                 enqueue_evaluation: Callable[[dict[str, str], str], None] = _enqueue_evaluation,
                 poll_only_when_open: bool = True, notice_feed: NoticeFeed | None = None) -> None:
        settings = get_settings()
        self.client = client
        self.ws_url = ws_url_for(client.paper, ws_url)
        self.lease = lease or get_leader_lease()
        self.max_subscriptions = settings.kis_ws_max_subscriptions
        self.refresh_seconds = settings.realtime_symbols_refresh_seconds
        self.poll_seconds = settings.realtime_poll_seconds
        self.reconnect_seconds = settings.realtime_reconnect_seconds
        self.book = BarBook(settings.intraday_interval)
        self._symbols = symbols
        self._enqueue = enqueue_evaluation
        self._poll_only_when_open = poll_only_when_open
        self.notice_feed = notice_feed  # users' fill notices, held alongside the market feed while leader
        self.tickers: dict[str, str] = {}  # code -> platform ticker (005930 -> 005930.KS)
        self.requested: set[str] = set()  # codes we sent a subscribe for on the current connection
        self.confirmed: set[str] = set()  # codes KIS confirmed (OPSP0000 / OPSP0002)
        self.refused: set[str] = set()  # codes KIS refused (OPSP0008): polled instead
        self.is_leader = False
        self.fallback = False  # the WebSocket failed: every symbol is polled over REST until it reconnects
        self.connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._approval = ""
        self._last_volume: dict[str, int] = {}
        self._overflow_logged = -1

    # --- symbols --------------------------------------------------------------------------------------
    @property
    def wanted(self) -> list[str]:
        """Codes to carry on the WebSocket: the first `max_subscriptions` in code order."""
        return sorted(self.tickers)[: self.max_subscriptions]

    @property
    def polled(self) -> set[str]:
        """Codes polled over REST: all while the WebSocket is down, else the overflow and refused ones."""
        if self.fallback:
            return set(self.tickers)
        return (set(self.tickers) - set(self.wanted)) | (self.refused & set(self.tickers))

    async def refresh_symbols(self) -> None:
        """Re-read the symbol set and subscribe/unsubscribe the difference."""
        tickers = await asyncio.to_thread(self._symbols)
        codes = {}
        for ticker in tickers:
            try:
                codes[krx_code(ticker)] = ticker
            except ValueError:
                logger.warning("not a KRX stock code; not streamed", extra={"ticker": ticker})
        self.tickers = codes
        overflow = len(self.tickers) - len(self.wanted)
        if overflow != self._overflow_logged:
            self._overflow_logged = overflow
            if overflow > 0:
                logger.warning("more KRX symbols than WebSocket subscriptions; polling the rest over REST",
                               extra={"symbols": len(self.tickers), "cap": self.max_subscriptions,
                                      "polled": overflow})
        await self._sync_subscriptions()

    async def _sync_subscriptions(self) -> None:
        ws = self._ws
        if ws is None:
            return
        wanted = set(self.wanted)
        for code in sorted(wanted - self.requested):
            await ws.send(self._message(code, "1"))
            self.requested.add(code)
        for code in sorted(self.requested - wanted):
            await ws.send(self._message(code, "2"))
            self.requested.discard(code)
            self.confirmed.discard(code)
            self.refused.discard(code)

    def _message(self, code: str, tr_type: str) -> str:
        return subscribe_message(self._approval, TRADE_TR_ID, code, tr_type)

    # --- running --------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Compete for leadership until `stop`; lead (connection, polling, bars) while holding the lock."""
        try:
            while not stop.is_set():
                if await asyncio.to_thread(self.lease.acquire):
                    self.is_leader = True
                    logger.info("realtime consumer is the leader")
                    await self._lead(stop)
                    self.is_leader = False
                    continue
                await _wait(stop, self.lease.ttl / 3)
        finally:
            self.is_leader = False
            await asyncio.to_thread(self.lease.release)
            metrics.REALTIME_CONNECTED.set(0)
            metrics.REALTIME_FALLBACK.set(0)

    async def _lead(self, stop: asyncio.Event) -> None:
        await self.refresh_symbols()
        lost = asyncio.Event()
        jobs = [self._renew_loop(lost), self._websocket_loop(), self._symbols_loop(), self._poll_loop(),
                self._flush_loop()]
        if self.notice_feed is not None:
            jobs.append(self.notice_feed.run())
        tasks = [asyncio.create_task(job) for job in jobs]
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())]
        try:
            await asyncio.wait([*tasks, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*tasks, *waiters):
                task.cancel()
            await asyncio.gather(*tasks, *waiters, return_exceptions=True)
            await asyncio.to_thread(self.flush)
            self._ws = None
            self.fallback = False
            self.connected.clear()
            metrics.REALTIME_CONNECTED.set(0)
            metrics.REALTIME_FALLBACK.set(0)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.error("realtime task failed", exc_info=task.exception())

    async def _renew_loop(self, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease.ttl / 3)
            if not await asyncio.to_thread(self.lease.renew):
                logger.warning("realtime leadership lost; stepping down")
                lost.set()
                return

    async def _symbols_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.refresh_symbols()
            except Exception:  # a database hiccup must not end the consumer
                logger.exception("realtime symbol refresh failed")

    async def _websocket_loop(self) -> None:
        await hold_websocket(self.ws_url, self.client.approval_key, on_open=self._on_open, on_message=self._handle,
                             on_down=self._on_down, reconnect_seconds=self.reconnect_seconds)

    async def _on_open(self, ws: ClientConnection, approval: str) -> None:
        self._approval = approval
        self._ws = ws
        self.requested, self.confirmed, self.refused = set(), set(), set()
        self.connected.set()
        self.fallback = False
        metrics.REALTIME_CONNECTED.set(1)
        metrics.REALTIME_FALLBACK.set(0)
        logger.info("KIS WebSocket connected", extra={"url": self.ws_url})
        await self._sync_subscriptions()

    def _on_down(self, exc: BaseException) -> None:
        self._ws = None
        self.connected.clear()
        self.fallback = True
        metrics.REALTIME_CONNECTED.set(0)
        metrics.REALTIME_FALLBACK.set(1)
        logger.warning("KIS WebSocket down; polling prices over REST until it reconnects",
                       extra={"error": repr(exc)})

    async def _handle(self, ws: ClientConnection, message: str) -> None:
        if message[:1] in ("0", "1"):
            if message.split("|", 2)[1] == TRADE_TR_ID:
                try:
                    ticks = parse_trade_frame(message)
                except ValueError as exc:
                    logger.warning("malformed KIS trade frame", extra={"error": str(exc)})
                    return
                for tick in ticks:
                    self._add_tick(tick)
            return
        data = json.loads(message)
        header, body = data.get("header", {}), data.get("body", {})
        code, msg_cd = str(header.get("tr_key", "")), str(body.get("msg_cd", ""))
        if msg_cd in ("OPSP0000", "OPSP0002"):
            self.confirmed.add(code)
        elif msg_cd == "OPSP0008":
            self.refused.add(code)
            logger.warning("KIS refused a subscription (cap reached); polling it over REST", extra={"code": code})
        elif msg_cd != "OPSP0001":
            logger.warning("KIS WebSocket control reply", extra={"msg_cd": msg_cd, "msg1": body.get("msg1")})

    def _add_tick(self, tick: Tick) -> None:
        ticker = self.tickers.get(tick.code)
        if ticker is None:
            return  # unsubscribed meanwhile
        metrics.REALTIME_TICKS.inc()
        self.book.add(ticker, tick)

    async def _poll_loop(self) -> None:
        while True:
            codes = sorted(self.polled)
            if codes and (not self._poll_only_when_open or calendars.is_open(calendars.XKRX, datetime.now(UTC))):
                for code in codes:
                    try:
                        quote = await asyncio.to_thread(self.client.current_price, code)
                    except KisError as exc:
                        logger.warning("REST price poll failed", extra={"code": code, "msg_cd": exc.msg_cd})
                        continue
                    # Accumulated volume: the difference since the last poll is what traded in between.
                    previous = self._last_volume.get(code)
                    self._last_volume[code] = quote.volume
                    volume = max(0, quote.volume - previous) if previous is not None else 0
                    self._add_tick(Tick(code, quote.at, float(quote.price), float(volume)))
            await asyncio.sleep(self.poll_seconds)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.flush)
            except Exception:  # the next flush writes the same bars again
                logger.exception("writing realtime bars failed")

    def flush(self) -> None:
        """Write changed bars, then queue evaluation of completed ones (after the commit)."""
        with session_scope() as session:
            completed = self.book.flush(session)
        if completed:
            self._enqueue(completed, self.book.interval)


def subscribe_message(approval: str, tr_id: str, tr_key: str, tr_type: str) -> str:
    """A KIS WebSocket register ("1") or release ("2") message for one (tr_id, tr_key)."""
    return json.dumps({"header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type,
                                  "content-type": "utf-8"},
                       "body": {"input": {"tr_id": tr_id, "tr_key": tr_key}}})


def ws_url_for(paper: bool, base: str | None = None) -> str:
    """The KIS WebSocket endpoint of the paper or real host (`base` overrides the configured host)."""
    settings = get_settings()
    base = base or (settings.kis_paper_ws_url if paper else settings.kis_real_ws_url)
    return base.rstrip("/") + "/tryitout"


async def hold_websocket(url: str, approval_key: Callable[[], str], *,
                         on_open: Callable[[ClientConnection, str], Awaitable[None]],
                         on_message: Callable[[ClientConnection, str], Awaitable[None]],
                         on_down: Callable[[BaseException], None], reconnect_seconds: float) -> None:
    """Keep one KIS WebSocket up forever: a fresh approval key per connection, PINGPONG answered, reconnect on drop.

    `on_open(ws, approval_key)` (re)sends the subscriptions, `on_message` gets every other frame, `on_down`
    hears why the connection ended before the next attempt `reconnect_seconds` later. Cancel to stop."""
    while True:
        try:
            approval = await asyncio.to_thread(approval_key)
            async with connect(url, ping_interval=None, open_timeout=10) as ws:
                await on_open(ws, approval)
                async for message in ws:
                    text = message if isinstance(message, str) else message.decode()
                    if text[:1] == "{":
                        control = json.loads(text)
                        if control.get("header", {}).get("tr_id") == "PINGPONG":
                            await ws.send(text)  # KIS drops sessions that do not answer
                            continue
                        if control.get("body", {}).get("msg_cd") == "OPSP8996":
                            raise ConnectionError("approval key already in use by another session")
                    await on_message(ws, text)
            raise ConnectionError("KIS closed the WebSocket")
        except (OSError, WebSocketException, KisError, TimeoutError, ConnectionError) as exc:
            on_down(exc)
            await asyncio.sleep(reconnect_seconds)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def run_forever() -> None:
    """Run the consumer with the platform credential until SIGINT/SIGTERM (the `signalhub realtime` command)."""
    settings = get_settings()
    if settings.realtime_metrics_port:
        # Its own process: the API's /metrics cannot see these gauges, so they are served here.
        start_http_server(settings.realtime_metrics_port, addr=settings.worker_metrics_host)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from signalhub.broker.kis.notice_feed import NoticeFeed

        client = KisClient.from_settings()
        try:
            await RealtimeConsumer(client, notice_feed=NoticeFeed()).run(stop)
        finally:
            client.close()

    asyncio.run(main())
