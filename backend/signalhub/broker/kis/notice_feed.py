"""Users' KIS fill notices (H0STCNI0 real / H0STCNI9 paper) over WebSocket, run by the real-time leader.

- Who: every active user opted in to trading whose orders go to KIS (paper or real) and whose stored
  credentials include an HTS ID; the notice subscription's tr_key is that HTS ID, not a stock code.
- How: KIS allows one WebSocket session per approval key and approval keys belong to an app key, so each
  user app key gets its own connection (apart from the platform's market-data one), carrying the HTS IDs
  of the users on that key. The subscribe ack carries the AES key/iv that decrypts the notice frames.
- Frames go to `trading.execution.apply_notice_frame`, which books fills and exchange rejections once
  (fills are keyed by cumulative quantity, so REST polling that sees the same fill later adds nothing).
- The set is re-read every REALTIME_SYMBOLS_REFRESH_SECONDS: opt-ins open connections, opt-outs and removed
  credentials close them. Dropped connections reconnect and resubscribe through `realtime.hold_websocket`;
  fills that happen while a connection is down are picked up by the order reconciler's REST polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection

from signalhub.broker.adapters import KIS_PAPER, KIS_REAL, KisAdapter, build_adapter
from signalhub.broker.kis.realtime import hold_websocket, subscribe_message, ws_url_for
from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.trading import execution, repository, service

logger = logging.getLogger(__name__)

NOTICE_TR_ID = {KIS_PAPER: "H0STCNI9", KIS_REAL: "H0STCNI0"}
# The environment a broker's keys must be registered for; keys of the other one are refused by its host.
ENVIRONMENT = {KIS_PAPER: "paper", KIS_REAL: "real"}


@dataclass(frozen=True)
class NoticeTarget:
    """One user whose fills should arrive as notices: broker, decrypted credentials and HTS ID."""

    user_id: int
    broker: str
    credentials: dict[str, str]

    @property
    def hts_id(self) -> str:
        """The notice subscription key."""
        return self.credentials["hts_id"]

    @property
    def link_key(self) -> tuple[str, str, str]:
        """Users sharing this key share one connection: the broker and the app key with its secret."""
        return self.broker, self.credentials["app_key"], self.credentials["app_secret"]


def notice_targets() -> list[NoticeTarget]:
    """Every opted-in user trading through KIS with stored credentials that include an HTS ID."""
    targets = []
    with session_scope() as session:
        for settings in repository.opted_in_settings(session):
            account = repository.get_account(session, settings.user_id)
            broker = service.broker_for(settings, account)
            if broker not in NOTICE_TR_ID or account is None or account.environment != ENVIRONMENT[broker]:
                continue
            credentials = service.credentials_for(session, settings.user_id) or {}
            if credentials.get("hts_id", "").strip() and credentials.get("app_key") and credentials.get("app_secret"):
                targets.append(NoticeTarget(settings.user_id, broker, {**credentials,
                                                                        "hts_id": credentials["hts_id"].strip()}))
    return targets


class NoticeLink:
    """One WebSocket of one user app key, subscribed to the notices of the HTS IDs on that key."""

    def __init__(self, broker: str, adapter: KisAdapter, reconnect_seconds: float) -> None:
        self.broker = broker
        self.tr_id = NOTICE_TR_ID[broker]
        self.adapter = adapter
        self.url = ws_url_for(adapter.client.paper)
        self.reconnect_seconds = reconnect_seconds
        self.hts_ids: set[str] = set()  # wanted
        self.requested: set[str] = set()  # sent a subscribe for on the current connection
        self.confirmed: set[str] = set()  # acknowledged by KIS (OPSP0000 / OPSP0002)
        self.cipher: tuple[str, str] | None = None  # (key, iv) from the subscribe ack of this connection
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._approval = ""

    def start(self) -> None:
        """Start holding the connection in the background."""
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Close the connection (KIS drops its subscriptions with it) and the REST client."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.adapter.close()

    async def _run(self) -> None:
        await hold_websocket(self.url, self.adapter.client.approval_key, on_open=self._on_open,
                             on_message=self._on_message, on_down=self._on_down,
                             reconnect_seconds=self.reconnect_seconds)

    async def _on_open(self, ws: ClientConnection, approval: str) -> None:
        self._ws, self._approval = ws, approval
        self.requested, self.confirmed, self.cipher = set(), set(), None
        self.connected.set()
        logger.info("KIS notice WebSocket connected", extra={"broker": self.broker, "url": self.url})
        await self.sync()

    def _on_down(self, exc: BaseException) -> None:
        self._ws = None
        self.connected.clear()
        logger.warning("KIS notice WebSocket down; reconnecting (fills meanwhile come from REST polling)",
                       extra={"broker": self.broker, "error": repr(exc)})

    async def sync(self) -> None:
        """Subscribe the wanted HTS IDs not yet requested and release the ones no longer wanted."""
        ws = self._ws
        if ws is None:
            return  # `_on_open` sends the whole set when the connection is back
        for hts_id in sorted(self.hts_ids - self.requested):
            await ws.send(subscribe_message(self._approval, self.tr_id, hts_id, "1"))
            self.requested.add(hts_id)
        for hts_id in sorted(self.requested - self.hts_ids):
            await ws.send(subscribe_message(self._approval, self.tr_id, hts_id, "2"))
            self.requested.discard(hts_id)
            self.confirmed.discard(hts_id)

    async def _on_message(self, ws: ClientConnection, message: str) -> None:
        if message[:1] in ("0", "1"):
            await self._on_frame(message)
            return
        data = json.loads(message)
        header, body = data.get("header", {}), data.get("body", {})
        if header.get("tr_id") != self.tr_id:
            return
        hts_id, msg_cd = str(header.get("tr_key", "")), str(body.get("msg_cd", ""))
        if msg_cd in ("OPSP0000", "OPSP0002"):
            self.confirmed.add(hts_id)
            output = body.get("output") or {}
            if output.get("key") and output.get("iv"):
                # The key is per tr_id, not per HTS ID: every ack of this connection carries the same one.
                self.cipher = (str(output["key"]), str(output["iv"]))
        elif msg_cd == "OPSP0001":
            self.confirmed.discard(hts_id)
        else:
            logger.warning("KIS refused a notice subscription",
                           extra={"broker": self.broker, "msg_cd": msg_cd, "msg1": body.get("msg1")})

    async def _on_frame(self, frame: str) -> None:
        parts = frame.split("|", 3)
        if len(parts) != 4 or parts[1] != self.tr_id:
            return
        if parts[0] == "1" and self.cipher is None:
            logger.warning("encrypted KIS notice before its subscribe ack; left to REST polling",
                           extra={"broker": self.broker})
            return
        key, iv = self.cipher or ("", "")
        try:
            added = await asyncio.to_thread(execution.apply_notice_frame, self.broker, frame, key, iv)
        except ValueError as exc:
            logger.warning("malformed KIS notice frame", extra={"broker": self.broker, "error": str(exc)})
            return
        except Exception:  # a database hiccup must not drop the connection; polling books the fill later
            logger.exception("applying a KIS notice failed", extra={"broker": self.broker})
            return
        if added:
            logger.info("fills taken in from a KIS notice", extra={"broker": self.broker, "fills": added})


class NoticeFeed:
    """Keeps one notice link per opted-in user app key, following opt-ins and opt-outs."""

    def __init__(self) -> None:
        settings = get_settings()
        self.refresh_seconds = settings.realtime_symbols_refresh_seconds
        self.reconnect_seconds = settings.realtime_reconnect_seconds
        self.links: dict[tuple[str, str, str], NoticeLink] = {}

    async def run(self) -> None:
        """Refresh the links every refresh period until cancelled; then close them all."""
        try:
            while True:
                try:
                    await self.refresh()
                except Exception:  # a database hiccup must not end the leader's other jobs
                    logger.exception("notice subscription refresh failed")
                await asyncio.sleep(self.refresh_seconds)
        finally:
            await self.close()

    async def refresh(self) -> None:
        """Re-read who wants notices; open, resubscribe or close links to match."""
        targets = await asyncio.to_thread(notice_targets)
        wanted: dict[tuple[str, str, str], list[NoticeTarget]] = {}
        for target in targets:
            wanted.setdefault(target.link_key, []).append(target)
        for key in [key for key in self.links if key not in wanted]:
            await self.links.pop(key).stop()
            logger.info("KIS notice link closed (opted out or credentials changed)", extra={"broker": key[0]})
        for key, users in wanted.items():
            link = self.links.get(key)
            if link is None:
                first = users[0]
                adapter = build_adapter(first.broker, first.user_id, first.credentials)
                assert isinstance(adapter, KisAdapter)  # NOTICE_TR_ID holds only the KIS brokers
                link = self.links[key] = NoticeLink(first.broker, adapter, self.reconnect_seconds)
                link.start()
            link.hts_ids = {user.hts_id for user in users}
            await link.sync()

    async def close(self) -> None:
        """Close every link."""
        links, self.links = list(self.links.values()), {}
        for link in links:
            await link.stop()
