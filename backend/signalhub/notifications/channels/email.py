"""E-mail over SMTP (STARTTLS + login), or into an outbox directory of .eml files when no SMTP host is set."""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email

from signalhub.core.config import Settings, get_settings
from signalhub.notifications.channels.base import Message, SendResult

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class EmailChannel:
    """Sends a multipart (text + HTML) e-mail per message to the address in the user's config."""

    kind = "email"

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        """`ssl_context` overrides the default certificate-verifying context used for STARTTLS."""
        self._ssl_context = ssl_context

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return `{"address": <normalised address>}`, or raise ValueError naming `address`."""
        address = config.get("address")
        if not isinstance(address, str) or not address.strip():
            raise ValueError("address: an e-mail address is required")
        try:
            valid = validate_email(address.strip(), check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"address: not a valid e-mail address ({exc})") from exc
        return {"address": valid.normalized}

    def destination(self, config: Mapping[str, Any]) -> str:
        """The recipient address, lower-cased."""
        return str(config.get("address", "")).lower()

    def build_email(self, config: Mapping[str, Any], message: Message,
                    settings: Settings | None = None) -> EmailMessage:
        """The MIME message for `message`: multipart/alternative with a text and (if any) an HTML part."""
        settings = settings or get_settings()
        sender_domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "signalhub.local"
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = settings.smtp_from
        email["To"] = str(config["address"])
        email["Date"] = formatdate(usegmt=True)
        # Derived from the delivery id so a retried send carries the same Message-ID and can be recognised.
        email["Message-ID"] = f"<{_safe_id(message.delivery_id)}@{sender_domain}>"
        email["X-Signalhub-Delivery-Id"] = _safe_id(message.delivery_id)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
        # Quoted-printable keeps the body 7-bit clean, so no relay needs 8BITMIME support.
        email.set_content(message.text, charset="utf-8", cte="quoted-printable")
        if message.html:
            email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
        return email

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """Deliver once; SMTP 4xx and network trouble are retryable, 5xx and bad credentials are not."""
        settings = get_settings()
        try:
            email = self.build_email(config, message, settings)
        except (KeyError, ValueError, TypeError) as exc:
            return SendResult(ok=False, detail=f"cannot build e-mail: {exc!r}", retryable=False)
        if not settings.smtp_host:
            return self._write_outbox(settings, message.delivery_id, email)
        return self._send_smtp(settings, email, str(config["address"]))

    def _write_outbox(self, settings: Settings, delivery_id: str, email: EmailMessage) -> SendResult:
        outbox = Path(settings.email_outbox_dir)
        try:
            outbox.mkdir(parents=True, exist_ok=True)
            # Write then rename, so whoever watches the outbox never reads a half-written file.
            fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".tmp-", suffix=".eml")
            with os.fdopen(fd, "wb") as handle:
                handle.write(email.as_bytes())
            os.replace(tmp, outbox / f"{_safe_id(delivery_id)}.eml")
        except OSError as exc:
            return SendResult(ok=False, detail=f"cannot write to outbox {outbox}: {exc}", retryable=True)
        return SendResult(ok=True, detail="written to outbox (no SMTP configured)")

    def _send_smtp(self, settings: Settings, email: EmailMessage, address: str) -> SendResult:
        host, port = settings.smtp_host or "", settings.smtp_port
        envelope_from = parseaddr(settings.smtp_from)[1] or settings.smtp_from
        try:
            with smtplib.SMTP(host, port, timeout=settings.smtp_timeout_seconds) as smtp:
                smtp.ehlo()
                if settings.smtp_starttls:
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if settings.smtp_username and settings.smtp_password:
                    smtp.login(settings.smtp_username, settings.smtp_password)
                smtp.send_message(email, from_addr=envelope_from, to_addrs=[address])
        except smtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.smtp_code < 500:
                return _reply_result("SMTP authentication temporarily failed", exc.smtp_code, exc.smtp_error)
            return SendResult(ok=False, retryable=False, status_code=exc.smtp_code,
                              detail=f"SMTP authentication failed ({exc.smtp_code} {_text(exc.smtp_error)}): "
                                     "check SMTP_USERNAME and SMTP_PASSWORD")
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            return _reply_result(f"recipient {address} refused", code, reply)
        except smtplib.SMTPNotSupportedError as exc:
            return SendResult(ok=False, retryable=False,
                              detail=f"SMTP server {host}:{port} lacks a required extension: {exc}")
        except smtplib.SMTPResponseException as exc:
            return _reply_result("SMTP server rejected the message", exc.smtp_code, exc.smtp_error)
        except ssl.SSLCertVerificationError as exc:
            return SendResult(ok=False, retryable=False,
                              detail=f"TLS certificate of {host}:{port} not trusted: {exc.verify_message}")
        except TimeoutError:
            return SendResult(ok=False, retryable=True,
                              detail=f"SMTP server {host}:{port} timed out after {settings.smtp_timeout_seconds}s")
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(ok=False, retryable=True, detail=f"cannot talk to SMTP server {host}:{port}: {exc!r}")
        return SendResult(ok=True, detail=f"accepted by {host}:{port}")


def _reply_result(what: str, code: int, reply: bytes | str) -> SendResult:
    # 4xx is the server saying "not now" (greylisting, full queue); 5xx is final.
    retryable = not 500 <= code < 600
    return SendResult(ok=False, retryable=retryable, status_code=code, detail=f"{what}: {code} {_text(reply)}")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _safe_id(delivery_id: str) -> str:
    # Used in a file name and a Message-ID: no path separators, no characters a msg-id forbids.
    return _UNSAFE_ID_CHARS.sub("-", str(delivery_id)) or "delivery"
