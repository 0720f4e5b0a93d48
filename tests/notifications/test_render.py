"""Rendering signals, digests and notices into messages: titles, numbers, time zones, escaping, JSON data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from signalhub.notifications.render import render_digest, render_notice, render_signal

BASE = "https://signals.example.com"


def make_signal(**overrides: Any) -> dict[str, Any]:
    """A graded signal as the fan-out passes it (a mapping of the stored row's fields)."""
    signal = {
        "id": 42, "ticker": "AAPL", "strategy": "macd_cross", "interval": "1d",
        "bar_ts": datetime(2024, 1, 2, 14, 30, tzinfo=UTC), "action": "BUY", "grade": "STRONG_BUY",
        "technical_confidence": 0.78, "model_direction": "up", "model_confidence": 0.91,
        "model_predicted_return": 0.012, "model_version": "v3", "combined_confidence": 0.86,
        "technical_only": False, "price": 188.38,
        "reasons": ["MACD crossed <above> signal & RSI rising", "volume 2x average"],
    }
    signal.update(overrides)
    return signal


def test_signal_title_text_and_link() -> None:
    message = render_signal(make_signal(), delivery_id="d-1", user_timezone="America/New_York", base_url=BASE + "/")

    assert message.delivery_id == "d-1"
    assert message.title == "🟢 STRONG_BUY AAPL @ 188.38"
    text = message.text
    for expected in ("macd_cross (1d)", "188.38", "86% combined", "technical 78%", "up 91%", "expected +1.20%",
                     "model v3", "2024-01-02 09:30 EST (America/New_York)", "2024-01-02 14:30 UTC",
                     "- MACD crossed <above> signal & RSI rising", "- volume 2x average",
                     f"{BASE}/api/v1/signals/42"):
        assert expected in text, expected


def test_bar_time_is_shown_in_the_users_zone() -> None:
    message = render_signal(make_signal(), delivery_id="d", user_timezone="Asia/Seoul", base_url=BASE)
    assert "2024-01-02 23:30 KST (Asia/Seoul)" in message.text
    assert "2024-01-02 14:30 UTC" in message.text


def test_unknown_time_zone_falls_back_to_utc() -> None:
    message = render_signal(make_signal(), delivery_id="d", user_timezone="Mars/Olympus", base_url=BASE)
    assert "2024-01-02 14:30 UTC (UTC)" in message.text


@pytest.mark.parametrize(("grade", "emoji"), [("STRONG_BUY", "🟢"), ("BUY", "🟩"), ("HOLD", "⚪"), ("SELL", "🟥"),
                                              ("STRONG_SELL", "🔴")])
def test_emoji_per_grade(grade: str, emoji: str) -> None:
    message = render_signal(make_signal(grade=grade), delivery_id="d", user_timezone="UTC", base_url=BASE)
    assert message.title == f"{emoji} {grade} AAPL @ 188.38"


def test_technical_only_signal_says_so() -> None:
    signal = make_signal(model_direction=None, model_confidence=None, model_predicted_return=None,
                         model_version=None, technical_only=True, combined_confidence=0.78)
    message = render_signal(signal, delivery_id="d", user_timezone="UTC", base_url=BASE)
    assert "technical only" in message.text
    assert "up 91%" not in message.text
    assert message.data["technical_only"] is True
    assert message.data["model_direction"] is None


def test_html_is_escaped() -> None:
    signal = make_signal(reasons=['<script>alert("x")</script>'], strategy="a<b>")
    message = render_signal(signal, delivery_id="d", user_timezone="UTC", base_url=BASE)
    assert message.html is not None
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in message.html
    assert "a&lt;b&gt;" in message.html
    assert "🟢 STRONG_BUY AAPL" in message.html
    assert f'href="{BASE}/api/v1/signals/42"' in message.html


def test_data_is_json_ready_with_iso_utc_times() -> None:
    message = render_signal(make_signal(), delivery_id="d", user_timezone="Asia/Seoul", base_url=BASE)
    data = json.loads(json.dumps(message.data))
    assert data["type"] == "signal"
    assert data["signal_id"] == 42
    assert data["ticker"] == "AAPL" and data["grade"] == "STRONG_BUY" and data["action"] == "BUY"
    assert data["price"] == 188.38
    assert data["combined_confidence"] == 0.86
    assert data["model_direction"] == "up" and data["model_version"] == "v3"
    assert data["bar_ts"] == "2024-01-02T14:30:00Z"
    assert data["reasons"][0] == "MACD crossed <above> signal & RSI rising"
    assert data["url"] == f"{BASE}/api/v1/signals/42"


@pytest.mark.parametrize("bar_ts", ["2024-01-02T14:30:00+00:00", "2024-01-02T14:30:00Z",
                                    datetime(2024, 1, 2, 14, 30), "2024-01-02T23:30:00+09:00"])
def test_bar_time_accepts_iso_strings_and_naive_utc(bar_ts: Any) -> None:
    message = render_signal(make_signal(bar_ts=bar_ts), delivery_id="d", user_timezone="UTC", base_url=BASE)
    assert message.data["bar_ts"] == "2024-01-02T14:30:00Z"


def test_digest_counts_and_one_line_per_signal() -> None:
    signals = [make_signal(id=i, ticker=t, grade=g, action=g) for i, (t, g) in enumerate(
        [("AAPL", "BUY"), ("MSFT", "SELL"), ("NVDA", "BUY"), ("TSLA", "SELL"), ("AMZN", "BUY")], start=1)]
    message = render_digest(signals, delivery_id="dg", user_timezone="UTC", base_url=BASE)

    assert message.title == "5 signals: 3 BUY, 2 SELL"
    lines = [line for line in message.text.splitlines() if line.startswith(("🟩", "🟥"))]
    assert len(lines) == 5
    assert lines[1].startswith("🟥 SELL MSFT @ 188.38")
    assert f"{BASE}/api/v1/signals/5" in message.text
    data = json.loads(json.dumps(message.data))
    assert data["type"] == "digest" and data["count"] == 5 and data["counts"] == {"BUY": 3, "SELL": 2}
    assert [s["ticker"] for s in data["signals"]] == ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN"]
    assert message.html is not None and "&lt;above&gt;" not in message.html  # reasons are not in the digest


def test_digest_accepts_rendered_signal_payloads() -> None:
    # The digest job passes the stored `data` of earlier signal notifications, not the signal rows.
    payloads = [render_signal(make_signal(id=i, grade=g), delivery_id=f"d{i}", user_timezone="UTC",
                              base_url=BASE).data for i, g in ((7, "STRONG_BUY"), (8, "HOLD"))]
    direct = render_digest([make_signal(id=7, grade="STRONG_BUY"), make_signal(id=8, grade="HOLD")],
                           delivery_id="dg", user_timezone="Asia/Seoul", base_url=BASE)
    message = render_digest(payloads, delivery_id="dg", user_timezone="Asia/Seoul", base_url=BASE)
    assert message.title == direct.title == "2 signals: 1 STRONG_BUY, 1 HOLD"
    assert message.text == direct.text
    assert message.data == direct.data
    assert f"{BASE}/api/v1/signals/8" in message.text and "23:30 KST" in message.text


def test_digest_of_one_signal_is_singular() -> None:
    message = render_digest([make_signal()], delivery_id="dg", user_timezone="UTC", base_url=BASE)
    assert message.title == "1 signal: 1 STRONG_BUY"


def test_notice_escapes_html_and_keeps_data() -> None:
    message = render_notice("⚠️ Your webhook keeps failing", "Last error: <500> & more.\n\nCheck it.",
                            delivery_id="n-1", data={"type": "channel_failing", "channel_id": 7,
                                                     "at": datetime(2024, 1, 2, tzinfo=UTC)})
    assert message.title == "⚠️ Your webhook keeps failing"
    assert message.text.startswith("Last error: <500> & more.")
    assert message.html is not None and "&lt;500&gt; &amp; more." in message.html and "<500>" not in message.html
    assert json.loads(json.dumps(message.data)) == {"type": "channel_failing", "channel_id": 7,
                                                    "at": "2024-01-02T00:00:00Z"}
    assert render_notice("t", "x", delivery_id="n").data == {"type": "notice"}
