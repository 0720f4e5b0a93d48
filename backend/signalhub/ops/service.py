"""Admin operations: system status, user activation, replaying failed deliveries; flushes, never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from signalhub.auth import repository as auth_repository
from signalhub.core import calendars, metrics
from signalhub.core.config import get_settings
from signalhub.core.errors import ConflictError, NotFoundError, UnprocessableError
from signalhub.models.notification_delivery import NotificationDelivery
from signalhub.models.user import User
from signalhub.ops import invariants, repository
from signalhub.ops.schemas import (
    CircuitStatus,
    InvariantStatus,
    KillSwitchStatus,
    MarketStatus,
    SystemStatus,
    WorkerStatus,
)
from signalhub.ops.state import get_ops_store
from signalhub.ops.tasks import HEARTBEAT_PREFIX
from signalhub.trading import repository as trading_repository
from signalhub.users import repository as users_repository

# kombu's Redis transport keeps priority levels 3, 6 and 9 of a queue in lists suffixed with this separator.
_REDIS_PRIORITY_SEP = "\x06\x16"
_CIRCUIT_NAMES = {v: k for k, v in metrics.CIRCUIT_STATE_VALUES.items()}


def _queue_names() -> list[str]:
    from signalhub.worker import celery_app

    names = {celery_app.conf.task_default_queue}
    names.update(q.name for q in (celery_app.conf.task_queues or []))
    return sorted(names)


def queue_depths(broker_url: str) -> tuple[str, dict[str, int | None]]:
    """Messages waiting per Celery queue: LLEN on Redis, visible kombu_message rows on the SQL broker."""
    names = _queue_names()
    scheme = broker_url.split("://", 1)[0]
    if scheme in ("redis", "rediss"):
        import redis

        client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            pipe = client.pipeline()
            for name in names:
                for key in (name, *(f"{name}{_REDIS_PRIORITY_SEP}{p}" for p in (3, 6, 9))):
                    pipe.llen(key)
            counts = pipe.execute()
        except redis.RedisError:
            return "redis", dict.fromkeys(names)
        finally:
            client.close()
        return "redis", {name: sum(counts[i * 4:(i + 1) * 4]) for i, name in enumerate(names)}
    if scheme.startswith("sqla+"):
        engine = create_engine(broker_url.removeprefix("sqla+"))
        try:
            with engine.connect() as conn:
                rows = conn.execute(text(
                    "SELECT q.name, COUNT(m.id) FROM kombu_queue q LEFT JOIN kombu_message m "
                    "ON m.queue_id = q.id AND m.visible = :visible GROUP BY q.name"), {"visible": True}).all()
        except SQLAlchemyError:
            # The broker database exists only once a worker or producer has connected.
            return "sqlalchemy", dict.fromkeys(names, 0)
        finally:
            engine.dispose()
        found = {str(name): int(count) for name, count in rows}
        return "sqlalchemy", {name: found.get(name, 0) for name in sorted({*names, *found})}
    return scheme, dict.fromkeys(names)


def circuit_states() -> list[CircuitStatus]:
    """Circuit breaker states published to the metrics registry (every process's, in multiprocess mode)."""
    found: dict[str, str] = {}
    for family in metrics.collecting_registry().collect():
        if family.name != "signalhub_circuit_state":
            continue
        for sample in family.samples:
            name = sample.labels.get("name")
            if name:
                # Multiprocess 'livemax' merges to the worst state any live process reports.
                found[name] = _CIRCUIT_NAMES.get(int(sample.value), "unknown")
    return [CircuitStatus(name=name, state=state) for name, state in sorted(found.items())]


def system_status(session: Session, now: datetime) -> SystemStatus:
    """Markets, last bars, queue depths, live workers, circuits, the kill switch and failing invariants."""
    last_bars = repository.last_bar_per_exchange(session)
    markets = []
    for exchange in calendars.EXCHANGES:
        nxt_open, nxt_close = calendars.next_open(exchange, now), calendars.next_close(exchange, now)
        markets.append(MarketStatus(
            exchange=exchange, is_open=calendars.is_open(exchange, now),
            next_open=nxt_open.to_pydatetime() if nxt_open is not None else None,
            next_close=nxt_close.to_pydatetime() if nxt_close is not None else None,
            last_bar={interval: ts for (ex, interval), ts in sorted(last_bars.items()) if ex == exchange}))
    broker, queues = queue_depths(get_settings().broker_url)
    store = get_ops_store()
    workers = sorted((WorkerStatus(hostname=v["hostname"], last_seen=datetime.fromisoformat(v["at"]))
                      for v in store.scan(HEARTBEAT_PREFIX).values()), key=lambda w: w.hostname)
    flag = next((f for f in repository.system_flags(session) if f.key == trading_repository.GLOBAL_KILL_SWITCH), None)
    kill_switch = (KillSwitchStatus(enabled=flag.enabled, reason=flag.reason, updated_at=flag.updated_at)
                   if flag is not None else None)
    failing = [InvariantStatus(name=name, since=datetime.fromisoformat(v["since"]), detail=v.get("detail", ""))
               for name, v in sorted(invariants.open_episodes(store).items())]
    return SystemStatus(now=now, markets=markets, broker=broker, queues=queues, workers=workers,
                        circuits=circuit_states(), kill_switch=kill_switch, failing_invariants=failing)


def _require_user(session: Session, user_id: int) -> User:
    user = users_repository.get_by_id(session, user_id)
    if user is None:
        raise NotFoundError(f"No user {user_id}")
    return user


def set_active(session: Session, admin: User, user_id: int, active: bool, now: datetime) -> User:
    """Deactivate (ending every session: refresh tokens revoked) or reactivate a user; never yourself."""
    user = _require_user(session, user_id)
    if user.id == admin.id and not active:
        raise UnprocessableError("user_id: you cannot deactivate your own account")
    if user.is_active != active:
        user.is_active = active
        if not active:
            auth_repository.revoke_all_for_user(session, user.id, now)
    session.flush()
    return user


def replay_delivery(session: Session, delivery_id: int, now: datetime) -> NotificationDelivery:
    """Put a failed delivery back in the queue (attempts reset, due now); 409 unless it failed."""
    delivery = repository.get_delivery(session, delivery_id)
    if delivery is None:
        raise NotFoundError(f"No delivery {delivery_id}")
    if not repository.requeue_delivery(session, delivery_id, now):
        raise ConflictError(f"Delivery {delivery_id} is {delivery.status}; only failed deliveries can be replayed")
    session.refresh(delivery)
    return delivery
