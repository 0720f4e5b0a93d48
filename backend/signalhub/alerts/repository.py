"""All SQL for alert rules; per-user reads are scoped here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from signalhub.models.alert_rule import AlertRule


def list_for_user(session: Session, user_id: int) -> list[AlertRule]:
    """The user's rules, oldest first."""
    return list(session.scalars(select(AlertRule).where(AlertRule.user_id == user_id).order_by(AlertRule.id)))


def get_for_user(session: Session, user_id: int, rule_id: int) -> AlertRule | None:
    """The user's rule with this id, or None (another user's rule is None too)."""
    return session.scalar(select(AlertRule).where(AlertRule.id == rule_id, AlertRule.user_id == user_id))


def active_rules(session: Session) -> list[Row[Any]]:
    """Every active rule of every active user, as plain rows with the owner's `timezone` (fan-out matching).

    Rows, not ORM objects: a fan-out reads every subscriber's rule, and 10,000 tracked objects cost more than the
    matching itself."""
    from signalhub.models.user import User

    stmt = (select(AlertRule.id, AlertRule.user_id, AlertRule.tickers, AlertRule.use_watchlist, AlertRule.strategies,
                   AlertRule.actions, AlertRule.min_grade, AlertRule.channel_ids, AlertRule.quiet_start,
                   AlertRule.quiet_end, AlertRule.cooldown_minutes, AlertRule.digest_minutes, User.timezone)
            .join(User, User.id == AlertRule.user_id)
            .where(AlertRule.is_active.is_(True), User.is_active.is_(True)).order_by(AlertRule.id))
    return list(session.execute(stmt))


def add(session: Session, rule: AlertRule) -> AlertRule:
    """Stage a new rule."""
    session.add(rule)
    session.flush()
    return rule


def delete(session: Session, rule: AlertRule) -> None:
    """Remove a rule."""
    session.delete(rule)
    session.flush()
