"""SMS against a loopback Twilio-compatible Messages API that checks auth and form fields."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from signalhub.notifications.channels.base import Message, SendResult
from signalhub.notifications.channels.sms import SmsChannel, TwilioProvider
from tests.fakes.sms import FakeSms

MESSAGE = Message(delivery_id="d-1", title="🟢 STRONG_BUY AAPL @ 188.38", text="RSI 28, MACD crossed up")
TO = {"phone_number": "+821012345678"}


@pytest.fixture
def sms(env: pytest.MonkeyPatch) -> Iterator[FakeSms]:
    with FakeSms().running() as fake:
        env.setenv("SMS_API_BASE", fake.url)
        env.setenv("SMS_ACCOUNT_SID", fake.account_sid)
        env.setenv("SMS_AUTH_TOKEN", fake.auth_token)
        env.setenv("SMS_FROM_NUMBER", fake.from_number)
        yield fake


def test_message_is_sent_as_twilio_form(sms: FakeSms) -> None:
    result = SmsChannel().send(TO, MESSAGE)
    assert result.ok, result
    assert result.status_code == 201 and result.detail.startswith("sid SM")
    assert sms.messages == [{"To": "+821012345678", "From": sms.from_number,
                             "Body": "🟢 STRONG_BUY AAPL @ 188.38\nRSI 28, MACD crossed up"}]


def test_long_body_is_cut_to_1600(sms: FakeSms) -> None:
    result = SmsChannel().send(TO, Message("d-2", "Digest", "📈 up " * 800))
    assert result.ok, result
    body = sms.messages[0]["Body"]
    assert body.endswith("…") and len(body.encode("utf-16-le")) // 2 <= 1600


@pytest.mark.parametrize(("arrange", "status", "retryable", "retry_after", "detail"), [
    (lambda f: f.fail_next(429, 20429, "Too Many Requests", {"Retry-After": "3"}), 429, True, 3.0,
     "Too Many Requests (code 20429)"),
    (lambda f: f.fail_next(500, 20500, "Internal Server Error"), 500, True, None,
     "Internal Server Error (code 20500)"),
    (lambda f: f.unsubscribed.add("+821012345678"), 400, False, None,
     "Attempt to send to unsubscribed recipient (code 21610)"),
    (lambda f: setattr(f, "auth_token", "rotated"), 401, False, None, "Authenticate (code 20003)"),
])
def test_provider_errors_are_classified(sms: FakeSms, arrange, status: int, retryable: bool,
                                        retry_after: float | None, detail: str) -> None:
    arrange(sms)
    result = SmsChannel().send(TO, MESSAGE)
    assert (result.ok, result.status_code, result.retryable, result.retry_after, result.detail) == \
        (False, status, retryable, retry_after, detail)


def test_number_the_provider_rejects_is_not_retried(sms: FakeSms) -> None:
    # Passes E.164 syntax here but the provider still refuses it, as Twilio does for unassigned ranges.
    provider = TwilioProvider()
    result = provider.send_sms("+0000", "hi")
    assert (result.ok, result.status_code, result.retryable) == (False, 400, False)
    assert result.detail == "The 'To' number +0000 is not a valid phone number. (code 21211)"


def test_unreachable_provider_is_retryable(sms: FakeSms, env: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env.setenv("SMS_API_BASE", f"http://127.0.0.1:{port}")
    result = SmsChannel().send(TO, MESSAGE)
    assert (result.ok, result.retryable) == (False, True)


@pytest.mark.parametrize("unset", ["SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN", "SMS_FROM_NUMBER"])
def test_missing_account_makes_no_request(sms: FakeSms, env: pytest.MonkeyPatch, unset: str) -> None:
    env.delenv(unset)
    result = SmsChannel().send(TO, MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail == f"sms not configured: set {unset}"
    assert sms.requests == 0


def test_another_provider_can_be_plugged() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str]] = []

        def missing_settings(self) -> list[str]:
            return []

        def send_sms(self, to: str, body: str) -> SendResult:
            self.sent.append((to, body))
            return SendResult(ok=True, detail="recorded")

    provider = Recorder()
    assert SmsChannel(provider=provider).send({"phone_number": "+1 (415) 555-0100"}, MESSAGE).ok
    assert provider.sent == [("+14155550100", "🟢 STRONG_BUY AAPL @ 188.38\nRSI 28, MACD crossed up")]


@pytest.mark.parametrize(("raw", "normalised"), [("+821012345678", "+821012345678"),
                                                 (" +1 415-555-0100 ", "+14155550100"),
                                                 ("+44 (20) 7946.0018", "+442079460018")])
def test_valid_numbers_are_normalised(raw: str, normalised: str) -> None:
    assert SmsChannel().validate_config({"phone_number": raw}) == {"phone_number": normalised}
    assert SmsChannel().destination({"phone_number": normalised}) == f"sms:{normalised}"


@pytest.mark.parametrize("config", [{}, {"phone_number": ""}, {"phone_number": 821012345678},
                                    {"phone_number": "01012345678"}, {"phone_number": "+0123456789"},
                                    {"phone_number": "+12"}, {"phone_number": "+1234567890123456"},
                                    {"phone_number": "+82 10 abcd 5678"}])
def test_invalid_numbers_name_the_field(config: dict) -> None:
    with pytest.raises(ValueError, match=r"^phone_number:"):
        SmsChannel().validate_config(config)
