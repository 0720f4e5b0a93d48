"""A fake Yahoo Finance chart API on loopback that replays recorded real responses over real HTTP.

Routing: `GET /v8/finance/chart/<SYMBOL>?period1=&period2=&interval=&includePrePost=` is answered with the
recording (from `tests/fixtures/yahoo/index.json`) of the same symbol, interval, period1 and period2, with
the recorded HTTP status and body. `includePrePost` must match too for intraday recordings (it changes
which bars Yahoo returns); Yahoo ignores it for daily bars, so it is not compared there. `events`, `lang`
and `useYfid` are not compared. When several recordings match, the most recently recorded one wins (the
symbol's latest known state: SI answered 200 in 2021 and 404 "may be delisted" in 2024).

A request no recording matches gets HTTP 400 with a chart error whose code is `FakeYahoo`, so a test that
asks for something not recorded fails loudly instead of silently looking like Yahoo's answer.

Faults are programmable (429 with Retry-After, 5xx, hangs, malformed JSON) and every request is logged,
so tests can assert batching, rate limiting and backoff from the server's point of view.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "yahoo"
CHART_PREFIX = "/v8/finance/chart/"

FaultKind = Literal["status", "hang", "malformed"]


@dataclass(frozen=True)
class Recording:
    """One recorded Yahoo chart response and the request it answered."""

    file: str
    symbol: str
    interval: str
    period1: int
    period2: int
    include_prepost: bool
    status: int
    recorded: float  # epoch seconds of the recording's Date header
    body: bytes

    def matches(self, symbol: str, query: dict[str, str]) -> bool:
        """Whether this recording answers a chart request for `symbol` with `query`."""
        try:
            period1, period2 = int(query["period1"]), int(query["period2"])
        except (KeyError, ValueError):
            return False
        interval = query.get("interval", "1d")
        if (symbol, interval, period1, period2) != (self.symbol, self.interval, self.period1, self.period2):
            return False
        if interval == "1d":
            return True
        return _flag(query.get("includePrePost", "false")) == self.include_prepost


@dataclass
class Fault:
    """A programmed misbehaviour for chart requests (of one symbol, or of all when `symbol` is None)."""

    kind: FaultKind
    symbol: str | None = None
    times: int | None = 1  # None = forever
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0  # for "hang"


@dataclass
class LoggedRequest:
    """A request the fake received (logged on arrival), and how it answered once it has."""

    at: float  # time.monotonic() when the request arrived
    path: str
    symbol: str | None
    query: dict[str, str]
    headers: dict[str, str]
    status: int | None = None  # None while the answer is pending (e.g. hanging)
    file: str | None = None  # recording served, if any
    fault: FaultKind | None = None


def _flag(value: str) -> bool:
    return value.lower() in ("true", "1")


@cache
def load_recordings() -> tuple[Recording, ...]:
    """Every recorded chart response listed in the fixtures' index."""
    entries = json.loads((FIXTURES / "index.json").read_text())
    recordings = []
    for entry in entries:
        url = urlsplit(entry["url"])
        if not url.path.startswith(CHART_PREFIX):
            continue
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        recordings.append(Recording(
            file=entry["file"],
            symbol=unquote(url.path[len(CHART_PREFIX):]),
            interval=query.get("interval", "1d"),
            period1=int(query["period1"]),
            period2=int(query["period2"]),
            include_prepost=_flag(query.get("includePrePost", "false")),
            status=int(entry["http_status"]),
            recorded=parsedate_to_datetime(entry["recorded"]).timestamp(),
            body=(FIXTURES / entry["file"]).read_bytes(),
        ))
    return tuple(recordings)


def recording(file: str) -> Recording:
    """The recording stored in `file` (a path relative to the fixtures directory, or its name)."""
    for rec in load_recordings():
        if file in (rec.file, Path(rec.file).name):
            return rec
    raise KeyError(file)


def recorded_json(file: str) -> dict:
    """The parsed body of a recording, to compare a client's output with what Yahoo sent."""
    return json.loads(recording(file).body)


