"""The beat schedule walked over real weeks: which tasks would run when, through each task's own guard."""

from __future__ import annotations

from datetime import UTC, datetime

from signalhub.market_data import tasks as market_tasks
from signalhub.ops import guards
from signalhub.ops.schedule import planned_runs, summarise
from signalhub.worker import celery_app

# 2025-12-22 (Mon) .. 2025-12-28 (Sun): XKRX closed on the 25th (Christmas); XNYS closes at 13:00 on the
# 24th (half day) and is closed on the 25th.
WEEK = (datetime(2025, 12, 22, tzinfo=UTC), datetime(2025, 12, 29, tzinfo=UTC))
AFTER_CLOSE = [f"{name}-{exchange}" for exchange in ("XKRX", "XNYS")
               for name in ("daily-close", "recommendations", "daily-reports")]


def _days(summary: dict, entry: str) -> dict[str, tuple[int, str, str]]:
    return summary.get(entry, {})


def test_a_week_across_a_krx_holiday_and_a_us_half_day():
    runs = planned_runs(*WEEK)
    assert runs == sorted(runs, key=lambda r: (r.at, r.entry))
    kst, et = summarise(runs, "Asia/Seoul"), summarise(runs, "America/New_York")
    sessions = ["2025-12-22", "2025-12-23", "2025-12-24", "2025-12-26"]

    # KRX: after the 15:30 close, bars at 16:00 and recommendations at 17:00 KST (seed 003); nothing on the 25th.
    assert _days(kst, "daily-close-XKRX") == {d: (1, "16:00", "16:00") for d in sessions}
    assert _days(kst, "recommendations-XKRX") == {d: (1, "17:00", "17:00") for d in sessions}
    assert _days(kst, "daily-reports-XKRX") == {d: (1, "17:30", "17:30") for d in sessions}
    # NYSE: 30 minutes after the actual close, so 13:30 on the half day; nothing on Christmas.
    close = {"2025-12-22": "16:30", "2025-12-23": "16:30", "2025-12-24": "13:30", "2025-12-26": "16:30"}
    assert _days(et, "daily-close-XNYS") == {d: (1, t, t) for d, t in close.items()}
    assert _days(et, "daily-reports-XNYS")["2025-12-24"] == (1, "15:00", "15:00")

    # Intraday polling every minute of regular hours only: 390 on a full day, 210 on the half day.
    assert _days(et, "poll-intraday-XNYS") == {
        "2025-12-22": (390, "09:30", "15:59"), "2025-12-23": (390, "09:30", "15:59"),
        "2025-12-24": (210, "09:30", "12:59"), "2025-12-26": (390, "09:30", "15:59")}
    assert _days(kst, "poll-intraday-XKRX") == {d: (390, "09:00", "15:29") for d in sessions}

    # Unguarded entries fire all week, holiday or not.
    assert _days(et, "check-invariants")["2025-12-25"][0] == 1440
    skipped = [r for r in runs if r.entry == "daily-close-XKRX" and r.at.date().isoformat() == "2025-12-25"]
    assert skipped and all(not r.run and r.reason == "2025-12-25 is not a XKRX session" for r in skipped)


def test_the_listing_uses_the_guard_the_task_runs():
    # Every after-close fire the listing skips, the task itself skips with the same reason, and vice versa.
    runs = planned_runs(*WEEK, entries=["daily-close-XKRX"])
    assert len(runs) == 5 * 5 * 4  # weekdays x hours 6-10 UTC x every 15 minutes
    monday_and_christmas = [r for r in runs if r.at.day in (22, 25)]
    assert sum(r.run for r in monday_and_christmas) == 1
    for run in monday_and_christmas:
        result = market_tasks.daily_close_update.apply(args=("XKRX", run.at.isoformat())).get()
        if run.run:
            assert result == {"exchange": "XKRX", "date": "2025-12-22", "updated": []}  # no stocks stored
        else:
            assert result == {"exchange": "XKRX", "skipped": run.reason}
    only = planned_runs(*WEEK, entries=AFTER_CLOSE, only_runs=True)
    assert len(only) == 6 * 4 and all(r.run for r in only)


def test_the_after_close_guard_follows_the_actual_close():
    # 2025-12-24 NYSE closes at 13:00 ET (18:00 UTC): due at 18:30 UTC for one slot, not at the usual time.
    half_day = [guards.daily_close("XNYS", datetime(2025, 12, 24, h, m, tzinfo=UTC))
                for h, m in ((18, 15), (18, 30), (18, 44), (18, 45), (21, 30))]
    assert [d.run for d in half_day] == [False, True, True, False, False]
    assert half_day[0].reason.startswith("before 2025-12-24T18:30:00+00:00")
    assert half_day[4].reason == "after the 2025-12-24T18:30:00+00:00 slot"
    assert guards.market_open("XKRX", datetime(2025, 12, 25, 2, 0, tzinfo=UTC)).reason == "market closed"


def test_thanksgiving_week_nyse():
    runs = planned_runs(datetime(2025, 11, 24, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC),
                        entries=["daily-close-XNYS", "daily-close-XKRX"], only_runs=True)
    et = summarise(runs, "America/New_York")
    assert {d: v[1] for d, v in et["daily-close-XNYS"].items()} == {
        "2025-11-24": "16:30", "2025-11-25": "16:30", "2025-11-26": "16:30", "2025-11-28": "13:30"}
    assert len(summarise(runs, "Asia/Seoul")["daily-close-XKRX"]) == 5  # KRX trades all week


def test_schedule_keeps_everyone_s_entries_and_uses_the_leased_scheduler():
    schedule = celery_app.conf.beat_schedule
    assert {"check-invariants", "dispatch-due-deliveries", *AFTER_CLOSE} <= set(schedule)
    assert "check-freshness-XKRX" not in schedule  # the stale_bars invariant is the one freshness check
    assert celery_app.conf.beat_scheduler == "signalhub.ops.beat:LockedScheduler"
