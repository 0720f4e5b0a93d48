"""Fan-out: from stored signals to one notification per (user, signal) and one delivery per channel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.alerts import repository as rules_repository
from signalhub.core.config import get_settings
from signalhub.models.alert_rule import AlertRule
from signalhub.models.signal import Signal
from signalhub.models.user import User
from signalhub.models.watchlist_item import WatchlistItem
from signalhub.notifications import matching, repository
from signalhub.notifications.channels.base import Message
from signalhub.notifications.render import render_signal


@dataclass
class FanoutResult:
    """What a fan-out created; `due_ids` are deliveries to send now."""

    notifications: int = 0
    deliveries: int = 0
    due_ids: list[int] = field(default_factory=list)
    skipped_cooldown: int = 0


def signal_payload(signal: Signal) -> dict[str, Any]:
    """The JSON-ready view of a signal that notifications carry."""
    return {
        "id": signal.id, "ticker": signal.ticker, "strategy": signal.strategy, "interval": signal.interval,
        "bar_ts": signal.bar_ts.isoformat(), "action": signal.action, "grade": signal.grade,
        "price": signal.price, "technical_confidence": signal.technical_confidence,
        "combined_confidence": signal.combined_confidence, "technical_only": signal.technical_only,
        "model_direction": signal.model_direction, "model_confidence": signal.model_confidence,
        "model_predicted_return": signal.model_predicted_return, "model_version": signal.model_version,
        "reasons": list(signal.reasons),
    }


def _watchlists(session: Session, user_ids: set[int]) -> dict[int, set[str]]:
    lists: dict[int, set[str]] = defaultdict(set)
    if user_ids:
        stmt = select(WatchlistItem.user_id, WatchlistItem.ticker).where(WatchlistItem.user_id.in_(list(user_ids)))
        for user_id, ticker in session.execute(stmt):
            lists[user_id].add(ticker)
    return lists


def fan_out(session: Session, signal_ids: Sequence[int], now: datetime, *, chunk_size: int = 2000,
            on_chunk: Callable[[FanoutResult], None] | None = None) -> FanoutResult:
    """Match signals against every active rule and store notifications and deliveries (idempotent).

    Matches are stored `chunk_size` at a time; `on_chunk` sees each part as soon as it is stored, so a caller
    can commit it and start sending while the rest is still being written."""
    result = FanoutResult()
    signals = list(session.scalars(select(Signal).where(Signal.id.in_(list(signal_ids))).order_by(Signal.id)))
    rules = rules_repository.active_rules(session)
    if not signals or not rules:
        return result
    watchlists = _watchlists(session, {r.user_id for r in rules if r.use_watchlist})
    matches: dict[tuple[int, int], list[AlertRule]] = defaultdict(list)
    for signal in signals:
        for rule in rules:
            if matching.rule_matches(rule, signal.ticker, signal.strategy, signal.action, signal.grade,
                                     watchlists.get(rule.user_id, set())):
                matches[(rule.user_id, signal.id)].append(rule)

    longest = max((r.cooldown_minutes for r in rules), default=0)
    recent = repository.last_rule_notifications(
        session, [r.id for r in rules if r.cooldown_minutes], now - timedelta(minutes=longest)) if longest else set()
    by_id = {s.id: s for s in signals}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({uid for uid, _ in matches})))}
    pairs = list(matches.items())
    rendered: dict[tuple[int, str], Message] = {}
    for start in range(0, len(pairs), chunk_size):
        part = _store(session, pairs[start:start + chunk_size], by_id, users, recent, now, rendered)
        result.notifications += part.notifications
        result.deliveries += part.deliveries
        result.skipped_cooldown += part.skipped_cooldown
        result.due_ids.extend(part.due_ids)
        if on_chunk is not None:
            on_chunk(part)
    return result


def _store(session: Session, pairs: Sequence[tuple[tuple[int, int], list[AlertRule]]], by_id: dict[int, Signal],
           users: dict[int, User], recent: set[tuple[int, str]], now: datetime,
           rendered: dict[tuple[int, str], Message]) -> FanoutResult:
    """Notifications and deliveries of some (user, signal) matches (`rendered`: messages by signal and zone)."""
    result = FanoutResult()
    base_url = get_settings().public_base_url
    rows, plan = [], {}
    for (user_id, signal_id), candidates in pairs:
        signal = by_id[signal_id]
        # A rule in its cooldown for this ticker stays quiet; another matching rule may still speak.
        live = [r for r in candidates if not (r.cooldown_minutes and (r.id, signal.ticker) in recent)]
        result.skipped_cooldown += len(candidates) - len(live)
        if not live:
            continue
        key = f"signal:{signal_id}:user:{user_id}"
        zone = users[user_id].timezone
        message = rendered.get((signal_id, zone))
        if message is None:
            # Users in the same time zone read the same message: render it once per signal and zone.
            message = rendered[(signal_id, zone)] = render_signal(signal_payload(signal), delivery_id=key,
                                                                  user_timezone=zone, base_url=base_url)
        rows.append({"user_id": user_id, "dedup_key": key, "kind": "signal", "rule_id": live[0].id,
                     "signal_id": signal_id, "ticker": signal.ticker, "title": message.title[:300],
                     "body": message.text, "data": {"payload": dict(message.data), "html": message.html},
                     "created_at": now})
        plan[key] = (users[user_id], live)
    created = repository.insert_notifications(session, rows)
    result.notifications = len(created)

    channel_ids = {cid for _, live in plan.values() for r in live for cid in r.channel_ids}
    channels = repository.active_channels(session, list(channel_ids))
    deliveries = []
    for key, notification_id in created.items():
        user, live = plan[key]
        status, when = "queued", now
        quiet = [q for q in (matching.quiet_until(r, user.timezone, now) for r in live) if q is not None]
        if quiet and len(quiet) == len(live):
            when = max(quiet)  # every matching rule is in its quiet hours: wait until they all end
        if all(r.digest_minutes for r in live):
            status, when = "held", max(when, matching.digest_window_end(min(r.digest_minutes for r in live), now))
        for cid in sorted({cid for r in live for cid in r.channel_ids}):
            channel = channels.get(cid)
            if channel is None or channel.user_id != user.id:
                continue
            deliveries.append({"notification_id": notification_id, "channel_id": cid, "user_id": user.id,
                               "channel_kind": channel.kind, "status": status, "next_attempt_at": when,
                               "created_at": now, "updated_at": now})
    inserted = repository.insert_deliveries(session, deliveries)
    result.deliveries = len(inserted)
    # Deliveries deferred by quiet hours are queued too; sending claims only those already due.
    result.due_ids = [did for did, status in inserted if status == "queued"]
    return result
