"""The HTTP/1.1 POST client against real loopback servers, including ones that misbehave on purpose."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from signalhub.core.http1 import IncompleteResponseError, Response, _Client, post_many, resolve_addresses
from tests.fakes.smtp import make_self_signed_cert


@pytest.fixture(scope="session")
def migrated_database() -> Iterator[None]:
    """No database here: this overrides the suite-wide migration for this module."""
    yield


@pytest.fixture
def clean_state() -> Iterator[None]:
    """No database or broker state to clean for this module."""
    yield


@dataclass
class Req:
    """One request as the server read it."""

    conn: int  # which accepted connection (0-based) it came on
    line: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive)."""
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


# (request, writer) -> whether to keep reading requests on this connection
Respond = Callable[[Req, asyncio.StreamWriter], Awaitable[bool]]


def ok(body: bytes = b"ok", status: int = 200, extra: str = "") -> bytes:
    """A Content-Length response."""
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def answer_ok(req: Req, writer: asyncio.StreamWriter) -> bool:
    """200 "ok" on a keep-alive connection."""
    writer.write(ok())
    return True


class Server:
    """A raw asyncio HTTP/1.1 server on 127.0.0.1 whose answers are whatever `respond` writes."""

    def __init__(self, respond: Respond = answer_ok, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.tls = tls
        self.requests: list[Req] = []
        self.connections = 0
        self.open = 0  # connections not yet closed by the client
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        """Base URL, no trailing slash."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        index = self.connections
        self.connections += 1
        self.open += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                line, *lines = head[:-4].decode("latin-1").split("\r\n")
                headers = [(n, v.strip()) for n, v in (x.split(":", 1) for x in lines)]
                req = Req(index, line, headers, b"")
                req.body = await reader.readexactly(int(req.header("content-length") or 0))
                self.requests.append(req)
                keep = await self.respond(req, writer)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # Ended by __aexit__: finishing normally spares Python 3.12.1's stream callback a CancelledError.
            return
        finally:
            self.open -= 1
            writer.close()


def run(coro: Coroutine[Any, Any, Any], runner: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run) -> Any:
    """Run `coro` on a fresh loop and fail on any unclosed socket or transport it left behind."""
    gc.collect()  # what earlier tests left for the collector (a database connection, say) is not ours
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = runner(coro)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
             and any(word in str(w.message) for word in ("socket", "transport", "event loop"))]
    assert not leaks, leaks
    return result


def response(result: Response | Exception) -> Response:
    """The result, asserted to be a Response."""
    assert isinstance(result, Response), repr(result)
    return result


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _many_posts_reuse_connections() -> None:
    async def echo(req: Req, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.001)  # so requests overlap and the pool has to open several connections
        writer.write(ok(req.header("x-id").encode() + b":" + req.body))  # type: ignore[union-attr]
        return True

    async with Server(echo) as server:
        requests = [(f"{server.url}/hook/{i}", f"body-{i}".encode() * (i % 7 + 1), {"X-Id": str(i)})
                    for i in range(300)]
        results = await post_many(requests, timeout=5, per_origin=8)
        assert 1 < server.connections <= 8
        assert len(server.requests) == 300
        for i, result in enumerate(results):
            assert response(result).body == f"{i}:".encode() + f"body-{i}".encode() * (i % 7 + 1)
        seen = {req.header("x-id"): req for req in server.requests}
        for i in range(300):
            assert seen[str(i)].line == f"POST /hook/{i} HTTP/1.1"
            assert seen[str(i)].body == requests[i][1]


def test_many_posts_reuse_a_few_keep_alive_connections() -> None:
    run(_many_posts_reuse_connections())


def test_many_posts_under_uvloop() -> None:
    run(_many_posts_reuse_connections(), runner=uvloop.run)


def test_request_arrives_exactly_as_sent() -> None:
    async def main() -> None:
        async with Server() as server:
            headers = {"Content-Type": "application/json", "webhook-signature": "v1,abc= def/+=",
                       "X-Empty": "", "X-Unicode-Free": "ä-latin1"}
            results = await post_many([(f"{server.url}/a/b?x=1&y=%20z", b'{"k": 1}', headers),
                                       (f"{server.url}", b"", {})],
                                      timeout=5, user_agent="signalhub-test/1")
            assert [response(r).status for r in results] == [200, 200]
        first, second = sorted(server.requests, key=lambda r: r.line != "POST /a/b?x=1&y=%20z HTTP/1.1")
        assert first.line == "POST /a/b?x=1&y=%20z HTTP/1.1"
        assert first.headers == [("Host", f"127.0.0.1:{server.port}"), ("Content-Length", "8"),
                                 ("User-Agent", "signalhub-test/1"), ("Content-Type", "application/json"),
                                 ("webhook-signature", "v1,abc= def/+="), ("X-Empty", ""),
                                 ("X-Unicode-Free", "ä-latin1")]
        assert first.body == b'{"k": 1}'
        assert second.line == "POST / HTTP/1.1"
        assert second.header("content-length") == "0" and second.body == b""
        assert all(req.header("expect") is None for req in server.requests)

    run(main())


def test_every_connection_is_closed_when_the_call_returns() -> None:
    async def main() -> None:
        async with Server() as a, Server() as b:
            results = await post_many([(s.url, b"x", {}) for s in (a, b)] * 50, timeout=5, per_origin=4)
            assert all(response(r).status == 200 for r in results)
            assert a.connections > 0 and b.connections > 0
            for _ in range(100):
                if a.open == b.open == 0:
                    break
                await asyncio.sleep(0.01)
            assert a.open == b.open == 0

    run(main())


def test_host_header_omits_only_default_ports() -> None:
    async def main() -> list[bytes]:
        client = _Client(timeout=1, resolve=resolve_addresses, per_origin=1, total=1, body_limit=1, user_agent=None,
                         ssl_context=None)
        urls = ["http://h.example/", "http://h.example:80/a", "https://h.example:443", "https://h.example:80/?q",
                "http://[2001:db8::1]/", "http://[2001:db8::1]:8080/"]
        return [client._request(client._parse_url(url), b"", {}) for url in urls]

    heads = run(main())
    assert heads == [b"POST / HTTP/1.1\r\nHost: h.example\r\nContent-Length: 0\r\n\r\n",
                     b"POST /a HTTP/1.1\r\nHost: h.example\r\nContent-Length: 0\r\n\r\n",
                     b"POST / HTTP/1.1\r\nHost: h.example\r\nContent-Length: 0\r\n\r\n",
                     b"POST /?q HTTP/1.1\r\nHost: h.example:80\r\nContent-Length: 0\r\n\r\n",
                     b"POST / HTTP/1.1\r\nHost: [2001:db8::1]\r\nContent-Length: 0\r\n\r\n",
                     b"POST / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nContent-Length: 0\r\n\r\n"]


def test_host_header_shapes() -> None:
    async def main() -> None:
        async with Server() as server:
            async def to_server(host: str, port: int) -> list[str]:
                return ["127.0.0.1"]

            # Every host resolves to the test server; the Host header shows what the client made of each URL.
            p = server.port
            results = await post_many([(f"http://Example.Invalid:{p}/x", b"", {}),
                                       (f"http://user:p%40ss@example.invalid:{p}/y", b"", {}),
                                       (f"http://[::1]:{p}/z", b"", {}),
                                       (f"http://example.invalid:{p}/caf\u00e9 x?q=\u00e9", b"", {})],
                                      timeout=5, resolve=to_server, per_origin=1)
            assert all(response(r).status == 200 for r in results)
        by_path = {req.line.split()[1]: req for req in server.requests}
        assert by_path["/x"].header("host") == f"example.invalid:{p}"
        assert by_path["/y"].header("authorization") == "Basic dXNlcjpwQHNz"  # user:p@ss
        assert by_path["/z"].header("host") == f"[::1]:{p}"
        assert "/caf%C3%A9%20x?q=%C3%A9" in by_path

    run(main())


def test_status_headers_and_body_prefix_are_returned() -> None:
    async def teapot(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(b"x" * 1000, status=418, extra="Set-Cookie: a=1\r\nX-Mixed-Case: Yes\r\nset-cookie: b=2\r\n"))
        return True

    async def main() -> None:
        async with Server(teapot) as server:
            results = await post_many([(server.url, b"", {})] * 3, timeout=5, body_limit=10)
        for result in results:
            r = response(result)
            assert r.status == 418
            assert r.body == b"x" * 10
            assert r.headers == {"content-length": "1000", "set-cookie": "a=1, b=2", "x-mixed-case": "Yes"}

    run(main())


def test_chunked_response_over_keep_alive() -> None:
    async def chunked(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return True

    async def main() -> None:
        async with Server(chunked) as server:
            results = await post_many([(server.url, b"a", {})] * 5, timeout=5, per_origin=1)
            assert [response(r).body for r in results] == [b"hello world"] * 5
            assert server.connections == 1

    run(main())


def test_content_length_response_split_across_writes() -> None:
    async def slow(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 201 Created\r\nContent-")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"Length: 7\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"defg")
        return True

    async def main() -> None:
        async with Server(slow) as server:
            results = await post_many([(server.url, b"a", {})] * 2, timeout=5, per_origin=1)
            assert [(response(r).status, response(r).body) for r in results] == [(201, b"abcdefg")] * 2
            assert server.connections == 1

    run(main())


def test_response_without_length_ends_at_close_and_is_not_reused() -> None:
    async def until_close(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"it")
        return False

    async def main() -> None:
        async with Server(until_close) as server:
            results = await post_many([(server.url, b"a", {})] * 3, timeout=5, per_origin=1)
            assert [response(r).body for r in results] == [b"all of it"] * 3
            assert server.connections == 3

    run(main())


def test_connection_close_response_is_not_reused() -> None:
    async def closing(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok(extra="Connection: close\r\n"))
        return True  # the server would keep reading; the client must still not send again on this connection

    async def main() -> None:
        async with Server(closing) as server:
            results = await post_many([(server.url, b"a", {})] * 3, timeout=5, per_origin=1)
            assert all(response(r).status == 200 for r in results)
            assert server.connections == 3
            assert [req.conn for req in server.requests] == [0, 1, 2]

    run(main())


def test_idle_connection_closed_by_server_is_retried_once_on_a_new_one() -> None:
    answered: set[int] = set()

    async def one_per_connection(req: Req, writer: asyncio.StreamWriter) -> bool:
        if req.conn in answered:
            # Simulates the race: the server closed the idle connection just as the client reused it.
            return False
        answered.add(req.conn)
        writer.write(ok(req.line.encode()))
        return True

    async def main() -> None:
        async with Server(one_per_connection) as server:
            results = await post_many([(f"{server.url}/1", b"a", {}), (f"{server.url}/2", b"b", {})],
                                      timeout=5, per_origin=1)
            assert [response(r).body for r in results] == [b"POST /1 HTTP/1.1", b"POST /2 HTTP/1.1"]
            assert [(req.conn, req.line) for req in server.requests] == [
                (0, "POST /1 HTTP/1.1"), (0, "POST /2 HTTP/1.1"), (1, "POST /2 HTTP/1.1")]

    run(main())


def test_idle_connection_closed_before_reuse_opens_a_new_one() -> None:
    async def close_after_answer(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok())
        return False  # keep-alive in the headers, but the server hangs up right after

    async def main() -> None:
        async with Server(close_after_answer) as server:
            first = await post_many([(server.url, b"a", {}), (server.url, b"b", {})], timeout=5, per_origin=1)
            assert all(response(r).status == 200 for r in first)
            assert server.connections == 2

    run(main())


def test_a_fresh_connection_that_fails_is_not_retried() -> None:
    async def hang_up(req: Req, writer: asyncio.StreamWriter) -> bool:
        return False

    async def main() -> None:
        async with Server(hang_up) as server:
            (result,) = await post_many([(server.url, b"a", {})], timeout=5)
            assert isinstance(result, IncompleteResponseError)
            assert server.connections == 1

    run(main())


def test_response_cut_short_is_incomplete() -> None:
    async def short(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        return False

    async def main() -> None:
        async with Server(short) as server:
            (result,) = await post_many([(server.url, b"a", {})], timeout=5)
            assert isinstance(result, IncompleteResponseError)
            assert "before the response was complete" in str(result)

    run(main())


def test_connection_refused_fails_only_its_slot() -> None:
    async def main() -> None:
        async with Server() as server:
            results = await post_many([(f"http://127.0.0.1:{closed_port()}/", b"a", {}), (server.url, b"b", {})],
                                      timeout=5)
        assert isinstance(results[0], ConnectionRefusedError)
        assert response(results[1]).status == 200

    run(main())


def test_timeout_fails_only_the_silent_origin() -> None:
    async def never(req: Req, writer: asyncio.StreamWriter) -> bool:
        await asyncio.Event().wait()
        return False

    async def main() -> None:
        async with Server(never) as silent, Server() as fine:
            started = time.monotonic()
            results = await post_many([(silent.url, b"a", {}), (fine.url, b"b", {}), (silent.url, b"c", {})],
                                      timeout=0.3)
            elapsed = time.monotonic() - started
        assert isinstance(results[0], TimeoutError) and isinstance(results[2], TimeoutError)
        assert response(results[1]).status == 200
        assert 0.29 <= elapsed < 1.0

    run(main())


def test_waiting_for_a_pool_slot_does_not_count_toward_the_timeout() -> None:
    async def slowish(req: Req, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(ok())
        return True

    async def main() -> None:
        async with Server(slowish) as server:
            # 20 requests over 2 connections take ~0.5 s, each one well under its 0.3 s timeout.
            results = await post_many([(server.url, b"a", {})] * 20, timeout=0.3, per_origin=2)
            assert all(response(r).status == 200 for r in results)
            assert server.connections == 2

    run(main())


def test_total_limit_bounds_requests_in_flight_across_origins() -> None:
    in_flight = peak = 0

    async def counting(req: Req, writer: asyncio.StreamWriter) -> bool:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        writer.write(ok())
        return True

    async def main() -> None:
        async with Server(counting) as a, Server(counting) as b, Server(counting) as c:
            requests = [(s.url, b"x", {}) for s in (a, b, c)] * 10
            results = await post_many(requests, timeout=5, per_origin=3, total=2)
            assert all(response(r).status == 200 for r in results)
            assert a.connections + b.connections + c.connections >= 3

    run(main())
    assert peak == 2


def test_endless_body_is_cut_off_and_the_connection_closed() -> None:
    async def firehose(req: Req, writer: asyncio.StreamWriter) -> bool:
        if req.conn > 0:
            writer.write(ok(b"small"))
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        chunk = b"z" * 16384
        for _ in range(6000):
            writer.write(chunk)
            await writer.drain()
        return False

    async def main() -> None:
        async with Server(firehose) as server:
            started = time.monotonic()
            results = await post_many([(server.url, b"a", {}), (server.url, b"b", {})], timeout=5, per_origin=1)
            assert time.monotonic() - started < 2
            assert response(results[0]).body == b"z" * 300
            assert response(results[1]).body == b"small"
            assert server.connections == 2

    run(main())


def test_bad_urls_and_header_injection_fail_only_their_slot() -> None:
    async def main() -> None:
        async with Server() as server:
            u = server.url
            results = await post_many([
                ("ftp://127.0.0.1/x", b"", {}),
                ("http:///no-host", b"", {}),
                ("http://127.0.0.1:99999/", b"", {}),
                ("http://127.0.0.1:port/", b"", {}),
                (u, b"", {"X-Sig": "a\r\nX-Injected: 1"}),
                (u, b"", {"X-Sig": "a\nb"}),
                (u, b"", {"X-Sig": "a\0b"}),
                (u, b"", {"X-Bad\r\nName": "v"}),
                (u, b"", {"X: y": "v"}),
                (u, b"", {"Host": "evil.example"}),
                (u, b"", {"content-length": "5"}),
                (u, b"", {"Transfer-Encoding": "chunked"}),
                (u, b"ok", {}),
            ], timeout=5)
            assert server.connections == 1 and len(server.requests) == 1
        assert all(isinstance(r, ValueError) for r in results[:-1]), results
        assert response(results[-1]).status == 200

    run(main())


def test_resolver_refusal_fails_that_origin_once_looked_up() -> None:
    calls: list[tuple[str, int]] = []

    async def refuse(host: str, port: int) -> list[str]:
        calls.append((host, port))
        raise OSError(f"{host} resolves only to addresses alerts may not be sent to")

    async def main() -> None:
        results = await post_many([("http://blocked.invalid/a", b"", {}), ("http://blocked.invalid/b", b"", {})],
                                  timeout=5, resolve=refuse)
        assert all(isinstance(r, OSError) and "may not be sent" in str(r) for r in results)
        assert calls == [("blocked.invalid", 80)]

    run(main())


def test_a_resolver_that_hangs_times_out_and_is_cancelled() -> None:
    cancelled = False

    async def hang(host: str, port: int) -> list[str]:
        nonlocal cancelled
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise
        return []

    async def main() -> None:
        started = time.monotonic()
        results = await post_many([("http://slow-dns.invalid/", b"", {})] * 3, timeout=0.2, resolve=hang)
        assert all(isinstance(r, TimeoutError) for r in results)
        assert time.monotonic() - started < 1.0

    run(main())
    assert cancelled


def test_resolver_address_is_used_and_the_next_tried_on_failure() -> None:
    calls: list[tuple[str, int]] = []

    async def main() -> None:
        async with Server() as server:
            async def resolve(host: str, port: int) -> list[str]:
                calls.append((host, port))
                return ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2: refused, then the next one

            results = await post_many([(f"http://example.invalid:{server.port}/x", b"a", {})] * 4,
                                      timeout=5, resolve=resolve)
            assert all(response(r).status == 200 for r in results)
            assert {req.header("host") for req in server.requests} == {f"example.invalid:{server.port}"}
        assert calls == [("example.invalid", server.port)]

    run(main())


def test_default_resolver_resolves_localhost() -> None:
    async def main() -> None:
        async with Server() as server:
            (result,) = await post_many([(f"http://localhost:{server.port}/", b"a", {})], timeout=5)
            # localhost may resolve to ::1 first, where nothing listens: the client falls back to 127.0.0.1.
            assert response(result).status == 200

    run(main())


def test_tls_with_a_trusted_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    async def main() -> None:
        async with Server(tls=server_tls) as server:
            trusted = await post_many([(f"{server.url}/t", b"secret", {})] * 5, timeout=5, per_origin=2,
                                      ssl_context=ssl.create_default_context(cafile=str(cert)))
            assert all(response(r).body == b"ok" for r in trusted)
            assert server.requests[0].body == b"secret"
            assert server.connections <= 2
            (untrusted,) = await post_many([(f"{server.url}/t", b"secret", {})], timeout=5)
            assert isinstance(untrusted, ssl.SSLCertVerificationError)

    run(main())


def test_interim_100_continue_is_skipped() -> None:
    async def continue_first(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok(b"final", status=202))
        return True

    async def main() -> None:
        async with Server(continue_first) as server:
            results = await post_many([(server.url, b"a", {})] * 3, timeout=5, per_origin=1)
            for result in results:
                r = response(result)
                assert (r.status, r.body) == (202, b"final")
                assert "link" not in r.headers
            assert server.connections == 1

    run(main())


def test_malformed_response_is_a_connection_error() -> None:
    async def garbage(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SMTP ready\r\n\r\n" if req.line.endswith("/a HTTP/1.1") else b"HTTP/1.1 200 OK\r\nX\r\n\r\n")
        return True

    async def main() -> None:
        async with Server(garbage) as server:
            results = await post_many([(f"{server.url}/a", b"", {}), (f"{server.url}/b", b"", {})], timeout=5)
        for result in results:
            assert isinstance(result, IncompleteResponseError) and isinstance(result, ConnectionError)
            assert "malformed" in str(result)

    run(main())


def test_endless_headers_are_cut_off() -> None:
    async def endless(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(20000):
            writer.write(f"X-Filler-{i}: {'f' * 50}\r\n".encode())
            await writer.drain()
        return False

    async def main() -> None:
        async with Server(endless) as server:
            (result,) = await post_many([(server.url, b"", {})], timeout=5)
        assert isinstance(result, IncompleteResponseError) and "headers exceed" in str(result)

    run(main())


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    async def extra(req: Req, writer: asyncio.StreamWriter) -> bool:
        writer.write(ok() + ok(b"unsolicited") if req.conn == 0 else ok(b"fresh"))
        return True

    async def main() -> None:
        async with Server(extra) as server:
            results = await post_many([(server.url, b"a", {}), (server.url, b"b", {})], timeout=5, per_origin=1)
            assert [response(r).body for r in results] == [b"ok", b"fresh"]
            assert server.connections == 2

    run(main())


def test_no_requests_and_bad_arguments() -> None:
    assert run(post_many([], timeout=1)) == []
    with pytest.raises(ValueError):
        run(post_many([("http://x/", b"", {})], timeout=1, per_origin=0))
    with pytest.raises(ValueError):
        run(post_many([("http://x/", b"", {})], timeout=1, user_agent="a\r\nb"))
