"""Units of work that must commit between steps: claim an order before calling the broker, then record.

Each step opens its own session (`session_scope`), so a claim is visible to every other worker before the
broker is called, and what the broker accepted is stored even if a later step fails."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from signalhub.broker.adapters import build_adapter
from signalhub.broker.base import (
    BrokerAdapter,
    BrokerError,
    BrokerExecution,
    BrokerRejectedError,
    OutcomeUnknownError,
)
from signalhub.core import metrics
from signalhub.core.config import get_settings
from signalhub.core.db import session_scope
from signalhub.core.logging import log_context
from signalhub.core.time import utcnow
from signalhub.trading import repository, risk, service, states

logger = logging.getLogger(__name__)


class RetryableSubmitError(Exception):
    """The broker could not be reached and nothing was sent: the task should retry with backoff."""


def _timed[T](adapter: BrokerAdapter, operation: str, fn: Callable[[], T]) -> T:
    if adapter.name != "paper":
        return fn()  # the KIS client times its own HTTP calls under the same metric
    started = time.perf_counter()
    try:
        return fn()
    finally:
        metrics.BROKER_LATENCY.labels(broker=adapter.name, operation=operation).observe(time.perf_counter() - started)


def adapter_for(user_id: int, broker: str) -> BrokerAdapter:
    """The adapter for an order's broker (the one the order was created for, whatever the user uses now)."""
    with session_scope() as session:
        credentials = service.credentials_for(session, user_id) if broker != "paper" else None
    return build_adapter(broker, user_id, credentials)


def current_broker(user_id: int) -> str:
    """Where the user's new orders go now."""
    with session_scope() as session:
        settings = repository.get_or_create_settings(session, user_id)
        return service.broker_for(settings, repository.get_account(session, user_id))


# --- signal orders -------------------------------------------------------------------------------------
def orders_for_signals(signal_ids: list[int], now: datetime | None = None) -> list[int]:
    """Create and send the orders new signals call for, for every opted-in user they match."""
    with session_scope() as session:
        signals = repository.get_signals(session, signal_ids)
        users = repository.opted_in_settings(session)
        # Each user's tradable tickers are read once, not once per signal.
        tickers = {s.user_id: service.trading_tickers(session, s) for s in users}
        pairs = [(s.user_id, signal.id) for signal in signals for s in users
                 if service.signal_matches(s, signal, tickers[s.user_id])]
    order_ids = []
    for user_id, signal_id in pairs:
        order_id = place_for_signal(user_id, signal_id, now)
        if order_id is not None:
            order_ids.append(order_id)
    return order_ids


def place_for_signal(user_id: int, signal_id: int, now: datetime | None = None) -> int | None:
    """Size, check and record the order of one signal for one user, then send it; idempotent per signal."""
    now = now or utcnow()
    # Every log line of this signal's order, here and in tasks it enqueues, carries the signal id (its timeline).
    with log_context(signal_id=signal_id, user_id=user_id):
        order_id = _decide_for_signal(user_id, signal_id, now)
        if order_id is not None:
            logger.info("order decided for signal", extra={"order_id": order_id})
            submit_order(order_id)  # sent at the real clock, whatever instant the decision was judged at
    return order_id


