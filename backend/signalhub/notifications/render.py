"""Turning signals and system notices into a `Message`: a title, a plain-text body, an HTML body and JSON data."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from signalhub.notifications.channels.base import Message

GRADE_EMOJI: dict[str, str] = {
    "STRONG_BUY": "🟢",
    "BUY": "🟩",
    "HOLD": "⚪",
    "SELL": "🟥",
    "STRONG_SELL": "🔴",
}
GRADE_ORDER = ("STRONG_BUY", "BUY", "HOLD", "SELL", "STRONG_SELL")
_GRADE_COLOUR = {"STRONG_BUY": "#15803d", "BUY": "#16a34a", "HOLD": "#6b7280", "SELL": "#dc2626",
                 "STRONG_SELL": "#991b1b"}
_UTC_FORMAT = "%Y-%m-%d %H:%M UTC"


def render_signal(signal: Mapping[str, Any], *, delivery_id: str, user_timezone: str, base_url: str) -> Message:
    """Render one signal for a user: emoji title, text and HTML bodies with the key numbers, and JSON data."""
    s = _SignalView(signal, user_timezone, base_url)
    title = f"{s.emoji} {s.grade} {s.ticker} @ {s.price_text}"

    lines = [
        title,
        "",
        f"Ticker:     {s.ticker}",
        f"Strategy:   {s.strategy} ({s.interval})",
        f"Action:     {s.action} (grade {s.grade})",
        f"Price:      {s.price_text}",
        f"Confidence: {s.combined_text} combined (technical {s.technical_text})",
        f"Model:      {s.model_text}",
        f"Bar time:   {s.local_time_text}",
        f"            {s.utc_time_text}",
    ]
    if s.reasons:
        lines += ["", "Reasons:"] + [f"  - {reason}" for reason in s.reasons]
    if s.url:
        lines += ["", f"Details: {s.url}"]
    text = "\n".join(lines) + "\n"

    html = _html_document(title, _signal_html(s))
    return Message(delivery_id=delivery_id, title=title, text=text, html=html,
                   data={"type": "signal", **s.data()})


def render_digest(signals: Sequence[Mapping[str, Any]], *, delivery_id: str, user_timezone: str,
                  base_url: str) -> Message:
    """Render a batch of signals as one message: a count per grade in the title and one line per signal."""
    views = [_SignalView(signal, user_timezone, base_url) for signal in signals]
    counts = Counter(view.grade for view in views)
    ordered = [grade for grade in GRADE_ORDER if counts[grade]] + sorted(g for g in counts if g not in GRADE_ORDER)
    summary = ", ".join(f"{counts[grade]} {grade}" for grade in ordered)
    noun = "signal" if len(views) == 1 else "signals"
    title = f"{len(views)} {noun}: {summary}" if views else "0 signals"

    lines = [title, ""]
    for view in views:
        line = (f"{view.emoji} {view.grade} {view.ticker} @ {view.price_text} - {view.strategy} ({view.interval}), "
                f"{view.combined_text} confidence, {view.local_time_text}")
        lines.append(line)
        if view.url:
            lines.append(f"    {view.url}")
    text = "\n".join(lines) + "\n"

    rows = "".join(_digest_row_html(view) for view in views)
    body = (f'<h2 style="margin:0 0 12px">{escape(title)}</h2>'
            f'<table cellpadding="6" style="border-collapse:collapse;font-size:14px">{rows}</table>')
    return Message(delivery_id=delivery_id, title=title, text=text, html=_html_document(title, body),
                   data={"type": "digest", "count": len(views),
                         "counts": {grade: counts[grade] for grade in ordered},
                         "signals": [view.data() for view in views]})


def render_notice(title: str, text: str, *, delivery_id: str, data: Mapping[str, Any] | None = None) -> Message:
    """Render a system notice (e.g. "your webhook keeps failing") with the given structured data."""
    paragraphs = "".join(f'<p style="margin:0 0 12px">{escape(p).replace(chr(10), "<br>")}</p>'
                         for p in text.split("\n\n") if p.strip())
    body = f'<h2 style="margin:0 0 12px">{escape(title)}</h2>{paragraphs}'
    return Message(delivery_id=delivery_id, title=title, text=text if text.endswith("\n") else text + "\n",
                   html=_html_document(title, body), data={"type": "notice", **_json_ready(dict(data or {}))})


class _SignalView:
    """A signal's fields, normalised and formatted once for every output."""

    def __init__(self, signal: Mapping[str, Any], user_timezone: str, base_url: str) -> None:
        # A stored notification payload (the `data` of render_signal) names it signal_id; digests pass those.
        self.id = signal.get("id", signal.get("signal_id"))
        self.ticker = str(signal.get("ticker", "?"))
        self.strategy = str(signal.get("strategy", "?"))
        self.interval = str(signal.get("interval", "?"))
        self.action = str(signal.get("action", "?"))
        self.grade = str(signal.get("grade", "?"))
        self.emoji = GRADE_EMOJI.get(self.grade, "🔔")
        self.price = _number(signal.get("price"))
        self.technical = _number(signal.get("technical_confidence"))
        self.combined = _number(signal.get("combined_confidence"))
        self.model_direction = signal.get("model_direction")
        self.model_confidence = _number(signal.get("model_confidence"))
        self.model_return = _number(signal.get("model_predicted_return"))
        self.model_version = signal.get("model_version")
        self.technical_only = bool(signal.get("technical_only")) or self.model_direction is None
        self.reasons = [str(reason) for reason in (signal.get("reasons") or [])]
        self.bar_ts = _as_utc(signal.get("bar_ts"))
        self.created_at = _as_utc(signal.get("created_at"))
        self.url = f"{base_url.rstrip('/')}/api/v1/signals/{self.id}" if self.id is not None else None
        self.zone = _zone(user_timezone)

        self.price_text = _price(self.price)
        self.combined_text = _percent(self.combined)
        self.technical_text = _percent(self.technical)
        if self.technical_only:
            self.model_text = "technical only (no model prediction)"
        else:
            parts = [f"{self.model_direction} {_percent(self.model_confidence)}"]
            if self.model_return is not None:
                parts.append(f"expected {self.model_return:+.2%}")
            if self.model_version:
                parts.append(f"model {self.model_version}")
            self.model_text = ", ".join(parts)
        if self.bar_ts is None:
            self.local_time_text = self.utc_time_text = "unknown"
        else:
            local = self.bar_ts.astimezone(self.zone)
            self.local_time_text = f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({self.zone.key})"
            self.utc_time_text = self.bar_ts.strftime(_UTC_FORMAT)

    def data(self) -> dict[str, Any]:
        """The signal as a JSON-ready dict with ISO UTC times."""
        return {
            "signal_id": self.id, "ticker": self.ticker, "strategy": self.strategy, "interval": self.interval,
            "action": self.action, "grade": self.grade, "price": self.price,
            "technical_confidence": self.technical, "combined_confidence": self.combined,
            "technical_only": self.technical_only,
            "model_direction": None if self.technical_only else str(self.model_direction),
            "model_confidence": None if self.technical_only else self.model_confidence,
            "model_predicted_return": None if self.technical_only else self.model_return,
            "model_version": None if self.technical_only or not self.model_version else str(self.model_version),
            "reasons": list(self.reasons), "bar_ts": _iso(self.bar_ts), "created_at": _iso(self.created_at),
            "url": self.url,
        }


