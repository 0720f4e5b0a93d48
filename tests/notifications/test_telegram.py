"""Telegram against a loopback Bot API that checks the token, the JSON body and Telegram's HTML rules."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from signalhub.notifications.channels.base import Message
from signalhub.notifications.channels.telegram import TelegramChannel, truncate_utf16
from tests.fakes.telegram import FakeTelegram

MESSAGE = Message(delivery_id="d-1", title="🟢 STRONG_BUY AT&T @ 18.38", text="RSI < 30 & MACD > signal <b>x</b>")


@pytest.fixture
def telegram(env: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with FakeTelegram().running() as fake:
        env.setenv("TELEGRAM_API_BASE", fake.url)
        env.setenv("TELEGRAM_BOT_TOKEN", fake.token)
        yield fake


def test_send_message_shape_and_escaping(telegram: FakeTelegram) -> None:
    result = TelegramChannel().send({"chat_id": 111}, MESSAGE)

    assert result.ok, result
    assert result.status_code == 200
    [sent] = telegram.sent
    assert sent["chat_id"] == 111
    assert sent["parse_mode"] == "HTML"
    assert sent["disable_web_page_preview"] is True
    assert sent["text"] == ("<b>🟢 STRONG_BUY AT&amp;T @ 18.38</b>\n"
                            "RSI &lt; 30 &amp; MACD &gt; signal &lt;b&gt;x&lt;/b&gt;")


def test_channel_username_and_constructor_settings(telegram: FakeTelegram, env: pytest.MonkeyPatch) -> None:
    env.delenv("TELEGRAM_BOT_TOKEN")
    channel = TelegramChannel(api_base=telegram.url + "/", bot_token=telegram.token)
    assert channel.send({"chat_id": "@signals"}, MESSAGE).ok
    assert telegram.sent[0]["chat_id"] == "@signals"


def test_long_text_is_truncated_within_the_limit(telegram: FakeTelegram) -> None:
    message = Message(delivery_id="d-2", title="Digest", text="a&b 📈 " * 1500)
    result = TelegramChannel().send({"chat_id": 111}, message)
    assert result.ok, result
    assert telegram.sent[0]["text"].endswith("…")


def test_truncate_utf16_never_splits_a_character() -> None:
    assert truncate_utf16("abc", 3) == "abc"
    assert truncate_utf16("📈📈📈", 4) == "📈…"
    assert len(truncate_utf16("x" * 5000, 4096).encode("utf-16-le")) // 2 == 4096


@pytest.mark.parametrize(("arrange", "status", "retryable", "retry_after", "detail"), [
    (lambda f: f.fail_next(429, "Too Many Requests: retry after 17", retry_after=17), 429, True, 17.0,
     "Too Many Requests: retry after 17"),
    (lambda f: f.blocked.add(111), 403, False, None, "Forbidden: bot was blocked by the user"),
    (lambda f: f.chats.discard(111), 400, False, None, "Bad Request: chat not found"),
    (lambda f: f.fail_next(500, "Internal Server Error"), 500, True, None, "telegram error 500: Internal Server Error"),
    (lambda f: f.fail_next(502, "Bad Gateway"), 502, True, None, "telegram error 502: Bad Gateway"),
])
def test_bot_api_errors_are_classified(telegram: FakeTelegram, arrange, status: int, retryable: bool,
                                       retry_after: float | None, detail: str) -> None:
    arrange(telegram)
    result = TelegramChannel().send({"chat_id": 111}, MESSAGE)
    assert (result.ok, result.status_code, result.retryable, result.retry_after, result.detail) == \
        (False, status, retryable, retry_after, detail)


def test_wrong_token_is_not_retried_and_never_leaks(telegram: FakeTelegram, env: pytest.MonkeyPatch) -> None:
    env.setenv("TELEGRAM_BOT_TOKEN", "999:wrong")
    result = TelegramChannel().send({"chat_id": 111}, MESSAGE)
    assert (result.ok, result.status_code, result.retryable) == (False, 401, False)
    assert "999:wrong" not in result.detail


def test_unreachable_api_is_retryable(env: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env.setenv("TELEGRAM_API_BASE", f"http://127.0.0.1:{port}")
    env.setenv("TELEGRAM_BOT_TOKEN", "123:secret")
    result = TelegramChannel().send({"chat_id": 111}, MESSAGE)
    assert (result.ok, result.retryable) == (False, True)
    assert "123:secret" not in result.detail


def test_missing_token_makes_no_request(telegram: FakeTelegram, env: pytest.MonkeyPatch) -> None:
    env.delenv("TELEGRAM_BOT_TOKEN")
    result = TelegramChannel().send({"chat_id": 111}, MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert result.detail == "telegram not configured: set TELEGRAM_BOT_TOKEN"
    assert telegram.requests == 0


@pytest.mark.parametrize(("config", "expected"), [
    ({"chat_id": 111}, {"chat_id": 111}),
    ({"chat_id": -1001234567890}, {"chat_id": -1001234567890}),
    ({"chat_id": " -42 "}, {"chat_id": -42}),
    ({"chat_id": "@signal_hub"}, {"chat_id": "@signal_hub"}),
])
def test_valid_chat_ids(config: dict, expected: dict) -> None:
    assert TelegramChannel().validate_config(config) == expected
    assert TelegramChannel().destination(expected) == f"telegram:{expected['chat_id']}"


@pytest.mark.parametrize("config", [{}, {"chat_id": None}, {"chat_id": True}, {"chat_id": 0}, {"chat_id": "abc"},
                                    {"chat_id": "@ab"}, {"chat_id": "@1abcde"}, {"chat_id": 1.5}, {"chat_id": ""}])
def test_invalid_chat_ids_name_the_field(config: dict) -> None:
    with pytest.raises(ValueError, match=r"^chat_id:"):
        TelegramChannel().validate_config(config)