def _decide_for_signal(user_id: int, signal_id: int, now: datetime) -> int | None:
    with session_scope() as session:
        signal = repository.get_signals(session, [signal_id])[0]
        key = service.signal_client_order_id(user_id, signal_id, signal.action)
        existing = repository.get_by_client_id(session, key)
        if existing is not None:
            return existing.id
        settings = repository.get_or_create_settings(session, user_id)
        broker = service.broker_for(settings, repository.get_account(session, user_id))
        ref = service.reference_price(session, signal.ticker)
        if ref is None:
            logger.warning("no reference price", extra={"ticker": signal.ticker, "signal_id": signal_id})
            return None
    adapter = adapter_for(user_id, broker)
    try:
        with session_scope() as session:
            account = _timed(adapter, "balance", lambda: service.exposure(session, adapter))
            settings = repository.get_or_create_settings(session, user_id)
            signal = repository.get_signals(session, [signal_id])[0]
            ctx = service.build_context(session, settings, broker, signal.ticker, account, now)
            quantity, numbers = service.size_for_signal(signal, settings, ctx, ref)
            numbers = {**numbers, "source": "signal", "grade": signal.grade,
                       "confidence": str(signal.combined_confidence)}
            if quantity < 1:
                why = "no position to sell" if signal.action == "SELL" else "sized to less than one share"
                sizing = risk.Check("sizing", False, None, None, why)
                service.record_risk_events(session, user_id, key, signal_id, signal.ticker, signal.action, [sizing],
                                           None, numbers, now)
                return None
            candidate = risk.Candidate(ticker=signal.ticker, side=signal.action, quantity=quantity,
                                       price=service.to_price(Decimal(str(signal.price))),
                                       reference_price=ref)
            checks = risk.evaluate(candidate, ctx, settings, user_kill_switch=settings.kill_switch,
                                   blackout_spec=get_settings().trading_blackout_windows)
            order = service.create_order(session, user_id=user_id, client_order_id=key, signal_id=signal_id,
                                         broker=broker, ticker=signal.ticker, side=signal.action, quantity=quantity,
                                         limit_price=None, ref=ref, checks=checks, extra=numbers, now=now)
            return order.id
    finally:
        adapter.close()


# --- submission ----------------------------------------------------------------------------------------
def submit_order(order_id: int, now: datetime | None = None) -> str:
    """Send a PENDING order exactly once: claim it (committed), call the broker, record the outcome.

    Returns what happened: "claimed-by-other", "killed", "submitted", "rejected", "unknown", "failed"."""
    now = now or utcnow()
    with session_scope() as session:
        order = repository.get_order(session, order_id)
        if order is None or order.state != states.PENDING or order.claimed_at is not None:
            return "claimed-by-other"
        signal_id = order.signal_id
    with log_context(order_id=order_id, signal_id=signal_id):
        outcome = _submit_claimable(order_id, now)
    logger.info("order submission: %s", outcome, extra={"order_id": order_id, "signal_id": signal_id})
    return outcome


def _submit_claimable(order_id: int, now: datetime) -> str:
    with session_scope() as session:
        order = repository.get_order(session, order_id)
        if order is None or order.state != states.PENDING or order.claimed_at is not None:
            return "claimed-by-other"
        settings = repository.get_or_create_settings(session, order.user_id)
        # The kill switches are checked again here: orders decided before the switch never leave.
        if repository.global_kill_switch_on(session) or settings.kill_switch:
            service.fail_order(session, order, "risk: kill switch on before submission", now, alert=False)
            return "killed"
        if not repository.claim_for_submit(session, order_id, now):
            return "claimed-by-other"
        user_id, broker = order.user_id, order.broker
        request = service.order_request(order)
    adapter = adapter_for(user_id, broker)
    try:
        ack = _timed(adapter, "submit", lambda: adapter.submit(request))
    except BrokerRejectedError as exc:
        with session_scope() as session:
            order = repository.get_order(session, order_id, lock=True)
            assert order is not None
            service.fail_order(session, order, f"broker: {exc.code} {exc}", utcnow(), alert=False)
        adapter.close()
        return "rejected"
    except OutcomeUnknownError as exc:
        with session_scope() as session:
            order = repository.get_order(session, order_id, lock=True)
            assert order is not None
            order.outcome_unknown = True
            order.submitted_at = now
            states.transition(order, states.SUBMITTED, utcnow(), reason=f"outcome unknown: {exc}")
        logger.warning("order outcome unknown; reconciling", extra={"order_id": order_id})
        adapter.close()
        return "unknown"
    except BrokerError as exc:
        with session_scope() as session:
            order = repository.get_order(session, order_id, lock=True)
            assert order is not None
            if exc.retryable:
                repository.release_claim(session, order_id, now)
            else:
                service.fail_order(session, order, f"{exc.code}: {exc}", utcnow(), alert=True)
        adapter.close()
        if exc.retryable:
            raise RetryableSubmitError(str(exc)) from exc
        return "failed"
    try:
        _record_ack(adapter, order_id, ack.order_no, ack.org_no, now)
    finally:
        adapter.close()
    return "submitted"


