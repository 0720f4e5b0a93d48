"""E-mail through a real SMTP server on loopback (STARTTLS + AUTH), its failure classes, and the outbox."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from signalhub.notifications.channels.email import EmailChannel
from signalhub.notifications.render import render_signal
from tests.fakes.smtp import PASSWORD, USERNAME, FakeSMTPServer
from tests.notifications.test_render import make_signal

SENDER = "Signalhub Alerts <alerts@signalhub.test>"
RECIPIENT = "trader@example.com"


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    """A fresh STARTTLS + AUTH SMTP server."""
    with FakeSMTPServer().running() as server:
        yield server


@pytest.fixture
def smtp_env(env: pytest.MonkeyPatch, smtp_server: FakeSMTPServer) -> pytest.MonkeyPatch:
    """Settings pointing at the fake server with the right credentials."""
    env.setenv("SMTP_HOST", smtp_server.host)
    env.setenv("SMTP_PORT", str(smtp_server.port))
    env.setenv("SMTP_USERNAME", USERNAME)
    env.setenv("SMTP_PASSWORD", PASSWORD)
    env.setenv("SMTP_FROM", SENDER)
    env.setenv("SMTP_TIMEOUT_SECONDS", "5")
    return env


def message(delivery_id: str = "dlv_101"):
    """A rendered STRONG_BUY signal."""
    return render_signal(make_signal(), delivery_id=delivery_id, user_timezone="Asia/Seoul",
                         base_url="https://signals.example.com")


def parse(raw: bytes) -> EmailMessage:
    """Parse received bytes the way a mail client would."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sends_multipart_utf8_over_starttls_with_auth(smtp_env: pytest.MonkeyPatch,
                                                       smtp_server: FakeSMTPServer) -> None:
    msg = message()
    result = EmailChannel(ssl_context=smtp_server.client_ssl_context()).send({"address": RECIPIENT}, msg)

    assert result.ok, result.detail
    assert len(smtp_server.messages) == 1
    received = smtp_server.messages[0]
    assert received.tls and received.authenticated and received.login == USERNAME
    assert received.mail_from == "alerts@signalhub.test"
    assert received.rcpt_tos == [RECIPIENT]
    assert smtp_server.auth_attempts[0][1:] == (USERNAME, True)

    email = parse(received.content)
    assert email["Subject"] == "🟢 STRONG_BUY AAPL @ 188.38"
    assert email["From"] == SENDER
    assert email["To"] == RECIPIENT
    assert email["Message-ID"].startswith("<dlv_101@signalhub.test>")
    assert email.get_content_type() == "multipart/alternative"
    text_part = email.get_body(preferencelist=("plain",))
    html_part = email.get_body(preferencelist=("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content_charset() == "utf-8" and html_part.get_content_charset() == "utf-8"
    text, html = text_part.get_content(), html_part.get_content()
    for expected in ("🟢 STRONG_BUY AAPL @ 188.38", "86% combined", "technical 78%", "up 91%",
                     "2024-01-02 23:30 KST (Asia/Seoul)", "2024-01-02 14:30 UTC",
                     "https://signals.example.com/api/v1/signals/42"):
        assert expected in text, expected
    assert "🟢 STRONG_BUY AAPL" in html and "188.38" in html and "86% combined" in html
    assert "&lt;above&gt;" in html
    # Bodies travel 7-bit clean: nothing above ASCII on the wire.
    assert received.content.isascii()


def test_retry_carries_the_same_message_id(smtp_env: pytest.MonkeyPatch, smtp_server: FakeSMTPServer) -> None:
    channel = EmailChannel(ssl_context=smtp_server.client_ssl_context())
    assert channel.send({"address": RECIPIENT}, message("dlv_7")).ok
    assert channel.send({"address": RECIPIENT}, message("dlv_7")).ok
    first, second = (parse(m.content)["Message-ID"] for m in smtp_server.messages)
    assert first == second == "<dlv_7@signalhub.test>"


@pytest.mark.parametrize(("reply", "stage", "retryable"), [
    ("451 4.3.0 Temporary local problem, try later", "rcpt", True),
    ("452 4.2.2 Mailbox full", "data", True),
    ("550 5.1.1 Mailbox unavailable", "rcpt", False),
    ("554 5.7.1 Message rejected", "data", False),
])
def test_smtp_reply_codes_are_classified(smtp_env: pytest.MonkeyPatch, smtp_server: FakeSMTPServer, reply: str,
                                         stage: str, retryable: bool) -> None:
    channel = EmailChannel(ssl_context=smtp_server.client_ssl_context())
    smtp_server.fail_next(reply, count=1, stage=stage)

    result = channel.send({"address": RECIPIENT}, message())

    assert not result.ok
    assert result.retryable is retryable
    assert result.status_code == int(reply[:3])
    assert reply[:3] in result.detail and reply[4:] in result.detail
    assert smtp_server.messages == []
    # The failure was for one message only: the next one goes through.
    assert channel.send({"address": RECIPIENT}, message()).ok


def test_wrong_password_is_permanent_with_a_clear_detail(smtp_env: pytest.MonkeyPatch,
                                                         smtp_server: FakeSMTPServer) -> None:
    smtp_env.setenv("SMTP_PASSWORD", "wrong")
    result = EmailChannel(ssl_context=smtp_server.client_ssl_context()).send({"address": RECIPIENT}, message())

    assert not result.ok and not result.retryable
    assert result.status_code == 535
    assert "authentication failed" in result.detail and "SMTP_PASSWORD" in result.detail
    assert "wrong" not in result.detail
    assert smtp_server.messages == []


def test_untrusted_certificate_is_refused_by_default(smtp_env: pytest.MonkeyPatch,
                                                     smtp_server: FakeSMTPServer) -> None:
    result = EmailChannel().send({"address": RECIPIENT}, message())
    assert not result.ok and not result.retryable
    assert "certificate" in result.detail
    assert smtp_server.auth_attempts == [] and smtp_server.messages == []


def test_server_down_is_retryable(env: pytest.MonkeyPatch) -> None:
    env.setenv("SMTP_HOST", "127.0.0.1")
    env.setenv("SMTP_PORT", str(free_port()))
    result = EmailChannel().send({"address": RECIPIENT}, message())
    assert not result.ok and result.retryable
    assert "ConnectionRefused" in result.detail


def test_silent_server_times_out_retryably(env: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # the kernel completes the handshake; nobody ever sends the greeting
        env.setenv("SMTP_HOST", "127.0.0.1")
        env.setenv("SMTP_PORT", str(listener.getsockname()[1]))
        env.setenv("SMTP_TIMEOUT_SECONDS", "0.3")
        result = EmailChannel().send({"address": RECIPIENT}, message())
    assert not result.ok and result.retryable
    assert "timed out" in result.detail


def test_without_smtp_host_the_mail_goes_to_the_outbox(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    outbox = tmp_path / "deep" / "outbox"
    env.delenv("SMTP_HOST", raising=False)
    env.setenv("EMAIL_OUTBOX_DIR", str(outbox))
    env.setenv("SMTP_FROM", SENDER)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("no connection may be attempted without an SMTP host")

    env.setattr(smtplib, "SMTP", no_network)
    env.setattr(socket, "create_connection", no_network)

    result = EmailChannel().send({"address": RECIPIENT}, message("dlv_55"))

    assert result.ok and result.detail == "written to outbox (no SMTP configured)"
    assert [p.name for p in outbox.iterdir()] == ["dlv_55.eml"]
    email = parse((outbox / "dlv_55.eml").read_bytes())
    assert email["Subject"] == "🟢 STRONG_BUY AAPL @ 188.38"
    assert email["To"] == RECIPIENT and email["From"] == SENDER
    assert "86% combined" in email.get_body(preferencelist=("plain",)).get_content()


def test_outbox_file_name_cannot_escape_the_directory(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.delenv("SMTP_HOST", raising=False)
    env.setenv("EMAIL_OUTBOX_DIR", str(tmp_path))
    assert EmailChannel().send({"address": RECIPIENT}, message("../../etc/x")).ok
    assert [p.name for p in tmp_path.iterdir()] == ["..-..-etc-x.eml"]


def test_validate_config() -> None:
    channel = EmailChannel()
    assert channel.validate_config({"address": " Trader@Example.COM "}) == {"address": "Trader@example.com"}
    assert channel.destination({"address": "Trader@example.com"}) == "trader@example.com"
    for bad in ({}, {"address": ""}, {"address": "not-an-address"}, {"address": "a@b"}, {"address": 5},
                {"address": "two@@example.com"}):
        with pytest.raises(ValueError, match="address"):
            channel.validate_config(bad)
