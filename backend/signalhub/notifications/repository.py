"""All SQL for channels, notifications and deliveries; per-user reads are scoped here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, Table, any_, bindparam, cast, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from signalhub.models.notification import Notification
from signalhub.models.notification_channel import NotificationChannel
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.notification_message import NotificationMessage
from signalhub.notifications.channels.base import Message


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session):
    if _is_postgres(session):
        return postgresql.insert
    from sqlalchemy.dialects.sqlite import insert

    return insert


def _id_in(session: Session, column: Column[int], ids: Collection[int]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL one array parameter (`= ANY`), not one placeholder per id to parse."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(ids))


@dataclass(frozen=True)
class SendingRow:
    """What sending one delivery needs, read as plain columns (thousands per chunk: no ORM objects)."""

    delivery_id: int
    attempts: int
    channel_id: int
    channel_kind: str
    config_encrypted: str
    channel_failures: int
    signal_id: int | None
    message: NotificationMessage


# --- channels -------------------------------------------------------------------------------------------

def channels_for_user(session: Session, user_id: int) -> list[NotificationChannel]:
    """The user's channels, oldest first."""
    stmt = select(NotificationChannel).where(NotificationChannel.user_id == user_id).order_by(NotificationChannel.id)
    return list(session.scalars(stmt))


def get_channel_for_user(session: Session, user_id: int, channel_id: int) -> NotificationChannel | None:
    """The user's channel with this id, or None (another user's channel is None too)."""
    return session.scalar(select(NotificationChannel).where(NotificationChannel.id == channel_id,
                                                            NotificationChannel.user_id == user_id))


def active_channel_kinds(session: Session, channel_ids: Collection[int]) -> dict[int, tuple[int, str]]:
    """Active channels among these ids: {id: (owner's user id, kind)}."""
    if not channel_ids:
        return {}
    stmt = (select(NotificationChannel.id, NotificationChannel.user_id, NotificationChannel.kind)
            .where(_id_in(session, NotificationChannel.id, set(channel_ids)), NotificationChannel.is_active.is_(True)))
    return {cid: (user_id, kind) for cid, user_id, kind in session.execute(stmt)}


# --- notifications and deliveries ------------------------------------------------------------------------