def _record_ack(adapter: BrokerAdapter, order_id: int, order_no: str, org_no: str, now: datetime) -> None:
    with session_scope() as session:
        order = repository.get_order(session, order_id, lock=True)
        assert order is not None
        order.broker_order_no, order.broker_org_no = order_no, org_no
        order.submitted_at, order.outcome_unknown = now, False
        if order.state == states.PENDING:
            states.transition(order, states.SUBMITTED, utcnow())
        request = service.order_request(order)
    # The paper venue fills at once; ask straight away so the first fills are not a poll away.
    status = _timed(adapter, "status", lambda: adapter.find_submitted(request, now))
    if status is not None and status.order_no == order_no:
        with session_scope() as session:
            order = repository.get_order(session, order_id, lock=True)
            assert order is not None
            service.apply_status(session, order, status, utcnow(), source=adapter.name if adapter.name == "paper"
                                 else "ccld")


# --- reconciliation and fills --------------------------------------------------------------------------
def reconcile_all(now: datetime | None = None) -> dict[str, int]:
    """Resolve doubtful submissions from the broker's books, send forgotten PENDING orders, refresh open ones."""
    now = now or utcnow()
    settings = get_settings()
    stale_claim = now - timedelta(seconds=settings.order_claim_lease_seconds)
    grace = timedelta(seconds=settings.order_unknown_grace_seconds)
    counts = {"linked": 0, "resent": 0, "sent": 0, "waiting": 0}
    with session_scope() as session:
        doubtful = [(o.id, o.user_id, o.broker, o.state, o.claimed_at, o.outcome_unknown,
                     service.order_request(o)) for o in repository.orders_to_reconcile(session, stale_claim)]
    for order_id, user_id, broker, state, claimed_at, unknown, request in doubtful:
        if state == states.PENDING and claimed_at is None:
            counts["sent"] += submit_order(order_id, now) == "submitted"
            continue
        adapter = adapter_for(user_id, broker)
        try:
            with session_scope() as session:
                linked = frozenset(repository.linked_broker_orders(session, user_id, broker))
            since = claimed_at or now
            found = _timed(adapter, "find", lambda: adapter.find_submitted(request, since, linked))  # noqa: B023
            with session_scope() as session:
                order = repository.get_order(session, order_id, lock=True)
                assert order is not None
                if found is not None:
                    service.apply_status(session, order, found, now, source="ccld")
                    counts["linked"] += 1
                    continue
                if now - (claimed_at or now) < grace:
                    counts["waiting"] += 1  # the broker's books can lag; look again next round
                    continue
                if unknown:
                    states.reopen_unknown(order)
                else:
                    repository.release_claim(session, order_id, claimed_at)  # type: ignore[arg-type]
            counts["resent"] += submit_order(order_id, now) == "submitted"
        finally:
            adapter.close()
    counts.update(poll_fills(now))
    return counts


def poll_fills(now: datetime | None = None) -> dict[str, int]:
    """Ask each broker for the day's orders of users with open orders and take in new fills."""
    now = now or utcnow()
    groups: dict[tuple[int, str], list[tuple[int, str, datetime]]] = defaultdict(list)
    with session_scope() as session:
        for order in repository.open_orders(session):
            groups[(order.user_id, order.broker)].append(
                (order.id, order.broker_order_no or "", order.broker_ordered_at or order.created_at))
    updated = errors = 0
    for (user_id, broker), orders in groups.items():
        adapter = adapter_for(user_id, broker)
        try:
            days = sorted({at.astimezone(service.KST).date() for _, _, at in orders})
            statuses = {}
            for day in days:
                for status in _timed(adapter, "daily_orders", lambda d=day, a=adapter: a.daily_orders(d)):
                    statuses[status.order_no] = status
            with session_scope() as session:
                for order_id, order_no, _ in orders:
                    status = statuses.get(order_no)
                    order = repository.get_order(session, order_id, lock=True)
                    if status is None or order is None or order.state not in states.OPEN:
                        continue
                    service.apply_status(session, order, status, now,
                                         source="paper" if broker == "paper" else "ccld")
                    updated += 1
        except BrokerError as exc:
            errors += 1
            logger.warning("fill polling failed", extra={"user_id": user_id, "broker": broker, "error": str(exc)})
        finally:
            adapter.close()
    return {"polled": updated, "poll_errors": errors}


