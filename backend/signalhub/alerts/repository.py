"""All SQL for alert rules; per-user reads are scoped here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub.models.alert_rule import AlertRule


def list_for_user(session: Session, user_id: int) -> list[AlertRule]:
    """The user's rules, oldest first."""
    return list(session.scalars(select(AlertRule).where(AlertRule.user_id == user_id).order_by(AlertRule.id)))


def get_for_user(session: Session, user_id: int, rule_id: int) -> AlertRule | None:
    """The user's rule with this id, or None (another user's rule is None too)."""
    return session.scalar(select(AlertRule).where(AlertRule.id == rule_id, AlertRule.user_id == user_id))


def active_rules(session: Session) -> list[AlertRule]:
    """Every active rule of every active user (fan-out matches signals against them)."""
    from signalhub.models.user import User

    stmt = (select(AlertRule).join(User, User.id == AlertRule.user_id)
            .where(AlertRule.is_active.is_(True), User.is_active.is_(True)).order_by(AlertRule.id))
    return list(session.scalars(stmt))


def add(session: Session, rule: AlertRule) -> AlertRule:
    """Stage a new rule."""
    session.add(rule)
    session.flush()
    return rule


def delete(session: Session, rule: AlertRule) -> None:
    """Remove a rule."""
    session.delete(rule)
    session.flush()