def _insert_new(session: Session, table: Table, rows: Sequence[dict[str, Any]], unique: list[str],
                returning: Sequence[Column[Any]]) -> list[Row[Any]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING for many rows (all with the same keys).

    On PostgreSQL the rows travel as one array per column (`INSERT ... SELECT FROM unnest(...)`): a statement
    with a few parameters, where a multi-row VALUES list has one placeholder per value for the driver to parse
    (that parsing was half of a 10,000-user fan-out). Elsewhere: one executemany."""
    if not rows:
        return []
    if not _is_postgres(session):
        stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=unique).returning(*returning)
        return list(session.connection().execute(stmt, list(rows)))
    names = list(rows[0])
    # A value every row shares (the time, a status) goes once, as a scalar, not as an array to dump.
    shared = {name for name in names if all(row[name] == rows[0][name] for row in rows)}
    varying = [name for name in names if name not in shared] or names
    arrays = [cast(bindparam(f"unnest_{name}", [row[name] for row in rows],
                             type_=postgresql.ARRAY(table.c[name].type)), postgresql.ARRAY(table.c[name].type))
              for name in varying]
    source = func.unnest(*arrays).table_valued(*varying).render_derived()
    columns = [source.c[name] if name in varying
               else cast(bindparam(f"shared_{name}", rows[0][name], type_=table.c[name].type), table.c[name].type)
               for name in names]
    stmt = (postgresql.insert(table).from_select(names, select(*columns))
            .on_conflict_do_nothing(index_elements=unique).returning(*returning))
    return list(session.connection().execute(stmt))


def store_messages(session: Session, messages: Mapping[str, Message], *, owned: bool = False) -> dict[str, int]:
    """Store rendered messages under their keys, each key once (a stored key keeps its row); {key: id}.

    `owned`: each message belongs to the one notification whose dedup key is its key (a notice, a digest); they
    are kept apart from shared keys such as `signal:42:zone:UTC`."""
    if not messages:
        return {}
    table = NotificationMessage.__table__
    stored_key = {key: f"n:{key}" if owned else key for key in messages}
    rows = [{"key": stored_key[key], "title": message.title[:300], "body": message.text,
             "data": {"payload": dict(message.data), "html": message.html}}
            for key, message in messages.items()]
    session.connection().execute(_insert(session)(table).on_conflict_do_nothing(index_elements=["key"]), rows)
    ids = dict(session.execute(select(NotificationMessage.key, NotificationMessage.id)
                               .where(NotificationMessage.key.in_(list(stored_key.values())))).all())
    return {key: ids[stored] for key, stored in stored_key.items()}


def insert_notifications(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert notifications (rows name their `message_id`) whose dedup key is new; {dedup_key: id} of those."""
    table = Notification.__table__
    return {key: nid for nid, key in _insert_new(session, table, rows, ["dedup_key"],
                                                 [table.c.id, table.c.dedup_key])}


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert deliveries not there yet; returns (id, status) of those inserted."""
    table = NotificationDelivery.__table__
    return [(did, status) for did, status in _insert_new(session, table, rows, ["notification_id", "channel_id"],
                                                         [table.c.id, table.c.status])]


def last_rule_notifications(session: Session, rule_ids: Sequence[int], since: datetime) -> set[tuple[int, str]]:
    """(rule, ticker) pairs notified since `since` (for cooldowns)."""
    if not rule_ids:
        return set()
    stmt = (select(Notification.rule_id, Notification.ticker).distinct()
            .where(Notification.rule_id.in_(list(rule_ids)), Notification.created_at >= since))
    return {(rule_id, ticker) for rule_id, ticker in session.execute(stmt)}


def _status_of_picked(status: str) -> ColumnElement[bool]:
    """`status = status` for rows already picked by id, written so that no status index is used for it.

    The ids pick a chunk; a status index would be read for every row of that status instead (all 10,000 of a
    large fan-out while it is queued), and the planner takes it whenever its statistics lag a burst."""
    return (NotificationDelivery.status + "") == status


def claim_deliveries(session: Session, now: datetime, ids: Sequence[int]) -> list[int]:
    """Mark those of these deliveries that are queued and due as sending (one attempt more); their ids."""
    # A second claimer of the same row waits for the first to commit, then finds it no longer queued and skips
    # it: the update's own row lock is all the locking needed.
    stmt = (update(NotificationDelivery)
            .where(_id_in(session, NotificationDelivery.id, ids), _status_of_picked("queued"),
                   NotificationDelivery.next_attempt_at <= now)
            .values(status="sending", attempts=NotificationDelivery.attempts + 1, updated_at=now)
            .returning(NotificationDelivery.id))
    return list(session.scalars(stmt))


def load_for_sending(session: Session, ids: Sequence[int]) -> list[SendingRow]:
    """Deliveries being sent, with their channel's columns and their (shared) message."""
    stmt = (select(NotificationDelivery.id, NotificationDelivery.attempts, NotificationChannel.id,
                   NotificationChannel.kind, NotificationChannel.config_encrypted,
                   NotificationChannel.consecutive_failures, Notification.signal_id, Notification.message_id)
            .join(NotificationChannel, NotificationChannel.id == NotificationDelivery.channel_id)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(_id_in(session, NotificationDelivery.id, ids), _status_of_picked("sending")))
    rows = session.execute(stmt).all()
    # One signal goes to many users: load each message once, not once per delivery.
    messages = {m.id: m for m in session.scalars(
        select(NotificationMessage).where(NotificationMessage.id.in_({row[-1] for row in rows})))}
    return [SendingRow(*row[:-1], message=messages[row[-1]]) for row in rows]


def reset_channel_failures(session: Session, channel_ids: Collection[int]) -> None:
    """A successful send ends a channel's failure streak."""
    if channel_ids:
        session.execute(update(NotificationChannel).where(_id_in(session, NotificationChannel.id, channel_ids))
                        .values(consecutive_failures=0))


def record_outcomes(session: Session, outcomes: Sequence[dict[str, Any]]) -> None:
    """Write send outcomes (dicts with `id` and the changed columns): one UPDATE per distinct set of values."""
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    for outcome in outcomes:
        groups[tuple(sorted((k, v) for k, v in outcome.items() if k != "id"))].append(outcome["id"])
    singles: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    # A chunk's successes share their values (sent now), so most of a chunk is a single statement.
    for values, ids in groups.items():
        if len(ids) == 1:
            singles[tuple(name for name, _ in values)].append({"id": ids[0], **dict(values)})
            continue
        session.execute(update(NotificationDelivery).where(_id_in(session, NotificationDelivery.id, ids))
                        .values(dict(values)).execution_options(synchronize_session=False))
    for rows in singles.values():
        # Retries each have their own time: those go as executemany, one per set of columns.
        session.execute(update(NotificationDelivery).execution_options(synchronize_session=False), rows)


def due_delivery_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Queued deliveries whose time has come."""
    stmt = (select(NotificationDelivery.id).where(NotificationDelivery.status == "queued",
                                                  NotificationDelivery.next_attempt_at <= now)
            .order_by(NotificationDelivery.next_attempt_at).limit(limit))
    return list(session.scalars(stmt))


def requeue_stuck(session: Session, older_than: datetime) -> int:
    """Deliveries left 'sending' by a worker that died go back to the queue."""
    stmt = (update(NotificationDelivery)
            .where(NotificationDelivery.status == "sending", NotificationDelivery.updated_at < older_than)
            .values(status="queued"))
    return session.execute(stmt).rowcount or 0


def held_digest_deliveries(session: Session, now: datetime) -> list[Row[tuple[NotificationDelivery, Notification]]]:
    """Deliveries held for a digest whose window has closed."""
    stmt = (select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(NotificationDelivery.status == "held", NotificationDelivery.next_attempt_at <= now)
            .order_by(NotificationDelivery.user_id, NotificationDelivery.channel_id, Notification.id))
    return list(session.execute(stmt).all())


# --- per-user reads ---------------------------------------------------------------------------------------

def inbox(session: Session, user_id: int, unread_only: bool, after_id: int | None, limit: int,
          offset: int) -> tuple[list[Notification], int]:
    """The user's in-app notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if after_id is not None:
        stmt = stmt.where(Notification.id > after_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(Notification.id.desc()).limit(limit).offset(offset))
    return list(items), total


def get_notification_for_user(session: Session, user_id: int, notification_id: int) -> Notification | None:
    """The user's notification, or None."""
    return session.scalar(select(Notification).where(Notification.id == notification_id,
                                                     Notification.user_id == user_id))


def mark_all_read(session: Session, user_id: int, now: datetime) -> int:
    """Mark every unread notification of the user read."""
    stmt = (update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=now))
    return session.execute(stmt).rowcount or 0


def deliveries_for(session: Session, notification_ids: Sequence[int]) -> list[NotificationDelivery]:
    """Deliveries of these notifications."""
    if not notification_ids:
        return []
    stmt = (select(NotificationDelivery).where(NotificationDelivery.notification_id.in_(list(notification_ids)))
            .order_by(NotificationDelivery.id))
    return list(session.scalars(stmt))


def failed_deliveries(session: Session, limit: int, offset: int) -> tuple[list[NotificationDelivery], int]:
    """Deliveries failed for good, every user (admin view), newest first."""
    stmt = select(NotificationDelivery).where(NotificationDelivery.status == "failed")
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(NotificationDelivery.updated_at.desc()).limit(limit).offset(offset))
    return list(items), total
