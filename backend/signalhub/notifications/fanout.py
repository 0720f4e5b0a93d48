"""Fan-out: from stored signals to one notification per (user, signal) and one delivery per channel."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from signalhub.alerts import repository as rules_repository
from signalhub.core.config import get_settings
from signalhub.models.signal import Signal
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
    matches: dict[tuple[int, int], list[Row[Any]]] = defaultdict(list)
    for signal in signals:
        for rule in rules:
            if matching.rule_matches(rule, signal.ticker, signal.strategy, signal.action, signal.grade,
                                     watchlists.get(rule.user_id, set())):
                matches[(rule.user_id, signal.id)].append(rule)

    longest = max((r.cooldown_minutes for r in rules), default=0)
    recent = repository.last_rule_notifications(
        session, [r.id for r in rules if r.cooldown_minutes], now - timedelta(minutes=longest)) if longest else set()
    by_id = {s.id: s for s in signals}
    pairs: list[Match] = []
    for (user_id, signal_id), candidates in matches.items():
        # A rule in its cooldown for this ticker stays quiet; another matching rule may still speak.
        live = [r for r in candidates if not (r.cooldown_minutes and (r.id, by_id[signal_id].ticker) in recent)]
        result.skipped_cooldown += len(candidates) - len(live)
        if live:
            pairs.append(Match(user_id, by_id[signal_id], live[0].timezone, live))
    message_ids = _store_messages(session, pairs)
    for start in range(0, len(pairs), chunk_size):
        part = _store(session, pairs[start:start + chunk_size], message_ids, now)
        result.notifications += part.notifications
        result.deliveries += part.deliveries
        result.due_ids.extend(part.due_ids)
        if on_chunk is not None:
            on_chunk(part)
    return result


@dataclass(frozen=True)
class Match:
    """A user to tell about a signal, in their time zone, and the rules of theirs it matched."""

    user_id: int
    signal: Signal
    timezone: str
    rules: list[Row[Any]]

    @property
    def message_key(self) -> str:
        """Users in the same time zone read the same message about a signal."""
        return f"signal:{self.signal.id}:zone:{self.timezone}"


def _store_messages(session: Session, pairs: Sequence[Match]) -> dict[str, int]:
    """Render each matched signal once per time zone and store it once; {message key: id}."""
    base_url = get_settings().public_base_url
    rendered: dict[str, Message] = {}
    for match in pairs:
        if match.message_key not in rendered:
            rendered[match.message_key] = render_signal(signal_payload(match.signal), delivery_id=match.message_key,
                                                        user_timezone=match.timezone, base_url=base_url)
    return repository.store_messages(session, rendered)


def _store(session: Session, pairs: Sequence[Match], message_ids: dict[str, int], now: datetime) -> FanoutResult:
    """Notifications and deliveries of some (user, signal) matches."""
    result = FanoutResult()
    rows, plan = [], {}
    for match in pairs:
        key = f"signal:{match.signal.id}:user:{match.user_id}"
        rows.append({"user_id": match.user_id, "dedup_key": key, "kind": "signal", "rule_id": match.rules[0].id,
                     "signal_id": match.signal.id, "ticker": match.signal.ticker,
                     "message_id": message_ids[match.message_key], "created_at": now})
        plan[key] = match
    created = repository.insert_notifications(session, rows)
    result.notifications = len(created)

    channel_owners = repository.active_channel_kinds(
        session, {cid for match in plan.values() for r in match.rules for cid in r.channel_ids})
    deliveries = []
    for key, notification_id in created.items():
        match = plan[key]
        status, when = "queued", now
        quiet = [q for q in (matching.quiet_until(r, match.timezone, now) for r in match.rules) if q is not None]
        if quiet and len(quiet) == len(match.rules):
            when = max(quiet)  # every matching rule is in its quiet hours: wait until they all end
        if all(r.digest_minutes for r in match.rules):
            status, when = "held", max(when, matching.digest_window_end(min(r.digest_minutes for r in match.rules),
                                                                        now))
        for cid in sorted({cid for r in match.rules for cid in r.channel_ids}):
            owner_kind = channel_owners.get(cid)
            if owner_kind is None or owner_kind[0] != match.user_id:
                continue
            deliveries.append({"notification_id": notification_id, "channel_id": cid, "user_id": match.user_id,
                               "channel_kind": owner_kind[1], "status": status, "next_attempt_at": when,
                               "created_at": now, "updated_at": now})
    inserted = repository.insert_deliveries(session, deliveries)
    result.deliveries = len(inserted)
    # Deliveries deferred by quiet hours are queued too; sending claims only those already due.
    result.due_ids = [did for did, status in inserted if status == "queued"]
    return result