def _signal_html(s: _SignalView) -> str:
    colour = _GRADE_COLOUR.get(s.grade, "#111827")
    rows = [
        ("Strategy", f"{s.strategy} ({s.interval})"),
        ("Action", s.action),
        ("Price", s.price_text),
        ("Confidence", f"{s.combined_text} combined (technical {s.technical_text})"),
        ("Model", s.model_text),
        ("Bar time", s.local_time_text),
        ("", s.utc_time_text),
    ]
    table = "".join(f'<tr><td style="color:#6b7280;padding-right:12px">{escape(label)}</td>'
                    f"<td>{escape(value)}</td></tr>" for label, value in rows)
    parts = [f'<h2 style="margin:0 0 12px;color:{colour}">{escape(f"{s.emoji} {s.grade} {s.ticker}")} '
             f'<span style="color:#111827">@ {escape(s.price_text)}</span></h2>']
    parts.append(f'<table cellpadding="2" style="border-collapse:collapse;font-size:14px">{table}</table>')
    if s.reasons:
        items = "".join(f"<li>{escape(reason)}</li>" for reason in s.reasons)
        parts.append(f'<p style="margin:12px 0 4px"><strong>Reasons</strong></p><ul style="margin:0">{items}</ul>')
    if s.url:
        parts.append(f'<p style="margin:12px 0 0"><a href="{escape(s.url, quote=True)}">View signal details</a></p>')
    return "".join(parts)


def _digest_row_html(s: _SignalView) -> str:
    colour = _GRADE_COLOUR.get(s.grade, "#111827")
    name = escape(s.ticker)
    link = f'<a href="{escape(s.url, quote=True)}">{name}</a>' if s.url else name
    return (f'<tr><td>{escape(s.emoji)}</td><td style="color:{colour};font-weight:bold">{escape(s.grade)}</td>'
            f"<td>{link}</td><td>@ {escape(s.price_text)}</td><td>{escape(s.strategy)} ({escape(s.interval)})</td>"
            f"<td>{escape(s.combined_text)}</td><td>{escape(s.local_time_text)}</td></tr>")


def _html_document(title: str, body: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head>"
            '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#111827">'
            f"{body}</body></html>")


def _zone(name: str) -> ZoneInfo:
    # A bad stored time zone must not stop the notification; UTC is always correct, just less convenient.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo("UTC")


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        value = value.to_pydatetime()  # pandas Timestamp
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _price(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        return _iso(_as_utc(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
