"""Telegram: the Bot API's sendMessage, with the platform's bot token."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import httpx

from signalhub.core.config import get_settings
from signalhub.notifications.channels.base import Message, SendResult, truncate_utf16, utf16_len

MAX_TEXT_UTF16 = 4096  # Bot API limit after entity parsing; Telegram counts UTF-16 code units
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
_NUMERIC_ID = re.compile(r"^-?\d{1,20}$")


class TelegramChannel:
    """Messages from the platform's Telegram bot to a user, group or channel chat."""

    kind = "telegram"

    def __init__(self, api_base: str | None = None, bot_token: str | None = None) -> None:
        # Explicit values win over settings (read at send time, so configuration changes apply).
        self._api_base = api_base
        self._bot_token = bot_token

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Accept {"chat_id": integer id or "@channelname"}; numeric strings become integers."""
        chat_id = config.get("chat_id") if isinstance(config, Mapping) else None
        if isinstance(chat_id, bool) or chat_id is None:
            raise ValueError("chat_id: required (a numeric chat id or @channelname)")
        if isinstance(chat_id, int):
            if chat_id == 0:
                raise ValueError("chat_id: must not be 0")
            return {"chat_id": chat_id}
        if isinstance(chat_id, str):
            value = chat_id.strip()
            if _NUMERIC_ID.match(value) and int(value) != 0:
                return {"chat_id": int(value)}
            if _USERNAME.match(value):
                return {"chat_id": value}
        raise ValueError("chat_id: must be a numeric chat id or @channelname (5-32 letters, digits, _)")

    def destination(self, config: Mapping[str, Any]) -> str:
        """Telegram throttles per chat (about one message a second)."""
        return f"telegram:{config.get('chat_id')}"

    @staticmethod
    def render(message: Message) -> str:
        """HTML text: bold title, then the body; every user-visible part escaped, within the length limit."""
        title = truncate_utf16(message.title, 256)
        body = truncate_utf16(message.text, MAX_TEXT_UTF16 - utf16_len(title) - 1)
        # Truncate before escaping: the limit applies to the text after entities are parsed, and cutting
        # escaped text could split an entity like "&amp;".
        return f"<b>{html.escape(title, quote=False)}</b>\n{html.escape(body, quote=False)}"

    def send(self, config: Mapping[str, Any], message: Message) -> SendResult:
        """POST sendMessage and map the Bot API's answer to a SendResult."""
        settings = get_settings()
        token = self._bot_token or settings.telegram_bot_token
        if not token:
            return SendResult(ok=False, retryable=False, detail="telegram not configured: set TELEGRAM_BOT_TOKEN")
        try:
            chat_id = self.validate_config(config)["chat_id"]
        except ValueError as exc:
            return SendResult(ok=False, retryable=False, detail=f"invalid config: {exc}")
        base = (self._api_base or settings.telegram_api_base).rstrip("/")
        body = {"chat_id": chat_id, "text": self.render(message), "parse_mode": "HTML",
                "disable_web_page_preview": True}
        try:
            response = httpx.post(f"{base}/bot{token}/sendMessage", json=body,
                                  timeout=settings.notify_http_timeout_seconds)
        except httpx.HTTPError as exc:
            # Never echo the URL: it carries the bot token.
            return SendResult(ok=False, retryable=True, detail=f"telegram unreachable: {type(exc).__name__}")
        return self._classify(response, token)

    @staticmethod
    def _classify(response: httpx.Response, token: str) -> SendResult:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        description = str(answer.get("description") or response.reason_phrase or "").replace(token, "***")
        code = answer.get("error_code") if isinstance(answer.get("error_code"), int) else status
        if status == 200 and answer.get("ok") is True:
            result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
            return SendResult(ok=True, status_code=status, detail=f"message_id {result.get('message_id')}")
        parameters = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
        if code == 429 or status == 429:
            retry_after = parameters.get("retry_after")
            return SendResult(ok=False, retryable=True, status_code=status, detail=description or "too many requests",
                              retry_after=float(retry_after) if isinstance(retry_after, int | float) else None)
        if status >= 500 or status == 200:
            # 200 without ok:true is not the Bot API talking (a proxy page?): try again later.
            return SendResult(ok=False, retryable=True, status_code=status,
                              detail=f"telegram error {status}: {description}".rstrip(": "))
        if "migrate_to_chat_id" in parameters:
            description = f"{description} (new chat_id {parameters['migrate_to_chat_id']})"
        # 400 chat not found / bad request, 401 bad token, 403 bot blocked or kicked: trying again won't help.
        return SendResult(ok=False, retryable=False, status_code=status, detail=description or f"HTTP {status}")
