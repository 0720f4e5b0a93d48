"""A small, fast HTTP/1.1 client for many POSTs over pooled keep-alive connections (asyncio + httptools)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
import socket
import ssl
import string
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import quote, unquote, urlsplit

import httptools

__all__ = ["IncompleteResponseError", "Resolver", "Response", "post_many", "resolve_addresses"]

# A receiver still sending after this many body bytes is hostile or broken: keep the prefix and hang up.
_DRAIN_LIMIT = 64 * 1024
# Likewise for the status line and headers, which httptools would otherwise buffer without bound.
_HEAD_LIMIT = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST = re.compile(r"[A-Za-z0-9.\-_:%]+")
_SET_BY_CLIENT = frozenset({"host", "content-length", "transfer-encoding"})
# Only bytes that cannot appear in a request line are escaped; what the caller already escaped stays as it is.
_TARGET_SAFE = string.punctuation
# Drop the remaining sockets after this long at the end of a call rather than hang on a stuck close.
_CLOSE_WAIT = 1.0

_OriginKey = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Response:
    """A final response: status, headers (lower-cased names, repeats joined) and at most `body_limit` body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


class Resolver(Protocol):
    """Async (host, port) -> IP addresses to try in order; raises (e.g. OSError) when none is allowed."""

    async def __call__(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, in order."""


class IncompleteResponseError(ConnectionError):
    """The connection closed, or the response was malformed, before a complete response arrived."""


async def resolve_addresses(host: str, port: int) -> list[str]:
    """The default resolver: the host's addresses from the system resolver, each once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the system CA store costs milliseconds: once per process, not once per call.
    return ssl.create_default_context()


def _check_value(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"{what} contains CR, LF or NUL: {value!r}")


@functools.lru_cache(maxsize=1024)
def _header_name(name: str) -> str:
    """The lower-cased header name, or ValueError when it is no token or is one the client sets itself."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    lower = name.lower()
    if lower in _SET_BY_CLIENT:
        raise ValueError(f"header {name!r} is set by the client")
    return lower


class _Origin:
    __slots__ = ("addresses", "host", "idle", "lookup", "port", "ssl")

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl_context
        self.idle: dict[_Conn, None] = {}  # insertion-ordered: popitem() gives the most recently used
        self.addresses: list[str] | None = None
        self.lookup: asyncio.Task[list[str]] | None = None


# (origin, "POST {target} HTTP/1.1\r\nHost: ...\r\n", Authorization line from the URL's userinfo or "")
_Target = tuple[_Origin, str, str]


class _Conn(asyncio.Protocol):
    """One connection: parses responses with a single httptools parser and hands each to the waiting request."""

    __slots__ = ("body", "client", "dead", "framed", "got_bytes", "head_bytes", "headers", "headers_done", "keep",
                 "limit",
                 "origin", "parser", "received", "status", "transport", "waiter")

    def __init__(self, client: _Client, origin: _Origin) -> None:
        self.client = client
        self.origin = origin
        self.limit = client.body_limit
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.dead = False
        self.keep = True
        self.got_bytes = False
        self.head_bytes = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.received = 0
        self.headers_done = False
        self.framed = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection as open."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses
        self.client.open += 1
        self.client.live.add(self)

    def data_received(self, data: bytes) -> None:
        """Feed response bytes to the parser."""
        if self.waiter is None:
            # Bytes nobody asked for (no request outstanding): the connection's framing cannot be trusted.
            self.abort()
            return
        self.got_bytes = True
        in_head = not self.headers_done or self.status < 200
        if in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(IncompleteResponseError(f"malformed HTTP response: {exc or type(exc).__name__}"))
            return
        if in_head and self.head_bytes > _HEAD_LIMIT and (not self.headers_done or self.status < 200):
            self._fail(IncompleteResponseError(f"response headers exceed {_HEAD_LIMIT} bytes"))
        elif self.received > _DRAIN_LIMIT:
            self._complete(keep=False)
            self.abort()

    def eof_received(self) -> bool:
        """The server finished sending: end an EOF-delimited response, fail an unfinished one."""
        self._ended(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Settle any outstanding request and forget the connection."""
        self._ended(exc)
        client = self.client
        client.live.discard(self)
        if not client.live and client.drained is not None and not client.drained.done():
            client.drained.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        """Start a fresh message (an interim 1xx response is simply replaced by the final one)."""
        if self.waiter is None:
            self.keep = False
        self.status = 0
        self.headers = {}
        self.body = bytearray()
        self.received = 0
        self.headers_done = False
        self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        """Collect one header, joining repeats with ", "."""
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        """Note the status and whether the body has its own framing (else it runs to EOF)."""
        self.status = self.parser.get_status_code()
        self.headers_done = True
        headers = self.headers
        self.framed = "content-length" in headers or headers.get("transfer-encoding", "").lower().endswith("chunked")

    def on_body(self, data: bytes) -> None:
        """Keep the body's prefix and count the rest."""
        have = len(self.body)
        limit = self.limit
        if have < limit:
            self.body += data[: limit - have]
        self.received += len(data)

    def on_message_complete(self) -> None:
        """Hand a final response to the waiting request."""
        if 100 <= self.status < 200:
            return  # an interim response (100 Continue, 103 Early Hints): the final one follows
        self._complete(keep=self.parser.should_keep_alive())

    # our own

    def begin(self, waiter: asyncio.Future[Response]) -> None:
        """Expect the response to a request about to be written."""
        self.waiter = waiter
        self.got_bytes = False
        self.head_bytes = 0
        self.headers_done = False

    def abort(self) -> None:
        """Close now, without reuse."""
        self._mark_dead()
        if self.transport is not None:
            self.transport.abort()

    def _mark_dead(self) -> None:
        self.keep = False
        if not self.dead:
            self.dead = True
            if self.transport is not None:
                self.client.open -= 1
            self.origin.idle.pop(self, None)
            self.client.idle.pop(self, None)

    def _complete(self, keep: bool) -> None:
        waiter, self.waiter = self.waiter, None
        if not keep:
            self.keep = False
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.status, self.headers, bytes(self.body)))

    def _fail(self, exc: Exception, abort: bool = True) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if abort:
            self.abort()

    def _ended(self, exc: Exception | None) -> None:
        self._mark_dead()
        if self.waiter is None:
            return
        if exc is None and self.headers_done and self.status >= 200 and not self.framed:
            self._complete(keep=False)
            return
        if isinstance(exc, OSError):
            error: Exception = exc
        elif self.got_bytes:
            error = IncompleteResponseError("connection closed before the response was complete")
        else:
            error = IncompleteResponseError("connection closed before any response arrived")
        if exc is not None and error is not exc:
            error.__cause__ = exc
        self._fail(error, abort=False)