class FakeYahoo:
    """A real HTTP server on 127.0.0.1 (ephemeral port) replaying recorded Yahoo chart responses."""

    def __init__(self, recordings: tuple[Recording, ...] | None = None) -> None:
        self._recordings = load_recordings() if recordings is None else recordings
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._pinned: dict[str, Recording] = {}
        self._log: list[LoggedRequest] = []
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-yahoo", daemon=True)

    @property
    def base_url(self) -> str:
        """Scheme, host and port to use as the Yahoo base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeYahoo:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging responses are released."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeYahoo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming ---------------------------------------------------------------------------------

    def pin(self, symbol: str, file: str) -> None:
        """Answer every chart request for `symbol` with the recording in `file`, whatever the query."""
        with self._lock:
            self._pinned[symbol] = recording(file)

    def rate_limit(self, times: int = 1, retry_after: str | None = "1", symbol: str | None = None) -> None:
        """Answer the next `times` chart requests with HTTP 429 (Yahoo's text body), with Retry-After."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._add(Fault("status", symbol, times, 429, headers, b"Too Many Requests\r\n"))

    def fail(self, status: int = 500, times: int | None = 1, symbol: str | None = None,
             body: bytes = b"Internal Server Error") -> None:
        """Answer the next `times` chart requests (None = all) with `status` and `body`."""
        self._add(Fault("status", symbol, times, status, {}, body))

    def hang(self, seconds: float, times: int | None = 1, symbol: str | None = None) -> None:
        """Delay the next `times` chart responses by `seconds` (then answer normally)."""
        self._add(Fault("hang", symbol, times, seconds=seconds))

    def malformed(self, times: int | None = 1, symbol: str | None = None) -> None:
        """Answer the next `times` chart requests with HTTP 200 and a truncated JSON body."""
        self._add(Fault("malformed", symbol, times, 200))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, symbol: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.symbol in (None, symbol) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- inspection ----------------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def chart_requests(self, symbol: str | None = None) -> list[LoggedRequest]:
        """Chart requests received so far (for one symbol, or all)."""
        return [r for r in self.requests if r.symbol is not None and symbol in (None, r.symbol)]

    def _record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    # -- answering -----------------------------------------------------------------------------------

    def _route(self, symbol: str, query: dict[str, str]) -> Recording | None:
        with self._lock:
            pinned = self._pinned.get(symbol)
        if pinned is not None:
            return pinned
        candidates = [rec for rec in self._recordings if rec.matches(symbol, query)]
        return max(candidates, key=lambda rec: rec.recorded, default=None)

    def answer(self, symbol: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes, str | None,
                                                                   FaultKind | None]:
        """Status, headers, body, recording file and fault for a chart request."""
        fault = self._take_fault(symbol)
        if fault is not None and fault.kind == "status":
            headers = {"Content-Type": "text/plain;charset=utf-8", **fault.headers}
            return fault.status, headers, fault.body, None, "status"
        if fault is not None and fault.kind == "hang":
            self._stopping.wait(fault.seconds)
        rec = self._route(symbol, query)
        if rec is None:
            wanted = {k: query.get(k) for k in ("interval", "period1", "period2", "includePrePost")}
            error = {"code": "FakeYahoo", "description": f"no recording for {symbol} {wanted}"}
            body = json.dumps({"chart": {"result": None, "error": error}}).encode()
            return 400, {"Content-Type": "application/json"}, body, None, fault.kind if fault else None
        body = rec.body
        if fault is not None and fault.kind == "malformed":
            body = body[: max(1, len(body) // 2)]
        return rec.status, {"Content-Type": "application/json;charset=utf-8"}, body, rec.file, (
            fault.kind if fault else None)


def _handler_for(fake: FakeYahoo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Yahoo's front end speaks

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            is_chart = url.path.startswith(CHART_PREFIX) and len(url.path) > len(CHART_PREFIX)
            symbol = unquote(url.path[len(CHART_PREFIX):]) if is_chart else None
            entry = LoggedRequest(time.monotonic(), url.path, symbol, query, dict(self.headers.items()))
            fake._record(entry)
            if symbol is not None:
                status, headers, body, entry.file, entry.fault = fake.answer(symbol, query)
            else:
                status, headers, body = 404, {"Content-Type": "text/plain"}, b"Not Found"
            entry.status = status
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired while we hung)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the request log above is the record; keep test output clean

    return Handler
