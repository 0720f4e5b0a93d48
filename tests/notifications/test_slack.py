"""Slack against a loopback incoming webhook that checks the message shape and answers like Slack."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from signalhub.core.config import get_settings
from signalhub.notifications.channels.base import Message
from signalhub.notifications.channels.slack import SlackChannel
from tests.fakes.slack import FakeSlack

MESSAGE = Message(delivery_id="d-1", title="🟢 STRONG_BUY AT&T @ 18.38", text="RSI < 30, MACD > signal")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack().running() as fake:
        yield fake


def test_post_shape_and_mrkdwn_escaping(slack: FakeSlack) -> None:
    hook = slack.hook()
    result = SlackChannel().send({"webhook_url": hook}, MESSAGE)

    assert result.ok, result
    assert (result.status_code, result.detail) == (200, "ok")
    [posted] = slack.posted
    assert posted["text"] == "🟢 STRONG_BUY AT&amp;T @ 18.38\nRSI &lt; 30, MACD &gt; signal"
    assert posted["blocks"] == [{"type": "section", "text": {
        "type": "mrkdwn", "text": "*🟢 STRONG_BUY AT&amp;T @ 18.38*\nRSI &lt; 30, MACD &gt; signal"}}]


def test_long_text_fits_the_block_limit_without_half_entities(slack: FakeSlack) -> None:
    result = SlackChannel().send({"webhook_url": slack.hook()}, Message("d-2", "Digest", "a&b " * 2000))
    assert result.ok, result
    section = slack.posted[0]["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.endswith("…")
    assert section.rsplit("&", 1)[1].startswith("amp;")


@pytest.mark.parametrize(("arrange", "status", "retryable", "retry_after", "detail"), [
    (lambda f, h: f.fail_next(400, "invalid_payload"), 400, False, None, "invalid_payload"),
    (lambda f, h: f.fail_next(403, "action_prohibited"), 403, False, None, "action_prohibited"),
    (lambda f, h: f.archive(h), 410, False, None, "channel_is_archived"),
    (lambda f, h: f.fail_next(429, "rate_limited", {"Retry-After": "12"}), 429, True, 12.0, "rate_limited"),
    (lambda f, h: f.fail_next(500, "rollup_error"), 500, True, None, "rollup_error"),
    (lambda f, h: f.fail_next(503, ""), 503, True, None, "slack error 503"),
])
def test_webhook_errors_are_classified(slack: FakeSlack, arrange, status: int, retryable: bool,
                                       retry_after: float | None, detail: str) -> None:
    hook = slack.hook()
    arrange(slack, hook)
    result = SlackChannel().send({"webhook_url": hook}, MESSAGE)
    assert (result.ok, result.status_code, result.retryable, result.retry_after, result.detail) == \
        (False, status, retryable, retry_after, detail)


def test_revoked_webhook_is_not_retried(slack: FakeSlack) -> None:
    result = SlackChannel().send({"webhook_url": slack.url + "/services/T1/B1/revoked"}, MESSAGE)
    assert (result.ok, result.status_code, result.retryable, result.detail) == (False, 404, False, "no_service")


def test_unreachable_webhook_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = SlackChannel().send({"webhook_url": f"http://127.0.0.1:{port}/services/x"}, MESSAGE)
    assert (result.ok, result.retryable) == (False, True)


def test_invalid_config_makes_no_request(slack: FakeSlack) -> None:
    result = SlackChannel().send({"webhook_url": "ftp://example.com/x"}, MESSAGE)
    assert (result.ok, result.retryable) == (False, False)
    assert "webhook_url" in result.detail
    assert slack.requests == 0


@pytest.mark.parametrize("config", [
    {}, {"webhook_url": ""}, {"webhook_url": 5}, {"webhook_url": "hooks.slack.com/services/x"},
    {"webhook_url": "http://hooks.slack.com/services/x"}, {"webhook_url": "ftp://hooks.slack.com/x"},
    {"webhook_url": "https://user:pw@hooks.slack.com/services/x"}, {"webhook_url": "https://192.168.1.5/hook"},
])
def test_invalid_webhook_urls_name_the_field(config: dict) -> None:
    with pytest.raises(ValueError, match=r"^webhook_url:"):
        SlackChannel().validate_config(config)


def test_loopback_needs_the_setting_at_validation_and_send_time(slack: FakeSlack, env: pytest.MonkeyPatch) -> None:
    hook = slack.hook()
    assert SlackChannel().validate_config({"webhook_url": f" {hook} "}) == {"webhook_url": hook}
    env.setenv("ALLOW_LOOPBACK_DESTINATIONS", "false")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"^webhook_url:"):
        SlackChannel().validate_config({"webhook_url": hook})
    result = SlackChannel().send({"webhook_url": hook}, MESSAGE)
    assert (result.ok, result.retryable, slack.requests) == (False, False, 0)
    url = "https://hooks.slack.com/services/T0/B0/abc"
    assert SlackChannel().validate_config({"webhook_url": url}) == {"webhook_url": url}
    assert "abc" not in SlackChannel().destination({"webhook_url": url})


def test_unresolvable_host_is_retried_later(env: pytest.MonkeyPatch) -> None:
    result = SlackChannel().send({"webhook_url": "https://hooks.invalid/services/x"}, MESSAGE)
    assert (result.ok, result.retryable) == (False, True)
    assert "does not resolve" in result.detail
