"""What beat would fire, and what would actually run, over a span of time (a pure function of the schedule).

Fire times come from the beat entries themselves (crontab fields and intervals, in the app's UTC); each
fire is then put through the task's own calendar guard (`ops.guards.GUARDS`), the same function the task
calls when it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab, schedule

from signalhub.ops.guards import GUARDS


@dataclass(frozen=True)
class PlannedRun:
    """One beat fire of one entry and whether its task would do its work."""

    at: datetime
    entry: str
    task: str
    args: tuple[Any, ...]
    run: bool
    reason: str = ""


def _interval(value: object) -> timedelta | None:
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, timedelta):
        return value
    if isinstance(value, schedule) and not isinstance(value, crontab):
        return value.run_every
    return None


def _cron_times(cron: crontab, start: datetime, end: datetime) -> Iterator[datetime]:
    """Minutes in [start, end) matching the crontab's fields (Celery's day_of_week: 0 = Sunday)."""
    t = start.astimezone(UTC).replace(second=0, microsecond=0)
    if t < start:
        t += timedelta(minutes=1)
    while t < end:
        if (t.month in cron.month_of_year and t.day in cron.day_of_month
                and (t.weekday() + 1) % 7 in cron.day_of_week and t.hour in cron.hour and t.minute in cron.minute):
            yield t
        t += timedelta(minutes=1)


def fire_times(entry: Mapping[str, Any], start: datetime, end: datetime) -> Iterator[datetime]:
    """When beat fires `entry` in [start, end): crontab matches, or every interval from `start` (beat's start)."""
    sched = entry["schedule"]
    if isinstance(sched, crontab):
        yield from _cron_times(sched, start, end)
        return
    step = _interval(sched)
    if step is None or step <= timedelta(0):
        raise ValueError(f"unsupported schedule {sched!r}")
    t = start
    while t < end:
        yield t
        t += step


def planned_runs(start: datetime, end: datetime, beat_schedule: Mapping[str, Mapping[str, Any]] | None = None,
                 *, entries: Iterable[str] | None = None, only_runs: bool = False) -> list[PlannedRun]:
    """Every beat fire in [start, end) (aware datetimes), in time order, with its guard's decision.

    `beat_schedule` defaults to the app's; `entries` limits the listing to those entry names; with
    `only_runs`, fires the calendar guard would skip are left out.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if beat_schedule is None:
        from signalhub.worker import celery_app

        beat_schedule = celery_app.conf.beat_schedule
    wanted = set(entries) if entries is not None else None
    out: list[PlannedRun] = []
    for name, entry in beat_schedule.items():
        if wanted is not None and name not in wanted:
            continue
        task, args = str(entry["task"]), tuple(entry.get("args", ()))
        guard = GUARDS.get(task)
        for at in fire_times(entry, start, end):
            decision = guard(args, at) if guard is not None else None
            run = decision.run if decision is not None else True
            if run or not only_runs:
                out.append(PlannedRun(at, name, task, args, run, decision.reason if decision is not None else ""))
    out.sort(key=lambda r: (r.at, r.entry))
    return out


def summarise(runs: Iterable[PlannedRun], tz: str = "UTC") -> dict[str, dict[str, tuple[int, str, str]]]:
    """Runs per entry and local day: {entry: {YYYY-MM-DD: (count, first HH:MM, last HH:MM)}} in time zone `tz`."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    out: dict[str, dict[str, tuple[int, str, str]]] = {}
    for r in runs:
        if not r.run:
            continue
        local = r.at.astimezone(zone)
        day, hhmm = local.date().isoformat(), local.strftime("%H:%M")
        count, first, _ = out.setdefault(r.entry, {}).get(day, (0, hhmm, hhmm))
        out[r.entry][day] = (count + 1, first, hhmm)
    return out
