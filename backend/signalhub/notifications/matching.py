"""Pure rules of alert matching: grades, quiet hours, digest windows (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

_GRADE_LEVEL = {"HOLD": 0, "BUY": 1, "SELL": 1, "STRONG_BUY": 2, "STRONG_SELL": 2}
_MIN_LEVEL = {"HOLD": 0, "BUY": 1, "STRONG": 2}


class RuleTerms(Protocol):
    """What matching reads of a rule: an `AlertRule`, or a row of its columns."""

    @property
    def tickers(self) -> list[str]:
        """Tickers the rule names."""

    @property
    def use_watchlist(self) -> bool:
        """Whether the owner's watchlist counts too."""

    @property
    def strategies(self) -> list[str]:
        """Strategies (empty: all)."""

    @property
    def actions(self) -> list[str]:
        """BUY and/or SELL."""

    @property
    def min_grade(self) -> str:
        """HOLD, BUY or STRONG."""

    @property
    def quiet_start(self) -> str | None:
        """Start of quiet hours, "HH:MM" in the owner's zone."""

    @property
    def quiet_end(self) -> str | None:
        """End of quiet hours."""


def grade_passes(grade: str, min_grade: str) -> bool:
    """Whether a signal's grade is at least the rule's minimum (direction-neutral: SELL counts as BUY)."""
    return _GRADE_LEVEL.get(grade, 0) >= _MIN_LEVEL[min_grade]


def rule_matches(rule: RuleTerms, ticker: str, strategy: str, action: str, grade: str,
                 watchlist: set[str]) -> bool:
    """Whether a signal falls under a rule (tickers or watchlist, strategy, action, minimum grade)."""
    wanted = ticker in rule.tickers or (rule.use_watchlist and ticker in watchlist)
    return (wanted and (not rule.strategies or strategy in rule.strategies) and action in rule.actions
            and grade_passes(grade, rule.min_grade))


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(rule: RuleTerms, timezone: str, now: datetime) -> datetime | None:
    """If `now` falls in the rule's quiet hours (user's time zone), when they end (UTC); else None."""
    if not rule.quiet_start or not rule.quiet_end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    start, end = _hhmm(rule.quiet_start), _hhmm(rule.quiet_end)
    current = local.time().replace(second=0, microsecond=0)
    if start == end:
        return None
    overnight = start > end  # e.g. 22:00-07:00
    inside = (current >= start or current < end) if overnight else (start <= current < end)
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1) if overnight and current >= start else local.date()
    # Built in the zone so a daylight-saving change between now and the end is handled.
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


def digest_window_end(minutes: int, now: datetime) -> datetime:
    """End of the digest window containing `now` (windows aligned to UTC midnight)."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now - midnight).total_seconds() // 60)
    return midnight + timedelta(minutes=(elapsed // minutes + 1) * minutes)
