"""Web push against a loopback push service that verifies VAPID and decrypts the payload like a browser."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

from signalhub.core.config import get_settings
from signalhub.notifications.channels.base import Message
from signalhub.notifications.channels.webpush import MAX_PAYLOAD_BYTES, WebPushChannel, generate_vapid_keys
from tests.fakes.push_service import FakePushService, b64url_decode

MESSAGE = Message(delivery_id="d-1", title="🟢 STRONG_BUY AAPL @ 188.38", text="RSI 28 → 41, MACD crossed up <&>",
                  data={"url": "/signals/42", "symbol": "AAPL"})


@pytest.fixture
def push() -> Iterator[FakePushService]:
    with FakePushService().running() as service:
        yield service


@pytest.fixture
def vapid(env: pytest.MonkeyPatch) -> tuple[str, str]:
    private, public = generate_vapid_keys()
    env.setenv("VAPID_PRIVATE_KEY", private)
    env.setenv("VAPID_PUBLIC_KEY", public)
    env.setenv("VAPID_SUBJECT", "mailto:ops@example.com")
    return private, public


def test_generated_keys_are_application_server_key_and_pywebpush_private_key() -> None:
    private, public = generate_vapid_keys()
    assert "=" not in private + public
    assert len(b64url_decode(private)) == 32
    point = b64url_decode(public)
    assert len(point) == 65 and point[0] == 4
    derived = Vapid.from_string(private).public_key.public_bytes(serialization.Encoding.X962,
                                                                 serialization.PublicFormat.UncompressedPoint)
    assert derived == point
    assert generate_vapid_keys() != (private, public)


def test_push_is_signed_encrypted_and_decrypted_by_the_push_service(push: FakePushService,
                                                                    vapid: tuple[str, str]) -> None:
    channel = WebPushChannel(ttl_seconds=600)
    subscription = channel.validate_config(push.subscribe(application_server_key=vapid[1]))

    result = channel.send(subscription, MESSAGE)

    assert result.ok, (result, push.errors)
    assert result.status_code == 201
    [received] = push.received
    assert received.json() == {"title": MESSAGE.title, "body": MESSAGE.text, "data": dict(MESSAGE.data),
                               "delivery_id": "d-1"}
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.headers["ttl"] == "600"
    assert received.claims["aud"] == push.url
    assert received.claims["sub"] == "mailto:ops@example.com"
    assert received.claims["_k"] == vapid[1]


def test_long_text_is_cut_to_fit_the_push_service_limit(push: FakePushService, vapid: tuple[str, str]) -> None:
    message = Message(delivery_id="d-2", title="Daily digest", text="AAPL 🟢 " * 2000, data={"url": "/digest"})
    result = WebPushChannel().send(push.subscribe(), message)

    assert result.ok, (result, push.errors)
    payload = push.received[0].json()
    assert len(push.received[0].payload) <= MAX_PAYLOAD_BYTES
    assert payload["body"].endswith("…") and payload["body"].startswith("AAPL 🟢 AAPL")
    assert payload["data"] == {"url": "/digest"}


def test_expired_and_unknown_subscriptions_are_not_retried(push: FakePushService, vapid: tuple[str, str]) -> None:
    channel = WebPushChannel()
    subscription = push.subscribe()
    push.expire(subscription)

    gone = channel.send(subscription, MESSAGE)
    unknown = channel.send({**subscription, "endpoint": f"{push.url}/push/nobody"}, MESSAGE)

    assert (gone.ok, gone.retryable, gone.status_code, gone.detail) == (False, False, 410, "subscription expired")
    assert (unknown.ok, unknown.retryable, unknown.status_code, unknown.detail) == \
        (False, False, 404, "subscription expired")


def test_key_not_matching_the_subscription_is_refused(push: FakePushService, vapid: tuple[str, str]) -> None:
    _, other_public = generate_vapid_keys()
    result = WebPushChannel().send(push.subscribe(application_server_key=other_public), MESSAGE)
    assert (result.ok, result.retryable, result.status_code) == (False, False, 403)


@pytest.mark.parametrize(("status", "headers", "retryable", "retry_after"), [
    (429, {"Retry-After": "30"}, True, 30.0),
    (500, {}, True, None),
    (503, {"Retry-After": "5"}, True, 5.0),
    (413, {}, False, None),
    (400, {}, False, None),
])
def test_push_service_errors_are_classified(push: FakePushService, vapid: tuple[str, str], status: int,
                                            headers: dict[str, str], retryable: bool,
                                            retry_after: float | None) -> None:
    push.fail_next(status, headers)
    result = WebPushChannel().send(push.subscribe(), MESSAGE)
    assert (result.ok, result.retryable, result.status_code, result.retry_after) == \
        (False, retryable, status, retry_after)


def test_unreachable_push_service_is_retryable(push: FakePushService, vapid: tuple[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subscription = {**push.subscribe(), "endpoint": f"http://127.0.0.1:{port}/push/x"}
    result = WebPushChannel().send(subscription, MESSAGE)
    assert (result.ok, result.retryable) == (False, True)


@pytest.mark.parametrize("unset", ["VAPID_PRIVATE_KEY", "VAPID_PUBLIC_KEY"])
def test_missing_vapid_keys_make_no_request(push: FakePushService, vapid: tuple[str, str],
                                            env: pytest.MonkeyPatch, unset: str) -> None:
    env.delenv(unset)
    result = WebPushChannel().send(push.subscribe(), MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert "not configured" in result.detail and unset in result.detail
    assert push.requests == 0


def test_mismatched_vapid_pair_makes_no_request(push: FakePushService, vapid: tuple[str, str],
                                                env: pytest.MonkeyPatch) -> None:
    env.setenv("VAPID_PUBLIC_KEY", generate_vapid_keys()[1])
    result = WebPushChannel().send(push.subscribe(), MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert "does not match" in result.detail
    assert push.requests == 0


def _good() -> dict:
    return FakePushService(url="https://push.example.com").subscribe()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(("change", "field"), [
    ({"endpoint": None}, "endpoint"),
    ({"endpoint": "not a url"}, "endpoint"),
    ({"endpoint": "http://push.example.com/x"}, "endpoint"),
    ({"endpoint": "ftp://push.example.com/x"}, "endpoint"),
    ({"endpoint": "https://10.0.0.7/x"}, "endpoint"),
    ({"endpoint": "http://[::1]:8080/x"}, "endpoint"),
    ({"keys": None}, "keys"),
    ({"keys": {"auth": _b64(b"a" * 16)}}, "keys.p256dh"),
    ({"keys": {"p256dh": "!!!", "auth": _b64(b"a" * 16)}}, "keys.p256dh"),
    ({"keys": {"p256dh": _b64(b"\x04" + b"\x01" * 64), "auth": _b64(b"a" * 16)}}, "keys.p256dh"),  # not on curve
    ({"keys": {"p256dh": _b64(b"\x02" + b"\x01" * 32), "auth": _b64(b"a" * 16)}}, "keys.p256dh"),  # compressed
    ("auth-missing", "keys.auth"),
    ("auth-short", "keys.auth"),
])
def test_bad_subscriptions_are_rejected_naming_the_field(env: pytest.MonkeyPatch, change: dict | str,
                                                         field: str) -> None:
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    get_settings.cache_clear()
    config = _good()
    if change == "auth-missing":
        del config["keys"]["auth"]
    elif change == "auth-short":
        config["keys"]["auth"] = _b64(b"a" * 8)
    else:
        config.update(change)
    with pytest.raises(ValueError, match=rf"^{field.replace('.', '[.]')}:"):
        WebPushChannel().validate_config(config)


def test_valid_subscription_is_normalised_and_loopback_needs_the_setting(push: FakePushService,
                                                                       env: pytest.MonkeyPatch) -> None:
    config = _good()
    config["keys"]["p256dh"] += "="  # some clients send padded base64url
    normalised = WebPushChannel().validate_config(config)
    assert normalised == {"endpoint": config["endpoint"],
                          "keys": {"p256dh": config["keys"]["p256dh"].rstrip("="), "auth": config["keys"]["auth"]}}
    assert WebPushChannel().validate_config(push.subscribe())  # tests allow loopback destinations
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"^endpoint:"):
        WebPushChannel().validate_config(push.subscribe())
    assert WebPushChannel().destination(normalised).startswith("webpush:")
    assert config["endpoint"] not in WebPushChannel().destination(normalised)


def test_private_addresses_are_refused_even_outside_production() -> None:
    config = _good()
    config["endpoint"] = "https://169.254.169.254/latest"
    with pytest.raises(ValueError, match=r"^endpoint: must not point"):
        WebPushChannel().validate_config(config)


def test_loopback_endpoint_saved_earlier_is_refused_at_send_time(push: FakePushService, vapid: tuple[str, str],
                                                                 env: pytest.MonkeyPatch) -> None:
    subscription = push.subscribe()
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    get_settings.cache_clear()
    result = WebPushChannel().send(subscription, MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert push.requests == 0
