"""A fake KIS Open API (REST + WebSocket on loopback) reproducing the contract's section-12 checklist.

Start it (threads; both hosts of each kind get their own port)::

    with FakeKis() as fake:                       # or fake = FakeKis().start(); ...; fake.stop()
        creds = fake.add_app(paper=True, cash=10_000_000)   # KisCredentials with account + HTS id
        fake.set_price("005930", 70_000)
        client = KisClient(creds, base_url=fake.url(paper=True))     # REST; fake.ws_url(paper=True) for WS
        # or point the settings at it: fake.settings_env(creds) -> {"KIS_APP_KEY": ..., "KIS_PAPER_BASE_URL": ...}

Hosts: `fake.url(paper=False)` is the "real" host, `fake.url(paper=True)` the paper one. Keys are bound to
one host: a paper key on the real host gets 500 EGW02004, a real tr_id on the paper host 500 "모의투자 TR 이
아닙니다.". Both old and new tr_ids are accepted. Order bodies must be UPPER-CASE keys with string values.

Knobs (all thread-safe):
- tokens: `token_throttle_seconds` (60: a second tokenP within it -> 403 EGW00133), `token_ttl_seconds`
  (86400; tokenP within 6 h returns the same token), `expire_tokens()` (API calls then get 500 EGW00123),
  `token_requests` / `token_issuances` counters, `tokens_issued` (distinct tokens).
- rate: per-app-key token bucket `rates = {"real": 20, "paper": 2}` -> 500 EGW00201; `fail_rate_limit(n)`
  forces the next n API calls to get EGW00201.
- paging: inquire-daily-ccld (real 100 / paper 15 per page) and inquire-balance (50 / 20) with tr_cont F/M/D/E
  and CTX_AREA_NK100; `page_sizes` overrides; chart answers at most 100 bars newest first.
- market clock: `set_market_open(True|False)` forces it (default True); `set_clock(dt)` uses the real KRX
  windows at that instant (08:30-15:30 regular, 05 08:30-08:40, 06 15:30-16:00, 07 16:00-18:00) and
  `holidays.add(date)`. Outside a window an order gets rt_cd 1 APBK0919.
- orders: `drop_response_after_accept(next_n=1)` records the next order then closes the connection without
  answering (client sees a disconnect); `fill(order_no, qty, price)` fills (partially) -> ccld (tot_ccld_qty,
  rmn_qty, avg_prvs), balance (cash, holdings) and a CNTG_YN=2 notice; `reject(order_no)` sends RFUS_YN=1.
  `orders` lists FakeOrder objects; buys beyond cash / sells beyond holdings get rt_cd 1 APBK0952/APBK0400.
- WebSocket (`ws_url(paper)`; paths /, /tryitout, /tryitout/{tr_id}): approval keys from POST /oauth2/Approval,
  one live session per approval key (else OPSP8996), OPSP0000/0001/0002/0003 acks, a 41-subscription cap
  (`max_subscriptions`) -> OPSP0008; `ping_seconds` sends PINGPONG periodically (`pingpong_echoes` counts
  echoed ones); `push_trades(code, [Trade, ...])` sends ONE batched H0STCNT0 frame (count = len);
  `drop_websockets()` aborts every live connection (1006); `refuse_websockets = True` rejects handshakes;
  `subscriptions(paper)` is the live (tr_id, tr_key) set, `ws_connects` counts sessions.
- notices: subscribe {"tr_id": "H0STCNI9" (paper) / "H0STCNI0", "tr_key": <hts_id>}; the ack carries
  output.key/iv; order acks (CNTG_YN=1) and fills (CNTG_YN=2) arrive as `1|H0STCNI9|001|<base64 AES>`,
  decrypt with `signalhub.broker.kis.notices.decrypt_notice`. `notice_cipher(paper)` returns (key, iv) and
  `notice_frames` records every frame sent; `notice_extra_fields` appends fields (layout drift).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response

from signalhub.broker.kis.client import KisCredentials
from signalhub.broker.kis.notices import encrypt_notice

KST = ZoneInfo("Asia/Seoul")
ENVS = ("real", "paper")
# tr_id (new and old) -> (operation, env)
TR_TABLE: dict[str, tuple[str, str]] = {
    "FHKST01010100": ("price", "both"), "FHKST03010100": ("chart", "both"),
    "TTTC0012U": ("buy", "real"), "TTTC0802U": ("buy", "real"), "VTTC0012U": ("buy", "paper"),
    "VTTC0802U": ("buy", "paper"), "TTTC0011U": ("sell", "real"), "TTTC0801U": ("sell", "real"),
    "VTTC0011U": ("sell", "paper"), "VTTC0801U": ("sell", "paper"), "TTTC0013U": ("rvsecncl", "real"),
    "TTTC0803U": ("rvsecncl", "real"), "VTTC0013U": ("rvsecncl", "paper"), "VTTC0803U": ("rvsecncl", "paper"),
    "TTTC0081R": ("ccld", "real"), "TTTC8001R": ("ccld", "real"), "VTTC0081R": ("ccld", "paper"),
    "VTTC8001R": ("ccld", "paper"), "CTSC9215R": ("ccld", "real"), "CTSC9115R": ("ccld", "real"),
    "VTSC9215R": ("ccld", "paper"), "VTSC9115R": ("ccld", "paper"),
    "TTTC8434R": ("balance", "real"), "VTTC8434R": ("balance", "paper"),
}
PATHS = {
    "/uapi/domestic-stock/v1/quotations/inquire-price": "price",
    "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice": "chart",
    "/uapi/domestic-stock/v1/trading/order-cash": "order",
    "/uapi/domestic-stock/v1/trading/order-rvsecncl": "rvsecncl",
    "/uapi/domestic-stock/v1/trading/inquire-daily-ccld": "ccld",
    "/uapi/domestic-stock/v1/trading/inquire-balance": "balance",
}
_DROP = object()  # answer: close the connection without a response


@dataclass
class FakeApp:
    """One registered app key with its account."""

    app_key: str
    app_secret: str
    env: str
    account_no: str
    product_code: str
    hts_id: str
    cash: float
    holdings: dict[str, list[float]] = field(default_factory=dict)  # code -> [qty, avg price]
    bucket: float = 0.0
    bucket_at: float = 0.0
    last_issue_at: float = -math.inf
    token: str | None = None
    token_issued_at: float = -math.inf
    token_expires_at: datetime | None = None


@dataclass
class FakeOrder:
    """An order at the fake broker: what was asked and what happened."""

    order_no: str
    org_no: str
    app_key: str
    code: str
    side: str  # "01" sell / "02" buy
    ord_dvsn: str
    qty: int
    price: float
    ordered_at: datetime  # KST
    tr_id: str
    filled: int = 0
    fill_amount: float = 0.0
    cancelled_qty: int = 0
    rejected_qty: int = 0
    original_order_no: str = ""
    is_cancel: bool = False

    @property
    def remaining(self) -> int:
        """Quantity still open."""
        return 0 if self.is_cancel else self.qty - self.filled - self.cancelled_qty - self.rejected_qty


@dataclass(frozen=True)
class Trade:
    """One trade to push on H0STCNT0."""

    price: float
    volume: int
    at: datetime | None = None  # default: the fake's clock


class FakeKis:
    """Both KIS hosts (real and paper), REST and WebSocket, with the state of accounts and orders."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.apps: dict[str, FakeApp] = {}
        self.token_owner: dict[str, str] = {}  # token -> app key
        self.expired_tokens: set[str] = set()
        self.token_throttle_seconds = 60.0
        self.token_ttl_seconds = 86400
        self.token_requests = 0
        self.token_issuances = 0
        self.tokens_issued: list[str] = []
        self.rates = {"real": 20.0, "paper": 2.0}
        self.page_sizes = {("ccld", "real"): 100, ("ccld", "paper"): 15, ("balance", "real"): 50,
                           ("balance", "paper"): 20}
        self._force_rate_limit = 0
        self._drop_orders = 0
        self.market_open: bool | None = True
        self.clock: datetime | None = None
        self.holidays: set[date] = set()
        self.prices: dict[str, dict[str, Any]] = {}
        self.daily_bars: dict[str, dict[str, tuple[float, float, float, float, float]]] = {}
        self.orders: list[FakeOrder] = []
        self._order_seq = 0
        self.requests: list[dict[str, Any]] = []
        # WebSocket state
        self.approval_keys: dict[str, str] = {}  # approval key -> app key
        self.max_subscriptions = 41
        self.ping_seconds: float | None = None
        self.pingpong_echoes = 0
        self.refuse_websockets = False
        self.ws_connects = 0
        self.notice_extra_fields: list[str] = []
        self.notice_frames: list[str] = []
        self.subscribe_log: list[tuple[int, str, str, str, str]] = []  # (session, env, tr_type, tr_id, tr_key)
        self._notice_cipher = {env: (secrets.token_hex(16), secrets.token_hex(8)) for env in ENVS}
        self._sessions: dict[int, dict[str, Any]] = {}
        self._session_seq = 0
        self._servers: list[ThreadingHTTPServer] = []
        self._urls: dict[str, str] = {}
        self._ws_urls: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._ws_servers: list[Any] = []

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> FakeKis:
        """Start both REST hosts and both WebSocket hosts on ephemeral loopback ports."""
        for env in ENVS:
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(env))
            httpd.daemon_threads = True
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
            self._servers.append(httpd)
            self._urls[env] = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._loop_thread.start()
        for env in ENVS:
            server = asyncio.run_coroutine_threadsafe(self._start_ws(env), self._loop).result(10)
            self._ws_servers.append(server)
            port = next(iter(server.sockets)).getsockname()[1]
            self._ws_urls[env] = f"ws://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        """Stop every server."""
        for httpd in self._servers:
            httpd.shutdown()
            httpd.server_close()
        if self._loop is not None:
            async def close_all() -> None:
                for server in self._ws_servers:
                    server.close()
                    await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(5)
            self._loop.close()

    def __enter__(self) -> FakeKis:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, paper: bool) -> str:
        """REST base URL of the paper or real host."""
        return self._urls["paper" if paper else "real"]

    def ws_url(self, paper: bool) -> str:
        """WebSocket base URL of the paper or real host."""
        return self._ws_urls["paper" if paper else "real"]

    def settings_env(self, creds: KisCredentials) -> dict[str, str]:
        """Environment variables pointing the platform's KIS settings at this fake with `creds`."""
        return {"KIS_APP_KEY": creds.app_key, "KIS_APP_SECRET": creds.app_secret,
                "KIS_PAPER": "true" if creds.paper else "false",
                "KIS_REAL_BASE_URL": self.url(False), "KIS_PAPER_BASE_URL": self.url(True),
                "KIS_REAL_WS_URL": self.ws_url(False), "KIS_PAPER_WS_URL": self.ws_url(True)}

    # --- arranging state ---------------------------------------------------------------------------------
    def add_app(self, *, paper: bool = True, cash: float = 10_000_000, hts_id: str | None = None) -> KisCredentials:
        """Register an app key (bound to one host) with an account; return its credentials."""
        with self.lock:
            key = "PS" + secrets.token_hex(17) if paper else "P" + secrets.token_hex(17)
            app = FakeApp(app_key=key, app_secret=secrets.token_urlsafe(90)[:180], env="paper" if paper else "real",
                          account_no=f"{5000_0000 + len(self.apps):08d}", product_code="01",
                          hts_id=hts_id or f"hts{len(self.apps):04d}", cash=float(cash))
            self.apps[key] = app
            return KisCredentials(app.app_key, app.app_secret, paper, app.account_no, app.product_code, app.hts_id)

    def set_price(self, code: str, price: float, *, volume: int = 0, base: float | None = None) -> None:
        """Set the current price (and accumulated volume) inquire-price returns for `code`."""
        with self.lock:
            base = base if base is not None else price
            self.prices[code] = {"price": float(price), "volume": int(volume), "base": float(base)}

    def add_daily_bars(self, code: str, bars: list[tuple[date, float, float, float, float, float]]) -> None:
        """Add daily bars (date, open, high, low, close, volume) served by the chart TR."""
        with self.lock:
            series = self.daily_bars.setdefault(code, {})
            for day, o, h, lo, c, v in bars:
                series[day.strftime("%Y%m%d")] = (o, h, lo, c, v)

    def holdings_of(self, creds: KisCredentials) -> dict[str, list[float]]:
        """The account's holdings: code -> [quantity, average price]."""
        return self.apps[creds.app_key].holdings

    def set_holding(self, creds: KisCredentials, code: str, qty: int, avg_price: float) -> None:
        """Give the account a position."""
        with self.lock:
            self.apps[creds.app_key].holdings[code] = [qty, avg_price]

    # --- knobs -------------------------------------------------------------------------------------------
    def fail_rate_limit(self, next_n: int = 1) -> None:
        """The next `next_n` API calls get 500 EGW00201 whatever the bucket holds."""
        with self.lock:
            self._force_rate_limit += next_n

    def drop_response_after_accept(self, next_n: int = 1) -> None:
        """Accept the next `next_n` orders but close the connection before answering."""
        with self.lock:
            self._drop_orders += next_n

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (API calls get EGW00123); tokenP issues a new one."""
        with self.lock:
            self.expired_tokens.update(self.token_owner)
            for app in self.apps.values():
                app.token = None

    def set_market_open(self, is_open: bool | None) -> None:
        """Force the market open/closed; None: follow the clock and the KRX windows."""
        with self.lock:
            self.market_open = is_open

    def set_clock(self, at: datetime | None) -> None:
        """Freeze the fake's clock at `at` (None: wall clock) and follow the KRX windows."""
        with self.lock:
            self.clock = at
            self.market_open = None

    def now_kst(self) -> datetime:
        """The fake's current time in KST."""
        return (self.clock or datetime.now(UTC)).astimezone(KST)

    def notice_cipher(self, paper: bool) -> tuple[str, str]:
        """(key, iv) of the notice TR on that host (as sent in the subscribe ack)."""
        return self._notice_cipher["paper" if paper else "real"]

    def fill(self, order_no: str, qty: int, price: float) -> FakeOrder:
        """Fill `qty` of an open order at `price`: ccld, balance and a CNTG_YN=2 notice follow."""
        with self.lock:
            order = self._order(order_no)
            if qty <= 0 or qty > order.remaining:
                raise ValueError(f"cannot fill {qty} of order {order_no} (remaining {order.remaining})")
            app = self.apps[order.app_key]
            order.filled += qty
            order.fill_amount += qty * price
            held = app.holdings.setdefault(order.code, [0, 0.0])
            if order.side == "02":
                app.cash -= qty * price
                held[1] = (held[0] * held[1] + qty * price) / (held[0] + qty)
                held[0] += qty
            else:
                app.cash += qty * price
                held[0] -= qty
            self._notify(order, fill_qty=qty, fill_price=price)
            return order

    def reject(self, order_no: str) -> FakeOrder:
        """The exchange rejects the remainder of an order (RFUS_YN=1 notice)."""
        with self.lock:
            order = self._order(order_no)
            order.rejected_qty += order.remaining
            self._notify(order, rejected=True)
            return order

    def _order(self, order_no: str) -> FakeOrder:
        for order in self.orders:
            if order.order_no == order_no:
                return order
        raise KeyError(order_no)

    # --- REST --------------------------------------------------------------------------------------------
    def _handler(self, env: str) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = fake.handle(env, method, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                                     headers, raw)
                if answer is _DROP:
                    self.close_connection = True
                    return
                status, body, extra = answer
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler

    def handle(self, env: str, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               raw: bytes) -> Any:
        """Answer one REST request: (status, body, headers) or _DROP."""
        with self.lock:
            body: dict[str, Any] = json.loads(raw) if raw else {}
            self.requests.append({"env": env, "method": method, "path": path, "query": query, "body": body,
                                  "tr_id": headers.get("tr_id", ""), "tr_cont": headers.get("tr_cont", "")})
            if path == "/oauth2/tokenP" and method == "POST":
                return self._token(env, body)
            if path == "/oauth2/revokeP" and method == "POST":
                return self._revoke(body)
            if path == "/oauth2/Approval" and method == "POST":
                return self._approval(env, body)
            if path == "/uapi/hashkey" and method == "POST":
                return 200, {"BODY": body, "HASH": hashlib.sha256(raw).hexdigest()}, {}
            kind = PATHS.get(path)
            if kind is None:
                return 404, {"rt_cd": "1", "msg_cd": "EGW00000", "msg1": "not found"}, {}
            problem = self._authorise(env, headers)
            if problem is not None:
                return problem
            app = self.apps[headers["appkey"]]
            tid = headers.get("tr_id", "")
            op = TR_TABLE.get(tid)
            if op is None:
                return 500, _fail("EGW00000", f"unknown tr_id {tid}"), {}
            if op[1] not in ("both", env):
                # The paper host names the problem; the real host refuses a paper TR as unknown.
                msg = "모의투자 TR 이 아닙니다." if env == "paper" else "실전투자 TR 이 아닙니다."
                return 500, {"rt_cd": "1", "msg_cd": "", "msg1": msg}, {}
            expected = {"price": ("price",), "chart": ("chart",), "order": ("buy", "sell"),
                        "rvsecncl": ("rvsecncl",), "ccld": ("ccld",), "balance": ("balance",)}[kind]
            if op[0] not in expected:
                return 500, _fail("EGW00000", f"tr_id {tid} does not belong to {path}"), {}
            if not self._take_slot(app):
                return 500, _fail("EGW00201", "초당 거래건수를 초과하였습니다."), {}
            if method == "POST":
                bad = [k for k, v in body.items() if k != k.upper() or not isinstance(v, str)]
                if bad:
                    return 500, _fail("OPSQ0002", f"bad body fields {bad}"), {}
            params = {k.upper(): v for k, v in query.items()}
            if kind == "price":
                return self._price(params)
            if kind == "chart":
                return self._chart(params)
            if kind == "order":
                return self._order_cash(app, op[0], tid, body)
            if kind == "rvsecncl":
                return self._rvsecncl(app, body)
            if kind == "ccld":
                return self._ccld(app, params, headers)
            return self._balance(app, params, headers)

    def _token(self, env: str, body: dict[str, Any]) -> Any:
        self.token_requests += 1
        app = self.apps.get(str(body.get("appkey")))
        if app is None or app.app_secret != body.get("appsecret") or body.get("grant_type") != "client_credentials":
            return 403, {"error_description": "유효하지 않은 AppKey입니다.", "error_code": "EGW00103"}, {}
        if app.env != env:
            return 500, {"rt_cd": "1", "msg_cd": "EGW02004",
                         "msg1": "실전투자 도메인은 모의투자 앱키로 호출하실 수 없습니다."}, {}
        now = time.monotonic()
        if now - app.last_issue_at < self.token_throttle_seconds:
            return 403, {"error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
                         "error_code": "EGW00133"}, {}
        app.last_issue_at = now
        # Within 6 h KIS hands back the same token.
        if app.token is None or now - app.token_issued_at >= 6 * 3600:
            app.token = secrets.token_urlsafe(48)
            app.token_issued_at = now
            app.token_expires_at = datetime.now(KST).replace(microsecond=0) + timedelta(seconds=self.token_ttl_seconds)
            self.token_owner[app.token] = app.app_key
            self.tokens_issued.append(app.token)
        self.token_issuances += 1
        assert app.token_expires_at is not None
        return 200, {"access_token": app.token, "token_type": "Bearer", "expires_in": self.token_ttl_seconds,
                     "access_token_token_expired": app.token_expires_at.strftime("%Y-%m-%d %H:%M:%S")}, {}

    def _revoke(self, body: dict[str, Any]) -> Any:
        token = str(body.get("token"))
        if token in self.token_owner:
            self.expired_tokens.add(token)
            app = self.apps[self.token_owner[token]]
            if app.token == token:
                app.token = None
        return 200, {"code": 200, "message": "접근토큰 폐기에 성공하였습니다"}, {}

    def _approval(self, env: str, body: dict[str, Any]) -> Any:
        app = self.apps.get(str(body.get("appkey")))
        # The secret travels as `secretkey`; `appsecret` is what clients get wrong.
        if app is None or app.app_secret != body.get("secretkey"):
            return 403, {"error_description": "유효하지 않은 AppKey입니다.", "error_code": "EGW00103"}, {}
        if app.env != env:
            return 500, {"rt_cd": "1", "msg_cd": "EGW02004", "msg1": "domain and app key do not match"}, {}
        key = str(uuid.uuid4())  # 36 characters
        self.approval_keys[key] = app.app_key
        return 200, {"approval_key": key}, {}

    def _authorise(self, env: str, headers: dict[str, str]) -> Any:
        app = self.apps.get(headers.get("appkey", ""))
        if app is None or app.app_secret != headers.get("appsecret"):
            return 500, _fail("EGW00103", "유효하지 않은 AppKey입니다."), {}
        if app.env != env:
            return 500, _fail("EGW02004", "실전투자 도메인은 모의투자 앱키로 호출하실 수 없습니다."), {}
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token in self.expired_tokens:
            return 500, _fail("EGW00123", "기간이 만료된 token 입니다."), {}
        if self.token_owner.get(token) != app.app_key:
            return 500, _fail("EGW00121", "유효하지 않은 token 입니다."), {}
        return None

    def _take_slot(self, app: FakeApp) -> bool:
        if self._force_rate_limit > 0:
            self._force_rate_limit -= 1
            return False
        rate = self.rates[app.env]
        now = time.monotonic()
        if app.bucket_at == 0.0:
            app.bucket, app.bucket_at = rate, now
        app.bucket = min(rate, app.bucket + (now - app.bucket_at) * rate)
        app.bucket_at = now
        if app.bucket < 1.0:
            return False
        app.bucket -= 1.0
        return True

    def _price(self, params: dict[str, str]) -> Any:
        code = params.get("FID_INPUT_ISCD", "")
        quote = self.prices.get(code)
        if quote is None:
            return 200, _fail("APBK0656", "해당 종목정보가 없습니다."), {}
        p, base = quote["price"], quote["base"]
        diff = p - base
        out = {"stck_prpr": _num(p), "prdy_vrss": _num(diff), "prdy_vrss_sign": "2" if diff > 0 else "5" if diff < 0
               else "3", "prdy_ctrt": f"{(diff / base * 100) if base else 0:.2f}", "acml_vol": str(quote["volume"]),
               "acml_tr_pbmn": str(int(quote["volume"] * p)), "stck_oprc": _num(base), "stck_hgpr": _num(max(p, base)),
               "stck_lwpr": _num(min(p, base)), "stck_mxpr": _num(base * 1.3), "stck_llam": _num(base * 0.7),
               "stck_sdpr": _num(base), "aspr_unit": "100", "stck_shrn_iscd": code, "temp_stop_yn": "N"}
        return 200, {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다.", "output": out}, {}

    def _chart(self, params: dict[str, str]) -> Any:
        code = params.get("FID_INPUT_ISCD", "")
        start, end = params.get("FID_INPUT_DATE_1", ""), params.get("FID_INPUT_DATE_2", "")
        series = self.daily_bars.get(code)
        if series is None:
            return 200, _fail("APBK0656", "해당 종목정보가 없습니다."), {}
        days = sorted((d for d in series if start <= d <= end), reverse=True)[:100]
        bars = [{"stck_bsop_date": d, "stck_oprc": _num(series[d][0]), "stck_hgpr": _num(series[d][1]),
                 "stck_lwpr": _num(series[d][2]), "stck_clpr": _num(series[d][3]), "acml_vol": str(int(series[d][4])),
                 "flng_cls_code": "00", "mod_yn": "N"} for d in days]
        return 200, {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다.",
                     "output1": {"stck_prpr": bars[0]["stck_clpr"] if bars else "0"}, "output2": bars}, {}

    def _market_accepts(self, ord_dvsn: str) -> bool:
        if self.market_open is not None:
            return self.market_open
        now = self.now_kst()
        if now.weekday() >= 5 or now.date() in self.holidays:
            return False
        windows = {"05": (dtime(8, 30), dtime(8, 40)), "06": (dtime(15, 30), dtime(16, 0)),
                   "07": (dtime(16, 0), dtime(18, 0))}
        lo, hi = windows.get(ord_dvsn, (dtime(8, 30), dtime(15, 30)))
        return lo <= now.time() < hi

    def _next_order_no(self, env: str) -> str:
        self._order_seq += 1
        # Real order numbers are 10-digit zero-padded, paper ones short: both are opaque strings.
        return f"{self._order_seq:010d}" if env == "real" else str(10_000 + self._order_seq)

    def _order_cash(self, app: FakeApp, side: str, tid: str, body: dict[str, str]) -> Any:
        if body.get("CANO") != app.account_no or body.get("ACNT_PRDT_CD") != app.product_code:
            return 200, _fail("OPSQ0013", "계좌번호 오류입니다."), {}
        code, dvsn = body.get("PDNO", ""), body.get("ORD_DVSN", "")
        try:
            qty, price = int(body.get("ORD_QTY", "0")), float(body.get("ORD_UNPR", "0"))
        except ValueError:
            return 200, _fail("APBK0400", "주문수량/단가 오류"), {}
        if code not in self.prices and code not in self.daily_bars:
            return 200, _fail("APBK0656", "해당 종목정보가 없습니다."), {}
        if not self._market_accepts(dvsn):
            return 200, _fail("APBK0919", "장운영시간이 아닙니다."), {}
        if qty <= 0 or (dvsn == "00" and price <= 0):
            return 200, _fail("APBK0400", "주문수량/단가 오류"), {}
        ref = price if dvsn == "00" else self.prices.get(code, {}).get("price", 0.0)
        if side == "buy" and qty * ref > app.cash:
            return 200, _fail("APBK0952", "주문가능금액을 초과 했습니다"), {}
        if side == "sell":
            open_sells = sum(o.remaining for o in self.orders
                             if o.app_key == app.app_key and o.code == code and o.side == "01")
            if qty + open_sells > app.holdings.get(code, [0, 0])[0]:
                return 200, _fail("APBK0400", "주문가능수량을 초과 했습니다"), {}
        order = FakeOrder(order_no=self._next_order_no(app.env), org_no="06590" if app.env == "real" else "00950",
                          app_key=app.app_key, code=code, side="02" if side == "buy" else "01", ord_dvsn=dvsn, qty=qty,
                          price=price, ordered_at=self.now_kst(), tr_id=tid)
        self.orders.append(order)
        self._notify(order)
        if self._drop_orders > 0:
            self._drop_orders -= 1
            return _DROP
        msg = ("모의투자 매수주문이 완료 되었습니다." if side == "buy" else "모의투자 매도주문이 완료 되었습니다."
               ) if app.env == "paper" else "주문 전송 완료 되었습니다."
        return 200, {"rt_cd": "0", "msg_cd": "APBK0013" if app.env == "real" else "40600000", "msg1": msg,
                     "output": {"KRX_FWDG_ORD_ORGNO": order.org_no, "ODNO": order.order_no,
                                "ORD_TMD": order.ordered_at.strftime("%H%M%S")}}, {}

    def _rvsecncl(self, app: FakeApp, body: dict[str, str]) -> Any:
        original = next((o for o in self.orders if o.order_no == body.get("ORGN_ODNO") and o.app_key == app.app_key),
                        None)
        if original is None or original.org_no != body.get("KRX_FWDG_ORD_ORGNO"):
            return 200, _fail("APBK0404", "원주문번호가 존재하지 않습니다."), {}
        if body.get("RVSE_CNCL_DVSN_CD") != "02":
            return 200, _fail("APBK0400", "정정은 지원하지 않습니다 (fake)"), {}
        if not self._market_accepts(original.ord_dvsn):
            return 200, _fail("APBK0919", "장운영시간이 아닙니다."), {}
        qty = original.remaining if body.get("QTY_ALL_ORD_YN") == "Y" else min(int(body.get("ORD_QTY", "0")),
                                                                                original.remaining)
        if qty <= 0:
            return 200, _fail("APBK0914", "정정/취소할 수량이 없습니다."), {}
        original.cancelled_qty += qty
        cancel = FakeOrder(order_no=self._next_order_no(app.env), org_no=original.org_no, app_key=app.app_key,
                           code=original.code, side=original.side, ord_dvsn=original.ord_dvsn, qty=qty,
                           price=original.price, ordered_at=self.now_kst(), tr_id="rvsecncl",
                           original_order_no=original.order_no, is_cancel=True)
        self.orders.append(cancel)
        self._notify(cancel)
        return 200, {"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "주문 전송 완료 되었습니다.",
                     "output": {"KRX_FWDG_ORD_ORGNO": cancel.org_no, "ODNO": cancel.order_no,
                                "ORD_TMD": cancel.ordered_at.strftime("%H%M%S")}}, {}

    def _page(self, kind: str, env: str, rows: list[dict[str, Any]], params: dict[str, str],
              headers: dict[str, str]) -> tuple[list[dict[str, Any]], str, str]:
        size = self.page_sizes[(kind, env)]
        continuing = headers.get("tr_cont") == "N"
        offset = int(params.get("CTX_AREA_NK100") or 0) if continuing else 0
        chunk = rows[offset:offset + size]
        more = offset + size < len(rows)
        tr_cont = ("M" if continuing else "F") if more else ("E" if continuing else "D")
        return chunk, tr_cont, str(offset + size) if more else ""

    def _ccld(self, app: FakeApp, params: dict[str, str], headers: dict[str, str]) -> Any:
        start, end = params.get("INQR_STRT_DT", ""), params.get("INQR_END_DT", "")
        rows = []
        for o in self.orders:
            day = o.ordered_at.strftime("%Y%m%d")
            if o.app_key != app.app_key or not (start <= day <= end):
                continue
            if params.get("PDNO") and params["PDNO"] != o.code:
                continue
            if params.get("SLL_BUY_DVSN_CD") in ("01", "02") and params["SLL_BUY_DVSN_CD"] != o.side:
                continue
            if (params.get("CCLD_DVSN") == "01" and not o.filled) or (
                    params.get("CCLD_DVSN") == "02" and not o.remaining):
                continue
            avg = o.fill_amount / o.filled if o.filled else 0.0
            rows.append({"ord_dt": day, "ord_gno_brno": o.org_no, "odno": o.order_no, "orgn_odno": o.original_order_no,
                         "ord_dvsn_cd": o.ord_dvsn, "sll_buy_dvsn_cd": o.side, "pdno": o.code, "prdt_name": o.code,
                         "ord_qty": str(o.qty), "ord_unpr": _num(o.price), "ord_tmd": o.ordered_at.strftime("%H%M%S"),
                         "tot_ccld_qty": str(o.filled), "avg_prvs": _num(avg), "tot_ccld_amt": _num(o.fill_amount),
                         "rmn_qty": str(o.remaining), "cncl_yn": "Y" if o.is_cancel else "N",
                         "cnc_cfrm_qty": str(o.cancelled_qty), "rjct_qty": str(o.rejected_qty),
                         "excg_id_dvsn_cd": "KRX", "infm_tmd": ""})
        if params.get("INQR_DVSN", "00") == "00":
            rows.reverse()
        chunk, tr_cont, nk = self._page("ccld", app.env, rows, params, headers)
        total_qty = sum(int(r["tot_ccld_qty"]) for r in rows)
        return 200, {"rt_cd": "0", "msg_cd": "KIOK0460", "msg1": "조회 되었습니다.", "output1": chunk,
                     "output2": {"tot_ord_qty": str(sum(int(r["ord_qty"]) for r in rows)),
                                 "tot_ccld_qty": str(total_qty)},
                     "ctx_area_fk100": params.get("CTX_AREA_FK100", ""), "ctx_area_nk100": nk}, {"tr_cont": tr_cont}

    def _balance(self, app: FakeApp, params: dict[str, str], headers: dict[str, str]) -> Any:
        rows = []
        evaluation = 0.0
        for code, (qty, avg) in sorted(app.holdings.items()):
            price = self.prices.get(code, {}).get("price", avg)
            evaluation += qty * price
            rows.append({"pdno": code, "prdt_name": code, "hldg_qty": str(int(qty)), "ord_psbl_qty": str(int(qty)),
                         "pchs_avg_pric": f"{avg:.4f}", "pchs_amt": _num(qty * avg), "prpr": _num(price),
                         "evlu_amt": _num(qty * price), "evlu_pfls_amt": _num(qty * (price - avg))})
        chunk, tr_cont, nk = self._page("balance", app.env, rows, params, headers)
        summary = {"dnca_tot_amt": _num(app.cash), "nxdy_excc_amt": _num(app.cash),
                   "prvs_rcdl_excc_amt": _num(app.cash), "scts_evlu_amt": _num(evaluation),
                   "tot_evlu_amt": _num(app.cash + evaluation)}
        return 200, {"rt_cd": "0", "msg_cd": "20310000", "msg1": "모의투자 조회가 완료되었습니다.", "output1": chunk,
                     "output2": [summary], "ctx_area_fk100": params.get("CTX_AREA_FK100", ""),
                     "ctx_area_nk100": nk}, {"tr_cont": tr_cont}

    # --- WebSocket ---------------------------------------------------------------------------------------
    async def _start_ws(self, env: str) -> Any:
        def process_request(connection: ServerConnection, request: Any) -> Response | None:
            path = urlsplit(request.path).path
            if self.refuse_websockets:
                return connection.respond(503, "unavailable\n")
            if path not in ("/", "/tryitout") and not path.startswith("/tryitout/"):
                return connection.respond(404, "not found\n")
            return None

        async def handler(ws: ServerConnection) -> None:
            await self._session(env, ws)

        return await serve(handler, "127.0.0.1", 0, process_request=process_request, ping_interval=None)

    async def _session(self, env: str, ws: ServerConnection) -> None:
        with self.lock:
            self._session_seq += 1
            sid = self._session_seq
            self.ws_connects += 1
            state: dict[str, Any] = {"ws": ws, "env": env, "subs": set(), "approval": None}
            self._sessions[sid] = state
        pinger = asyncio.create_task(self._ping(ws)) if self.ping_seconds else None
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    continue
                reply = self._ws_message(sid, state, message)
                if reply is not None:
                    await ws.send(reply)
        except Exception:  # a dropped client ends its session, nothing else
            pass
        finally:
            if pinger is not None:
                pinger.cancel()
            with self.lock:
                self._sessions.pop(sid, None)

    async def _ping(self, ws: ServerConnection) -> None:
        assert self.ping_seconds
        while True:
            await asyncio.sleep(self.ping_seconds)
            stamp = self.now_kst().strftime("%Y%m%d%H%M%S")
            await ws.send(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": stamp}}))

    def _ws_message(self, sid: int, state: dict[str, Any], message: str) -> str | None:
        with self.lock:
            try:
                data = json.loads(message)
            except ValueError:
                return None
            header = data.get("header", {})
            if header.get("tr_id") == "PINGPONG":
                self.pingpong_echoes += 1
                return None
            tr = data.get("body", {}).get("input", {})
            tr_id, tr_key, tr_type = str(tr.get("tr_id", "")), str(tr.get("tr_key", "")), str(header.get("tr_type"))

            def control(rt: str, code: str, msg: str, output: dict[str, str] | None = None,
                        encrypt: str = "N") -> str:
                body: dict[str, Any] = {"rt_cd": rt, "msg_cd": code, "msg1": msg}
                if output is not None:
                    body["output"] = output
                return json.dumps({"header": {"tr_id": tr_id, "tr_key": tr_key, "encrypt": encrypt}, "body": body})

            key = str(header.get("approval_key", ""))
            owner = self.apps.get(self.approval_keys.get(key, ""))
            if owner is None or owner.env != state["env"]:
                return control("1", "OPSP0011", "invalid approval : NOT FOUND")
            if any(s is not state and s["approval"] == key for s in self._sessions.values()):
                return control("1", "OPSP8996", "ALREADY IN USE appkey")
            state["approval"] = key
            self.subscribe_log.append((sid, state["env"], tr_type, tr_id, tr_key))
            subs: set[tuple[str, str]] = state["subs"]
            notice = tr_id in ("H0STCNI0", "H0STCNI9")
            if tr_type == "1":
                if (tr_id, tr_key) in subs:
                    return control("0", "OPSP0002", "ALREADY IN SUBSCRIBE")
                if len(subs) >= self.max_subscriptions:
                    return control("1", "OPSP0008", "MAX SUBSCRIBE OVER")
                subs.add((tr_id, tr_key))
                cipher = self._notice_cipher[state["env"]] if notice else (secrets.token_hex(16), secrets.token_hex(8))
                return control("0", "OPSP0000", "SUBSCRIBE SUCCESS", {"iv": cipher[1], "key": cipher[0]},
                               "Y" if notice else "N")
            if tr_type == "2":
                if (tr_id, tr_key) not in subs:
                    return control("1", "OPSP0003", "UNSUBSCRIBE ERROR(not found!)")
                subs.discard((tr_id, tr_key))
                return control("0", "OPSP0001", "UNSUBSCRIBE SUCCESS")
            return control("1", "OPSP0007", f"bad tr_type {tr_type!r}")

    def subscriptions(self, paper: bool) -> set[tuple[str, str]]:
        """Every live (tr_id, tr_key) subscription on that host."""
        env = "paper" if paper else "real"
        with self.lock:
            return {sub for s in self._sessions.values() if s["env"] == env for sub in s["subs"]}

    def live_sessions(self, paper: bool) -> int:
        """Open WebSocket sessions on that host."""
        env = "paper" if paper else "real"
        with self.lock:
            return sum(1 for s in self._sessions.values() if s["env"] == env)

    def _send(self, predicate: Any, frame: str) -> int:
        assert self._loop is not None
        with self.lock:
            targets = [s["ws"] for s in self._sessions.values() if predicate(s)]
        for ws in targets:
            asyncio.run_coroutine_threadsafe(ws.send(frame), self._loop).result(5)
        return len(targets)

    def push_trades(self, code: str, trades: list[Trade], *, paper: bool = True) -> int:
        """Send one (batched) H0STCNT0 frame with these trades to every session subscribed to `code`."""
        records = []
        for trade in trades:
            at = (trade.at or self.clock or datetime.now(UTC)).astimezone(KST)
            fields = [""] * 46
            fields[0], fields[1], fields[2] = code, at.strftime("%H%M%S"), _num(trade.price)
            fields[3], fields[4], fields[5] = "2", "0", "0.00"
            fields[7] = fields[8] = fields[9] = _num(trade.price)
            fields[12], fields[13] = str(trade.volume), str(trade.volume)
            fields[33], fields[34], fields[35] = at.strftime("%Y%m%d"), "20", "N"
            records.extend(fields)
        frame = f"0|H0STCNT0|{len(trades):03d}|" + "^".join(records)
        env = "paper" if paper else "real"
        return self._send(lambda s: s["env"] == env and ("H0STCNT0", code) in s["subs"], frame)

    def drop_websockets(self) -> int:
        """Abort every live WebSocket (the client sees 1006, no close frame)."""
        assert self._loop is not None
        with self.lock:
            targets = [s["ws"] for s in self._sessions.values()]
        for ws in targets:
            self._loop.call_soon_threadsafe(ws.transport.abort)
        return len(targets)

    def _notify(self, order: FakeOrder, *, fill_qty: int = 0, fill_price: float = 0.0, rejected: bool = False) -> None:
        app = self.apps[order.app_key]
        tr_id = "H0STCNI9" if app.env == "paper" else "H0STCNI0"
        is_fill = fill_qty > 0
        qty = fill_qty if is_fill else order.qty
        price = fill_price if is_fill else order.price
        fields = [app.hts_id, app.account_no + app.product_code, order.order_no, order.original_order_no, order.side,
                  "2" if order.is_cancel else "0", order.ord_dvsn, "0", order.code, str(qty), _num(price),
                  order.ordered_at.strftime("%H%M%S") if not is_fill else self.now_kst().strftime("%H%M%S"),
                  "1" if rejected else "0", "2" if is_fill else "1", "2" if is_fill else "1", order.org_no,
                  str(order.qty), "fake", "", "1", "N", "", "10", "", order.code, _num(order.price),
                  *self.notice_extra_fields]
        key, iv = self._notice_cipher[app.env]
        frame = f"1|{tr_id}|001|{encrypt_notice('^'.join(fields), key, iv)}"
        self.notice_frames.append(frame)
        if self._loop is None:
            return
        with self.lock:
            targets = [s["ws"] for s in self._sessions.values()
                       if s["env"] == app.env and (tr_id, app.hts_id) in s["subs"]]
        for ws in targets:
            asyncio.run_coroutine_threadsafe(ws.send(frame), self._loop)


def _fail(code: str, msg: str) -> dict[str, str]:
    return {"rt_cd": "1", "msg_cd": code, "msg1": msg}


def _num(value: float) -> str:
    return str(round(value)) if float(value).is_integer() or abs(value) >= 1000 else f"{value:.2f}"


@contextmanager
def running_fake() -> Iterator[FakeKis]:
    """A started FakeKis, stopped at the end."""
    fake = FakeKis().start()
    try:
        yield fake
    finally:
        fake.stop()