class _Client:
    """The state of one post_many call: origins, pools, limits and caches."""

    def __init__(self, *, timeout: float, resolve: Resolver, per_origin: int, total: int, body_limit: int,
                 user_agent: str | None, ssl_context: ssl.SSLContext | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.resolve = resolve
        self.per_origin = per_origin
        self.total = total
        self.body_limit = body_limit
        self.ua_line = "" if user_agent is None else f"User-Agent: {user_agent}\r\n"
        self.ssl_context = ssl_context
        self.slots: asyncio.Semaphore | None = None
        self.origins: dict[_OriginKey, _Origin] = {}
        self.idle: dict[_Conn, None] = {}  # every origin's idle connections, oldest first
        self.live: set[_Conn] = set()  # connected and not yet lost
        self.open = 0  # connected, not lost and not being closed by us
        self.drained: asyncio.Future[None] | None = None

    async def run(self, requests: Sequence[tuple[str, bytes, Mapping[str, str]]]) -> list[Response | Exception]:
        """Every request's outcome, in order."""
        results: list[Response | Exception | None] = [None] * len(requests)
        queues: dict[_Origin, deque[tuple[int, _Target, bytes, Mapping[str, str]]]] = {}
        for index, (url, body, headers) in enumerate(requests):
            try:
                target = self._parse_url(url)
            except Exception as exc:
                results[index] = exc
                continue
            queue = queues.get(target[0])
            if queue is None:
                queue = queues[target[0]] = deque()
            queue.append((index, target, body, headers))
        # Per origin, as many workers as it may have connections: a queued request holds no task and no slot.
        workers = [self._work(queue, results) for queue in queues.values()
                   for _ in range(min(self.per_origin, len(queue)))]
        if len(workers) > self.total:
            self.slots = asyncio.Semaphore(self.total)
        await asyncio.gather(*workers)
        return cast(list[Response | Exception], results)

    async def _work(self, queue: deque[tuple[int, _Target, bytes, Mapping[str, str]]],
                    results: list[Response | Exception | None]) -> None:
        while queue:
            index, target, body, headers = queue.popleft()
            try:
                data = self._request(target, body, headers)
                if self.slots is None:
                    async with asyncio.timeout(self.timeout):
                        results[index] = await self._exchange(target[0], data)
                else:
                    async with self.slots, asyncio.timeout(self.timeout):
                        results[index] = await self._exchange(target[0], data)
            except Exception as exc:
                results[index] = exc

    def _request(self, target: _Target, body: bytes, headers: Mapping[str, str]) -> bytes:
        _origin, prefix, auth_line = target
        lines = []
        ua_line = self.ua_line
        for name, value in headers.items():
            lower = _header_name(name)
            _check_value(value, f"header {name!r} value")
            if lower == "user-agent":
                ua_line = ""
            elif lower == "authorization":
                auth_line = ""
            lines.append(f"{name}: {value}\r\n")
        head = f"{prefix}Content-Length: {len(body)}\r\n{ua_line}{auth_line}{''.join(lines)}\r\n"
        return head.encode("latin-1") + body

    def _parse_url(self, url: str) -> _Target:
        """The origin, the request line and Host header, and any Authorization line from userinfo."""
        scheme, host, port, request_head, auth_line = _split_url(url)
        key = (scheme, host, port)
        origin = self.origins.get(key)
        if origin is None:
            tls = (self.ssl_context or _default_ssl_context()) if scheme == "https" else None
            origin = self.origins[key] = _Origin(host, port, tls)
        return origin, request_head, auth_line

    async def _exchange(self, origin: _Origin, data: bytes) -> Response:
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._send(conn, data)
            except OSError:
                if conn.got_bytes:
                    raise
                # Nothing came back on a reused connection: most likely the server closed it while idle.
        return await self._send(await self._connect(origin), data)

    def _take_idle(self, origin: _Origin) -> _Conn | None:
        idle = origin.idle
        while idle:
            conn, _ = idle.popitem()
            del self.idle[conn]
            if conn.transport is not None and not conn.transport.is_closing():
                return conn
            conn.abort()
        return None

    async def _send(self, conn: _Conn, data: bytes) -> Response:
        waiter: asyncio.Future[Response] = self.loop.create_future()
        conn.begin(waiter)
        try:
            assert conn.transport is not None
            conn.transport.write(data)
            response = await waiter
        except RuntimeError as exc:  # uvloop: writing to a transport that has just closed
            conn.abort()
            raise ConnectionResetError(f"connection closed: {exc}") from exc
        except BaseException:
            conn.abort()
            raise
        if conn.keep and not conn.dead:
            conn.origin.idle[conn] = None
            self.idle[conn] = None
        else:
            conn.abort()
        return response

    async def _connect(self, origin: _Origin) -> _Conn:
        addresses = origin.addresses
        if addresses is None:
            if origin.lookup is None:
                origin.lookup = self.loop.create_task(self._lookup(origin))
            # Shielded: one request timing out must not cancel the lookup the others share.
            addresses = await asyncio.shield(origin.lookup)
        while self.open >= self.total and self.idle:
            next(iter(self.idle)).abort()  # make room: close the longest-idle connection of any origin
        error: OSError = OSError(f"no address to connect to for {origin.host}")
        for address in addresses:
            conn = _Conn(self, origin)
            try:
                await self.loop.create_connection(functools.partial(_same, conn), address, origin.port,
                                                  ssl=origin.ssl,
                                                  server_hostname=origin.host if origin.ssl else None)
            except OSError as exc:
                error = exc
                continue
            return conn
        raise error

    async def _lookup(self, origin: _Origin) -> list[str]:
        addresses = list(await self.resolve(origin.host, origin.port))
        if not addresses:
            raise OSError(f"{origin.host} resolved to no addresses")
        origin.addresses = addresses
        return addresses

    async def close(self) -> None:
        """Close every connection and wait (briefly) until each is gone."""
        lookups = [o.lookup for o in self.origins.values() if o.lookup is not None and not o.lookup.done()]
        for task in lookups:
            task.cancel()
        for conn in list(self.live):
            conn.abort()
        if self.live:
            self.drained = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT):
                    await self.drained
        if lookups:
            await asyncio.wait(lookups, timeout=_CLOSE_WAIT)


