"""SMS through a pluggable provider; the default speaks Twilio's Messages API (and compatible gateways).

Plugging another provider: write a class with `missing_settings()` and `send_sms(to, body)` (see
`SmsProvider`) that never raises for delivery problems and maps the provider's answers to a SendResult
(retryable for throttling, 5xx and network errors; not retryable for rejected numbers or credentials),
then build the channel with it: `SmsChannel(provider=MyProvider())`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from signalhub.core.config import get_settings
from signalhub.notifications.channels.base import Message, SendResult, parse_retry_after, truncate_utf16

MAX_BODY_CHARS = 1600  # Twilio concatenates at most 1600 characters (error 21617 beyond)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class SmsProvider(Protocol):
    """Sends one text message; returns a SendResult and never raises for delivery problems."""

    def missing_settings(self) -> list[str]:
        """Names of the settings still needed before anything can be sent (empty when configured)."""

    def send_sms(self, to: str, body: str) -> SendResult:
        """Send `body` to the E.164 number `to`."""


class TwilioProvider:
    """Twilio's Messages API: form-encoded POST with HTTP basic auth (account SID, auth token)."""

    def __init__(self, api_base: str | None = None, account_sid: str | None = None, auth_token: str | None = None,
                 from_number: str | None = None) -> None:
        # Explicit values win over settings, which are read at send time.
        self._api_base = api_base
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from_number = from_number

    def _values(self) -> tuple[str, str | None, str | None, str | None]:
        s = get_settings()
        return (self._api_base or s.sms_api_base, self._account_sid or s.sms_account_sid,
                self._auth_token or s.sms_auth_token, self._from_number or s.sms_from_number)

    def missing_settings(self) -> list[str]:
        """The SMS_* settings that are still empty."""
        _, sid, token, sender = self._values()
        return [name for name, value in (("SMS_ACCOUNT_SID", sid), ("SMS_AUTH_TOKEN", token),
                                         ("SMS_FROM_NUMBER", sender)) if not value]

    def send_sms(self, to: str, body: str) -> SendResult:
        """POST /2010-04-01/Accounts/{sid}/Messages.json and classify the answer."""
        base, sid, token, sender = self._values()
        if not (sid and token and sender):
            return SendResult(ok=False, retryable=False,
                              detail=f"sms not configured: set {', '.join(self.missing_settings())}")
        try:
            response = httpx.post(f"{base.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json",
                                  data={"To": to, "From": sender, "Body": body}, auth=(sid, token),
                                  timeout=get_settings().notify_http_timeout_seconds)
        except httpx.HTTPError as exc:
            return SendResult(ok=False, retryable=True, detail=f"sms provider unreachable: {type(exc).__name__}")
        return self._classify(response)

    @staticmethod
    def _classify(response: httpx.Response) -> SendResult:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= status < 300:
            return SendResult(ok=True, status_code=status, detail=f"sid {answer.get('sid')} {answer.get('status', '')}")
        code = answer.get("code")
        text = str(answer.get("message") or response.text.strip()[:200] or f"HTTP {status}")
        detail = f"{text} (code {code})" if code else text
        if status == 429:
            return SendResult(ok=False, retryable=True, status_code=status, detail=detail,
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            return SendResult(ok=False, retryable=True, status_code=status, detail=detail,
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        # 400 invalid/unsubscribed number (21211, 21610, 21614), 401 bad credentials (20003), 404 unknown account.
        return SendResult(ok=False, retryable=False, status_code=status, detail=detail)


class SmsChannel:
    """Text messages to a phone number."""

    kind = "sms"

    def __init__(self, provider: SmsProvider | None = None) -> None:
        self.provider: SmsProvider = provider or TwilioProvider()

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Accept {"phone_number": E.164 number}; spaces, dots, dashes and parentheses are dropped."""
        number = config.get("phone_number") if isinstance(config, Mapping) else None
        if not isinstance(number, str) or not number.strip():
            raise ValueError("phone_number: required, in E.164 form like +821012345678")
        normalised = _SEPARATORS.sub("", number.strip())
        if not _E164.match(normalised):
            raise ValueError("phone_number: must be in E.164 form: + country code and number, like +821012345678")
        return {"phone_number": normalised}

    def destination(self, config: Mapping[str, Any]) -> str:
        """Carriers throttle per recipient number."""
        return f"sms:{config.get('phone_number')}"

    @staticmethod
    def render(message: Message) -> str:
        """Title and text as one body of at most 1600 characters."""
        return truncate_utf16(f"{message.title}\n{message.text}".strip(), MAX_BODY_CHARS)

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """Send the message through the provider; nothing is requested when the provider lacks settings."""
        missing = self.provider.missing_settings()
        if missing:
            return SendResult(ok=False, retryable=False, detail=f"sms not configured: set {', '.join(missing)}")
        try:
            number = self.validate_config(config)["phone_number"]
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, detail=f"invalid config: {exc}")
        return self.provider.send_sms(number, self.render(message))
