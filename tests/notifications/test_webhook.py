"""Webhooks to a real HTTP receiver on loopback: Standard Webhooks signatures, failure classes, config checks."""

from __future__ import annotations

import base64
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from signalhub.notifications.channels.webhook import (
    WebhookChannel,
    WebhookVerificationError,
    generate_webhook_secret,
    parse_retry_after,
    verify_signature,
)
from signalhub.notifications.render import render_signal
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.notifications.test_render import make_signal


def message(delivery_id: str = "dlv_9001"):
    """A rendered signal."""
    return render_signal(make_signal(), delivery_id=delivery_id, user_timezone="UTC",
                         base_url="https://signals.example.com")


def config_for(receiver: WebhookReceiver) -> dict[str, str]:
    """A validated channel config for the receiver's URL and secret."""
    return WebhookChannel().validate_config({"url": receiver.url, "secret": receiver.secret})


def test_signed_post_is_verified_by_the_receiver() -> None:
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        result = WebhookChannel().send(config_for(receiver), message())

    assert result.ok and result.status_code == 200, result.detail
    [request] = receiver.requests
    assert request.verified, request.reason
    assert request.method == "POST" and request.path == "/hooks/signalhub"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "dlv_9001"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert request.headers["webhook-signature"].startswith("v1,")
    body = request.json()
    assert body["type"] == "signal" and body["signal_id"] == 42 and body["ticker"] == "AAPL"
    assert body["delivery_id"] == "dlv_9001"
    assert body["title"] == "🟢 STRONG_BUY AAPL @ 188.38"
    assert "86% combined" in body["text"]
    assert body["bar_ts"] == "2024-01-02T14:30:00Z"
    # The receiver-side helper accepts what the receiver accepted.
    verify_signature(secret, request.headers, request.body)


def test_verify_signature_rejects_tampering_and_staleness() -> None:
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        assert WebhookChannel().send(config_for(receiver), message()).ok
    [request] = receiver.requests
    headers, body = request.headers, request.body
    now = int(headers["webhook-timestamp"])

    verify_signature(secret, headers, body.decode(), now=now)
    tampered = body.replace(b'"AAPL"', b'"MSFT"')
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify_signature(secret, headers, tampered)
    with pytest.raises(WebhookVerificationError):
        verify_signature(generate_webhook_secret(), headers, body)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_signature(secret, headers, body, now=now + 301)
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_signature(secret, headers, body, now=now - 301)
    with pytest.raises(WebhookVerificationError):
        verify_signature(secret, {**headers, "webhook-id": "dlv_other"}, body)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify_signature(secret, {k: v for k, v in headers.items() if k != "webhook-signature"}, body)
    # Several signatures (e.g. during secret rotation): one valid one is enough; header names are case-insensitive.
    rotated = {"Webhook-Id": headers["webhook-id"], "Webhook-Timestamp": headers["webhook-timestamp"],
               "Webhook-Signature": "v1,AAAA " + headers["webhook-signature"]}
    verify_signature(secret, rotated, body)


def test_receiver_rejects_a_wrong_secret_and_that_is_permanent() -> None:
    with WebhookReceiver(generate_webhook_secret()).running() as receiver:
        config = WebhookChannel().validate_config({"url": receiver.url})  # a different, generated secret
        result = WebhookChannel().send(config, message())
    assert not result.ok and not result.retryable and result.status_code == 401
    assert receiver.requests[0].reason == "signature mismatch"


@pytest.mark.parametrize(("retry_after", "expected"), [("7", 7.0), ("0", 0.0), (None, None), ("soon", None)])
def test_429_is_retryable_and_honours_retry_after(retry_after: str | None, expected: float | None) -> None:
    with WebhookReceiver(generate_webhook_secret()).running() as receiver:
        receiver.fail_next(429, retry_after=retry_after)
        channel, config = WebhookChannel(), config_for(receiver)
        result = channel.send(config, message())
        assert channel.send(config, message()).ok  # only the next request was refused
    assert not result.ok and result.retryable
    assert result.status_code == 429
    assert result.retry_after == expected


def test_retry_after_as_http_date() -> None:
    with WebhookReceiver(generate_webhook_secret()).running() as receiver:
        receiver.fail_next(503, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))
        result = WebhookChannel().send(config_for(receiver), message())
    assert not result.ok and result.retryable and result.status_code == 503
    assert result.retry_after is not None and 110 <= result.retry_after <= 121


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Tue, 02 Jan 2024 12:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Tue, 02 Jan 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("") is None and parse_retry_after("nan") is None and parse_retry_after("x") is None


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (502, True), (408, True), (410, False),
                                                   (400, False), (404, False), (413, False)])
def test_status_codes_are_classified(status: int, retryable: bool) -> None:
    with WebhookReceiver(generate_webhook_secret()).running() as receiver:
        receiver.fail_next(status, body=b"<html>" + b"x" * 10_000 + b"</html>")
        result = WebhookChannel().send(config_for(receiver), message())
    assert not result.ok
    assert result.retryable is retryable
    assert result.status_code == status
    assert str(status) in result.detail and len(result.detail) < 500


def test_410_says_the_endpoint_is_gone() -> None:
    with WebhookReceiver(generate_webhook_secret()).running() as receiver:
        receiver.fail_next(410, count=3)
        result = WebhookChannel().send(config_for(receiver), message())
    assert not result.ok and not result.retryable and "Gone" in result.detail