def cancel_order(order_id: int, now: datetime | None = None) -> str:
    """Cancel an order: PENDING ones never leave; open ones are cancelled at the broker, then re-read."""
    now = now or utcnow()
    with session_scope() as session:
        order = repository.get_order(session, order_id, lock=True)
        assert order is not None
        if order.state == states.PENDING and order.claimed_at is None:
            states.transition(order, states.CANCELLED, now, reason="cancelled before submission")
            service.notify_order(session, order)
            return "cancelled"
        if order.state not in states.OPEN or order.broker_order_no is None:
            return order.state
        user_id, broker, order_no, org_no = order.user_id, order.broker, order.broker_order_no, order.broker_org_no
        ticker, remaining, request = order.ticker, order.quantity - order.filled_quantity, service.order_request(order)
    adapter = adapter_for(user_id, broker)
    try:
        _timed(adapter, "cancel", lambda: adapter.cancel(order_no=order_no, org_no=org_no or "", ticker=ticker,
                                                         quantity=remaining))
        status = next((s for s in _timed(adapter, "daily_orders", lambda: adapter.daily_orders(
            (now.astimezone(service.KST)).date(), ticker=ticker)) if s.order_no == order_no), None)
        if status is None:
            status = _timed(adapter, "status", lambda: adapter.find_submitted(request, now - timedelta(days=1)))
    finally:
        adapter.close()
    with session_scope() as session:
        order = repository.get_order(session, order_id, lock=True)
        assert order is not None
        if status is not None and status.order_no == order_no:
            service.apply_status(session, order, status, utcnow(), source="paper" if broker == "paper" else "ccld")
        return order.state


def apply_notice_frame(broker: str, frame: str, key: str, iv: str, now: datetime | None = None) -> int:
    """Take in an encrypted H0STCNI0/H0STCNI9 frame: fills and rejections of our orders; returns fills added."""
    from signalhub.broker.kis.notices import parse_notice_frame

    now = now or utcnow()
    added = 0
    for notice in parse_notice_frame(frame, key, iv):
        if not (notice.is_fill or notice.rejected):
            continue  # acknowledgements: the order number is already ours from the REST answer
        with session_scope() as session:
            for order in repository.orders_by_broker_no(session, broker, notice.order_no):
                credentials = service.credentials_for(session, order.user_id) or {}
                account = credentials.get("account_no", "") + credentials.get("product_code", "")
                if not notice.account_no.startswith(credentials.get("account_no", "\0")) and \
                        notice.account_no != account:
                    continue  # another account's order with the same number
                if notice.rejected and order.state in states.OPEN and order.filled_quantity == 0:
                    service.fail_order(session, order, f"broker: rejected by the exchange ({notice.order_no})",
                                       now, alert=False)
                    continue
                if order.state not in states.OPEN:
                    continue
                cumulative = order.notice_filled_qty + notice.quantity
                order.notice_filled_qty = cumulative
                hhmmss = notice.time_hhmmss
                local = now.astimezone(service.KST)
                executed = local.replace(hour=int(hhmmss[:2]), minute=int(hhmmss[2:4]), second=int(hhmmss[4:6]),
                                         microsecond=0) if len(hhmmss) == 6 and hhmmss.isdigit() else now
                execution = BrokerExecution(quantity=notice.quantity, price=notice.price,
                                            executed_at=min(executed, now))
                if service.apply_execution(session, order, execution, cumulative, "notice", now) is not None:
                    added += 1
    return added
