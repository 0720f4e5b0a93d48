"""Calendar guards: whether a scheduled task should do its work at an instant.

Beat fires on plain UTC crontabs and intervals; the exchange calendar (holidays, half days, late opens)
is applied here, by the tasks themselves and by `ops.schedule.planned_runs` alike, so the listing of what
would run is the same code that decides at run time.

After-close tasks fire on a 15-minute grid over the hours a close can fall in; each passes exactly one
grid slot per session: the first one at or after the ACTUAL close plus the task's delay, so an early close
(NYSE half days) moves the run earlier, and any later close in the calendar data moves it later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from signalhub.core import calendars

SLOT = timedelta(minutes=15)
DAILY_CLOSE_DELAY = timedelta(minutes=30)  # 15:30 close -> 16:00 KST (seed 003)
RECOMMENDATIONS_DELAY = timedelta(minutes=90)  # -> 17:00 KST (seed 003), after the day's bars are in
REPORTS_DELAY = timedelta(minutes=120)  # -> 17:30 KST, after bars, signals and recommendations


@dataclass(frozen=True)
class Decision:
    """A guard's verdict: run now, or skip with a reason."""

    run: bool
    reason: str = ""
    session: date | None = None  # the exchange session the run is about, if any


def session_date(exchange: str, at: datetime) -> date:
    """The exchange-local calendar date of `at`."""
    return at.astimezone(calendars.get_calendar(exchange).tz).date()


def market_open(exchange: str, at: datetime) -> Decision:
    """Run only while the exchange is in regular trading."""
    if calendars.is_open(exchange, at):
        return Decision(True, session=session_date(exchange, at))
    return Decision(False, "market closed")


def after_close(exchange: str, at: datetime, delay: timedelta, slot: timedelta = SLOT) -> Decision:
    """Run in the one grid slot starting at or after today's actual close + `delay`; skip otherwise."""
    day = session_date(exchange, at)
    if not calendars.is_session(exchange, day):
        return Decision(False, f"{day} is not a {exchange} session")
    due = calendars.session_close_utc(exchange, day).to_pydatetime() + delay
    if at < due:
        return Decision(False, f"before {due.isoformat()} (close + {delay})", day)
    if at >= due + slot:
        return Decision(False, f"after the {due.isoformat()} slot", day)
    return Decision(True, session=day)


def daily_close(exchange: str, at: datetime) -> Decision:
    """The after-close price update of `exchange`."""
    return after_close(exchange, at, DAILY_CLOSE_DELAY)


def recommendations(exchange: str, at: datetime) -> Decision:
    """The day's recommendations for `exchange`."""
    return after_close(exchange, at, RECOMMENDATIONS_DELAY)


def daily_reports(exchange: str, at: datetime) -> Decision:
    """The daily reports about `exchange`'s session."""
    return after_close(exchange, at, REPORTS_DELAY)


# Task name -> guard over the beat entry's args; tasks not listed here always run when beat fires.
GUARDS: dict[str, Callable[[Sequence[object], datetime], Decision]] = {
    "signalhub.market_data.tasks.daily_close_update": lambda args, at: daily_close(str(args[0]), at),
    "signalhub.market_data.tasks.poll_intraday": lambda args, at: market_open(str(args[0]), at),
    "signalhub.recommendations.tasks.compute_daily": lambda args, at: recommendations(str(args[0]), at),
    "signalhub.ops.tasks.send_daily_reports": lambda args, at: daily_reports(str(args[0]), at),
}