def test_timeout_is_retryable(env: pytest.MonkeyPatch) -> None:
    env.setenv("NOTIFY_HTTP_TIMEOUT_SECONDS", "0.2")
    with WebhookReceiver(generate_webhook_secret(), delay=2.0).running() as receiver:
        started = time.monotonic()
        result = WebhookChannel().send(config_for(receiver), message())
        elapsed = time.monotonic() - started
    assert not result.ok and result.retryable
    assert "timed out" in result.detail
    assert elapsed < 1.5


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = WebhookChannel().send({"url": f"http://127.0.0.1:{port}/hook", "secret": generate_webhook_secret()},
                                   message())
    assert not result.ok and result.retryable and "Connection refused" in result.detail


def test_validate_config_generates_a_secret_once() -> None:
    channel = WebhookChannel()
    config = channel.validate_config({"url": "https://hooks.example.com/signalhub?x=1"})
    assert config["url"] == "https://hooks.example.com/signalhub?x=1"
    assert config["secret"].startswith("whsec_")
    assert len(base64.b64decode(config["secret"].removeprefix("whsec_"))) >= 24
    assert channel.validate_config(config) == config  # an existing secret is kept
    assert generate_webhook_secret() != generate_webhook_secret()
    assert channel.destination(config) == "hooks.example.com"
    assert channel.destination({"url": "http://Example.com:8080/x"}) == "example.com:8080"


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "javascript:alert(1)", "", None, 42,
                                 "http://", "https://exa mple.com/", "http://example.com:99999/", "file:///etc/passwd",
                                 "https://example.com/" + "a" * 3000])
def test_validate_config_rejects_bad_urls(url: object) -> None:
    with pytest.raises(ValueError, match=r"^url:"):
        WebhookChannel().validate_config({"url": url})


@pytest.mark.parametrize("secret", ["plainsecret", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode(),
                                    123])
def test_validate_config_rejects_bad_secrets(secret: object) -> None:
    with pytest.raises(ValueError, match=r"^secret:"):
        WebhookChannel().validate_config({"url": "https://example.com/hook", "secret": secret})


def test_unicode_payload_is_signed_as_sent() -> None:
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        result = WebhookChannel().send(config_for(receiver), message())
    assert result.ok and receiver.requests[0].verified
    assert b"\xf0\x9f\x9f\xa2" in receiver.requests[0].body  # the emoji travels as raw UTF-8, signed as such
    assert json.loads(receiver.requests[0].body)["title"].startswith("🟢")


def test_non_ascii_delivery_id_fails_without_raising() -> None:
    result = WebhookChannel().send({"url": "http://127.0.0.1:9/x", "secret": generate_webhook_secret()},
                                   message("dlv_ü"))
    assert not result.ok and not result.retryable and "ASCII" in result.detail


def test_a_batch_is_sent_concurrently_and_each_result_stays_with_its_message() -> None:
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        receiver.fail_next(503, count=1)
        good = config_for(receiver)
        items = [(good, message(f"dlv_{i}")) for i in range(60)]
        items.insert(10, ({"url": "http://10.1.2.3/hook", "secret": secret}, message("dlv_private")))
        results = WebhookChannel().send_batch(items)

    assert len(results) == 61
    assert not results[10].ok and not results[10].retryable and "private" in results[10].detail
    others = results[:10] + results[11:]
    assert sum(1 for r in others if r.ok) == 59
    [failed] = [r for r in others if not r.ok]
    assert failed.retryable and failed.status_code == 503
    assert len(receiver.requests) == 60 and all(r.verified for r in receiver.requests)
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"dlv_{i}" for i in range(60)}


def test_a_name_resolving_to_loopback_is_refused_unless_loopback_is_allowed(env: pytest.MonkeyPatch) -> None:
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        result = WebhookChannel().send({"url": url, "secret": secret}, message())
    assert not result.ok and "loopback" in result.detail and receiver.requests == []


def test_bodies_of_one_batch_match_a_full_serialisation() -> None:
    """The per-batch body template gives byte-for-byte what serialising each message whole gives."""
    from signalhub.notifications.channels.base import Message
    from signalhub.notifications.channels.webhook import _BodyTemplates, _serialise

    shared = {"type": "signal", "ticker": "005930.KS", "name": "삼성전자 🟢", "price": 71200.0, "reasons": ["a\\\"b"]}
    odd = {"note": "\x00signalhub-delivery-id\x00"}  # holds the placeholder itself
    templates = _BodyTemplates()
    for data in (shared, shared, odd, {}):
        for delivery_id in ("dlv_1", "dlv_22", 'dlv_"quoted"'):
            msg = Message(delivery_id=delivery_id, title="🟢 STRONG_BUY", text="line\nline", data=data)
            assert templates.body(msg) == _serialise(msg, delivery_id).encode()
            assert json.loads(templates.body(msg))["delivery_id"] == delivery_id


def test_a_host_that_does_not_resolve_is_retried_later_and_holds_up_nobody() -> None:
    """DNS failure is worth retrying; the other deliveries of the batch go out meanwhile."""
    secret = generate_webhook_secret()
    with WebhookReceiver(secret).running() as receiver:
        good = config_for(receiver)
        results = WebhookChannel().send_batch([
            ({"url": "https://no-such-host.invalid/hook", "secret": secret}, message("dlv_nowhere")),
            (good, message("dlv_here"))])
    assert not results[0].ok and results[0].retryable and "does not resolve" in results[0].detail
    assert results[1].ok and [r.headers["webhook-id"] for r in receiver.requests] == ["dlv_here"]
