"""Alert rule rules; flushes, never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from signalhub.alerts import repository
from signalhub.alerts.schemas import AlertRuleCreate, AlertRuleUpdate
from signalhub.core.errors import NotFoundError, UnprocessableError
from signalhub.models.alert_rule import AlertRule
from signalhub.models.user import User
from signalhub.notifications import repository as channel_repository
from signalhub.signals import strategies


def _check(session: Session, user: User, rule: AlertRule) -> None:
    unknown = [s for s in rule.strategies if s not in strategies.REGISTRY]
    if unknown:
        raise UnprocessableError(f"strategies: unknown {', '.join(unknown)}; known: "
                                 f"{', '.join(sorted(strategies.REGISTRY))}")
    if not rule.tickers and not rule.use_watchlist:
        raise UnprocessableError("tickers: give at least one ticker, or set use_watchlist to true")
    owned = {c.id for c in channel_repository.channels_for_user(session, user.id)}
    foreign = [c for c in rule.channel_ids if c not in owned]
    if foreign:
        # Another user's channel must look exactly like one that does not exist.
        raise UnprocessableError(f"channel_ids: no channel {', '.join(map(str, foreign))} on your account")
    if not rule.channel_ids and not rule.in_app:
        raise UnprocessableError("channel_ids: choose at least one channel, or keep in_app true")
    if (rule.quiet_start is None) != (rule.quiet_end is None):
        raise UnprocessableError("quiet_start and quiet_end: give both or neither")


def require_rule(session: Session, user: User, rule_id: int) -> AlertRule:
    """The user's rule, or 404."""
    rule = repository.get_for_user(session, user.id, rule_id)
    if rule is None:
        raise NotFoundError(f"No alert rule {rule_id}")
    return rule


def create(session: Session, user: User, data: AlertRuleCreate) -> AlertRule:
    """Create a rule after checking strategies, tickers/watchlist, channel ownership and quiet hours."""
    rule = AlertRule(user_id=user.id, **data.model_dump())
    _check(session, user, rule)
    return repository.add(session, rule)


def update(session: Session, user: User, rule_id: int, data: AlertRuleUpdate) -> AlertRule:
    """Change the fields sent; the result is checked like a new rule."""
    rule = require_rule(session, user, rule_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is None and field not in ("quiet_start", "quiet_end", "digest_minutes"):
            raise UnprocessableError(f"{field}: may not be null")
        setattr(rule, field, value)
    _check(session, user, rule)
    session.flush()
    return rule


def delete(session: Session, user: User, rule_id: int) -> None:
    """Delete the user's rule."""
    repository.delete(session, require_rule(session, user, rule_id))
