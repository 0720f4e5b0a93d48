"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291), via pywebpush."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException
from pywebpush import WebPushException, webpush

from signalhub.core.config import get_settings
from signalhub.core.netguard import address_kind, assert_public_url, refusal_is_temporary
from signalhub.notifications.channels.base import Message, SendResult, parse_retry_after

DEFAULT_TTL_SECONDS = 6 * 3600  # a trading signal older than a few hours is noise, not news
# Push services accept 4096 bytes of encrypted body; aes128gcm adds a 86-byte header, a 16-byte tag and a
# 1-byte delimiter, so this much plaintext always fits.
MAX_PAYLOAD_BYTES = 3993


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_vapid_keys() -> tuple[str, str]:
    """Make a VAPID key pair: (raw 32-byte private key, uncompressed public point), both base64url unpadded.

    The public key is what browsers take as `applicationServerKey`; the private key is what pywebpush
    (py_vapid's `Vapid.from_string`) reads from VAPID_PRIVATE_KEY.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    private_raw = key.private_numbers().private_value.to_bytes(32, "big")
    public_raw = key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    return _b64url_encode(private_raw), _b64url_encode(public_raw)


def _refused_destination(url: str, field: str) -> SendResult | None:
    """Resolve the host now (DNS may have changed since the subscription was saved) and refuse internal ones."""
    try:
        assert_public_url(url, field)
    except ValueError as exc:
        # A lookup failure may be a passing DNS outage: try again later rather than drop the alert.
        return SendResult(ok=False, retryable=refusal_is_temporary(exc), detail=str(exc))
    return None


class WebPushChannel:
    """Browser push notifications to a PushSubscription, signed with the platform's VAPID key."""

    kind = "webpush"

    def __init__(self, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check a browser PushSubscription JSON and return {endpoint, keys: {p256dh, auth}}."""
        if not isinstance(config, Mapping):
            raise ValueError("subscription: must be a PushSubscription object")
        endpoint = config.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint.strip():
            raise ValueError("endpoint: required")
        endpoint = endpoint.strip()
        try:
            parts = urlsplit(endpoint)
            host = parts.hostname or ""
        except ValueError as exc:
            raise ValueError(f"endpoint: not a valid URL ({exc})") from None
        if not host:
            raise ValueError("endpoint: must be an absolute https URL")
        # Endpoints are user-supplied URLs the worker will POST to: refuse internal addresses (SSRF).
        kind = address_kind(host)
        if kind == "internal" or (kind == "loopback" and not get_settings().allow_loopback_destinations):
            raise ValueError("endpoint: must not point at a loopback or private address")
        if parts.scheme != "https" and not (parts.scheme == "http" and kind == "loopback"):
            raise ValueError("endpoint: must be an https URL")
        if parts.username or parts.password:
            raise ValueError("endpoint: must not contain credentials")

        keys = config.get("keys")
        if not isinstance(keys, Mapping):
            raise ValueError("keys: required, with p256dh and auth")
        p256dh = keys.get("p256dh")
        if not isinstance(p256dh, str) or not p256dh:
            raise ValueError("keys.p256dh: required")
        try:
            point = _b64url_decode(p256dh.strip())
            if len(point) != 65 or point[0] != 0x04:
                raise ValueError("not an uncompressed point")
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except (ValueError, binascii.Error):
            raise ValueError("keys.p256dh: must be a base64url uncompressed P-256 public key") from None
        auth = keys.get("auth")
        if not isinstance(auth, str) or not auth:
            raise ValueError("keys.auth: required")
        try:
            secret = _b64url_decode(auth.strip())
        except (ValueError, binascii.Error):
            raise ValueError("keys.auth: must be base64url") from None
        if len(secret) != 16:
            raise ValueError("keys.auth: must decode to 16 bytes")
        return {"endpoint": endpoint, "keys": {"p256dh": _b64url_encode(point), "auth": _b64url_encode(secret)}}

    def destination(self, config: Mapping[str, Any]) -> str:
        """One key per subscription: push services throttle per subscription, and the endpoint is a secret."""
        digest = hashlib.sha256(str(config.get("endpoint", "")).encode()).hexdigest()[:24]
        return f"webpush:{digest}"

    def payload(self, message: Message) -> bytes:
        """The JSON the service worker receives, cut down to fit the push service's size limit."""
        data = json.loads(json.dumps(dict(message.data), default=str))

        def encode(body: str, with_data: bool = True) -> bytes:
            doc = {"title": message.title, "body": body, "data": data if with_data else {},
                   "delivery_id": message.delivery_id}
            return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()

        full = encode(message.text)
        if len(full) <= MAX_PAYLOAD_BYTES:
            return full
        with_data = len(encode("…")) <= MAX_PAYLOAD_BYTES  # the link to open matters less than a readable text
        low, high = 0, len(message.text)
        while low < high:  # the longest prefix of the body that still fits
            mid = (low + high + 1) // 2
            if len(encode(message.text[:mid] + "…", with_data)) <= MAX_PAYLOAD_BYTES:
                low = mid
            else:
                high = mid - 1
        candidate = encode(message.text[:low] + "…", with_data)
        if len(candidate) <= MAX_PAYLOAD_BYTES:
            return candidate
        return json.dumps({"title": message.title[:200], "body": "", "data": {},
                           "delivery_id": message.delivery_id}, ensure_ascii=False).encode()

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """Encrypt `message` for the subscription and POST it to its push service."""
        settings = get_settings()
        missing = [name for name, value in (("VAPID_PRIVATE_KEY", settings.vapid_private_key),
                                            ("VAPID_PUBLIC_KEY", settings.vapid_public_key)) if not value]
        if missing:
            return SendResult(ok=False, retryable=False,
                              detail=f"web push not configured: set {' and '.join(missing)} "
                                     "(`signalhub vapid-keys` makes a pair)")
        try:
            vapid = Vapid.from_string(settings.vapid_private_key)
        except Exception:  # py_vapid raises whatever its decoders raise on garbage
            return SendResult(ok=False, retryable=False, detail="web push not configured: VAPID_PRIVATE_KEY is invalid")
        public_raw = vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        if _b64url_encode(public_raw) != str(settings.vapid_public_key).strip().rstrip("="):
            # Browsers subscribed with VAPID_PUBLIC_KEY; signing with another key makes every push a 403.
            return SendResult(ok=False, retryable=False,
                              detail="web push not configured: VAPID_PUBLIC_KEY does not match VAPID_PRIVATE_KEY")
        try:
            subscription = self.validate_config(config)
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, detail=f"invalid subscription: {exc}")
        refused = _refused_destination(subscription["endpoint"], "endpoint")
        if refused:
            return refused

        try:
            response = webpush(
                subscription,
                data=self.payload(message).decode(),
                vapid_private_key=vapid,
                vapid_claims={"sub": settings.vapid_subject},  # fresh dict: pywebpush adds aud/exp to it
                content_encoding="aes128gcm",
                ttl=self.ttl_seconds,
                timeout=settings.notify_http_timeout_seconds,
                headers={"Urgency": "high"},
            )
        except WebPushException as exc:
            if exc.response is None:
                return SendResult(ok=False, retryable=False, detail=f"web push failed: {exc.message}")
            return self._classify(exc.response)
        except VapidException as exc:
            return SendResult(ok=False, retryable=False, detail=f"web push not configured: VAPID_SUBJECT {exc}")
        except requests.RequestException as exc:
            return SendResult(ok=False, retryable=True, detail=f"push service unreachable: {type(exc).__name__}")
        return self._classify(response)  # type: ignore[arg-type]

    @staticmethod
    def _classify(response: requests.Response) -> SendResult:
        status = response.status_code
        body = (response.text or "").strip()[:200]
        if 200 <= status < 300:
            return SendResult(ok=True, detail=f"accepted ({status})", status_code=status)
        if status in (404, 410):
            return SendResult(ok=False, retryable=False, detail="subscription expired", status_code=status)
        if status == 429:
            return SendResult(ok=False, retryable=True, status_code=status, detail="push service rate limited",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status == 413:
            return SendResult(ok=False, retryable=False, status_code=status, detail="payload too large")
        if status >= 500:
            return SendResult(ok=False, retryable=True, status_code=status, detail=f"push service error {status}",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        # 400 malformed, 401/403 VAPID rejected (e.g. subscribed with another applicationServerKey).
        return SendResult(ok=False, retryable=False, status_code=status,
                          detail=f"push service refused ({status}){': ' + body if body else ''}")
