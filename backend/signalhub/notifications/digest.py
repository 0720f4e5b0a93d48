"""Digests: held deliveries of a closed window become one message per user and channel."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.core.config import get_settings
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.user import User
from signalhub.notifications import repository
from signalhub.notifications.render import render_digest


def build_digests(session: Session, now: datetime) -> list[int]:
    """Turn every closed window's held deliveries into one digest delivery per channel; returns their ids."""
    held = repository.held_digest_deliveries(session, now)
    if not held:
        return []
    groups: dict[tuple[int, int], list] = defaultdict(list)
    for delivery, notification in held:
        groups[(delivery.user_id, delivery.channel_id)].append((delivery, notification))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_({u for u, _ in groups})))}
    channels = {c.id: c for c in session.scalars(
        select(NotificationChannel).where(NotificationChannel.id.in_({c for _, c in groups})))}
    base_url = get_settings().public_base_url
    messages, members = {}, {}
    for (user_id, channel_id), items in groups.items():
        # Keyed by the first held delivery: a re-run after a crash finds the same digest, not a second one.
        key = f"digest:{channel_id}:{items[0][0].id}"
        messages[key] = render_digest([n.data.get("payload", {}) for _, n in items], delivery_id=key,
                                      user_timezone=users[user_id].timezone, base_url=base_url)
        members[key] = (user_id, channel_id, items)
    message_ids = repository.store_messages(session, messages, owned=True)
    created = repository.insert_notifications(session, [
        {"user_id": user_id, "dedup_key": key, "kind": "digest", "message_id": message_ids[key], "created_at": now}
        for key, (user_id, _channel_id, _items) in members.items()])
    deliveries = []
    for key, (user_id, channel_id, items) in members.items():
        digest_id = created.get(key)
        if digest_id is None:
            continue
        for delivery, _ in items:
            delivery.status, delivery.digest_id, delivery.updated_at = "digested", digest_id, now
        deliveries.append({"notification_id": digest_id, "channel_id": channel_id, "user_id": user_id,
                           "channel_kind": channels[channel_id].kind, "status": "queued", "next_attempt_at": now,
                           "created_at": now, "updated_at": now})
    session.flush()
    return [did for did, _ in repository.insert_deliveries(session, deliveries)]