@functools.lru_cache(maxsize=65_536)
def _split_url(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, request line + Host header, Authorization line or "") of a URL; ValueError if bad.

    Cached: a sender posts to the same subscribers' URLs signal after signal, and parsing is a tenth of a request."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise ValueError(f"unsupported URL scheme {scheme!r} (only http and https): {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    if not _HOST.fullmatch(host):
        raise ValueError(f"invalid host {host!r} in URL")
    port = parts.port  # ValueError for a non-numeric or out-of-range port
    if port == 0:
        raise ValueError(f"invalid port 0 in URL: {url!r}")
    host_header = f"[{host}]" if ":" in host else host
    if port is not None and port != default_port:
        host_header = f"{host_header}:{port}"
    port = port or default_port
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if not target.isascii() or not target.isprintable() or " " in target:
        target = quote(target, safe=_TARGET_SAFE)
    auth_line = ""
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth_line = f"Authorization: Basic {base64.b64encode(credentials).decode('ascii')}\r\n"
    return scheme, host, port, f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\n", auth_line


def _same(conn: _Conn) -> _Conn:
    return conn


# `timeout` bounds each request, not the call, so a caller's asyncio.timeout could not replace it.
async def post_many(requests: Sequence[tuple[str, bytes, Mapping[str, str]]], *, timeout: float,  # noqa: ASYNC109
                    resolve: Resolver | None = None, per_origin: int = 32, total: int = 100,
                    body_limit: int = 300, user_agent: str | None = None,
                    ssl_context: ssl.SSLContext | None = None) -> list[Response | Exception]:
    """POST each (url, body, headers) concurrently over pooled keep-alive connections; results in order."""
    if per_origin < 1 or total < 1 or body_limit < 0:
        raise ValueError("per_origin and total must be at least 1, body_limit at least 0")
    if user_agent is not None:
        _check_value(user_agent, "user_agent")
        user_agent.encode("latin-1")
    if not requests:
        return []
    client = _Client(timeout=timeout, resolve=resolve or resolve_addresses, per_origin=per_origin, total=total,
                     body_limit=body_limit, user_agent=user_agent, ssl_context=ssl_context)
    try:
        return await client.run(requests)
    finally:
        await client.close()
