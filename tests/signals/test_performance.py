"""Signal performance on real bundled bars: forward returns, no look-ahead, direction, aggregates over HTTP,
consecutive-loss alerts to the right users only, and an idempotent nightly task."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from signalhub.core.db import session_scope
from signalhub.market_data import service as market_service
from signalhub.market_data.providers import get_provider
from signalhub.market_data.repository import close_after
from signalhub.models import Notification, PriceBar, Signal, SignalOutcome, User, UserRole
from signalhub.signals import performance
from signalhub.signals.tasks import evaluate_signal_performance
from tests.helpers import auth_headers
from tests.signals.test_pipeline import CUT, END, run

# Daily closes from database/seed/daily/*.csv (the `close` column the replay provider serves).
AAPL = {
    "2025-03-20": 214.10000610351562, "2025-04-02": 223.88999938964844, "2025-04-04": 188.3800048828125,
    "2025-04-07": 181.4600067138672, "2025-04-08": 172.4199981689453, "2025-04-09": 198.85000610351562,
    "2025-04-11": 198.14999389648438, "2025-04-15": 202.13999938964844, "2025-05-05": 198.88999938964844,
    "2024-10-02": 226.77999877929688, "2024-10-03": 225.6699981689453,
}
MSFT = {
    "2025-04-03": 373.1099853515625, "2025-04-09": 390.489990234375, "2025-04-10": 381.3500061035156,
    "2025-04-16": 371.6099853515625,
}


def load(tickers: list[str], until: date, start: date = date(2024, 9, 1)) -> None:
    """Store real daily bars of `tickers` from `start` up to (not including) `until`."""
    with session_scope() as session:
        market_service.update_prices(session, get_provider("replay"), tickers, "1d",
                                     datetime.combine(start, datetime.min.time(), UTC),
                                     datetime.combine(until, datetime.min.time(), UTC))


def add_signal(ticker: str, day: str, action: str, strategy: str = "rsi_reversal", grade: str | None = None,
               interval: str = "1d", at: datetime | None = None) -> int:
    """Store a signal as the pipeline would (the fields performance reads are the real ones)."""
    bar_ts = at or datetime.fromisoformat(day).replace(tzinfo=UTC)
    with session_scope() as session:
        signal = Signal(ticker=ticker, strategy=strategy, interval=interval, bar_ts=bar_ts, action=action,
                        grade=grade or action, technical_confidence=0.7, combined_confidence=0.7,
                        technical_only=True, price=1.0, reasons=["test"], params={}, params_hash="0" * 64,
                        inputs_hash="0" * 64, input_start_ts=bar_ts)
        session.add(signal)
        session.flush()
        return signal.id


def outcomes(db_session) -> dict[tuple[int, int], SignalOutcome]:
    db_session.expire_all()
    return {(o.signal_id, o.horizon): o for o in db_session.scalars(select(SignalOutcome))}


def evaluate(now: datetime | None = None) -> performance.EvaluationResult:
    with session_scope() as session:
        return performance.evaluate_outcomes(session, now=now)


def test_forward_returns_match_the_real_closes_and_follow_the_signal_direction(db_session):
    load(["AAPL", "MSFT"], date(2025, 5, 15))
    buy = add_signal("AAPL", "2025-04-04", "BUY")
    sell = add_signal("MSFT", "2025-04-09", "SELL")
    result = evaluate()
    stored = outcomes(db_session)

    # 1, 5 and 20 trading days after Friday 2025-04-04 are 04-07, 04-11 and 05-05 (Good Friday 04-18 is skipped).
    for horizon, day in ((1, "2025-04-07"), (5, "2025-04-11"), (20, "2025-05-05")):
        outcome = stored[(buy, horizon)]
        expected = AAPL[day] / AAPL["2025-04-04"] - 1
        assert outcome.base_ts == datetime(2025, 4, 4, tzinfo=UTC)
        assert outcome.exit_ts.date().isoformat() == day
        assert outcome.base_close == AAPL["2025-04-04"] and outcome.exit_close == AAPL[day]
        assert outcome.forward_return == pytest.approx(expected, rel=1e-12)
        assert outcome.signal_return == pytest.approx(expected, rel=1e-12)  # a BUY keeps the sign
    assert stored[(buy, 1)].forward_return == pytest.approx(-0.036734, abs=1e-6)  # 181.46 / 188.38 - 1
    assert stored[(buy, 5)].forward_return == pytest.approx(0.051863, abs=1e-6)  # 198.15 / 188.38 - 1

    # MSFT fell after the SELL: a negative forward return is a positive signal return.
    for horizon, day in ((1, "2025-04-10"), (5, "2025-04-16")):
        outcome = stored[(sell, horizon)]
        expected = MSFT[day] / MSFT["2025-04-09"] - 1
        assert expected < 0
        assert outcome.forward_return == pytest.approx(expected, rel=1e-12)
        assert outcome.signal_return == pytest.approx(-expected, rel=1e-12)
    assert stored[(sell, 20)].exit_ts.date().isoformat() == "2025-05-08"
    assert result.stored == {1: 2, 5: 2, 20: 2} and result.pending == 6


def test_no_outcome_before_the_nth_bar_exists_then_it_appears(db_session):
    # Bars up to 2025-05-01: the 20th bar after 04-04 (05-05) is not stored yet.
    load(["AAPL"], date(2025, 5, 2))
    buy = add_signal("AAPL", "2025-04-04", "BUY")
    late = add_signal("AAPL", "2025-05-01", "SELL")  # the newest bar: nothing after it yet
    evaluate()
    assert set(outcomes(db_session)) == {(buy, 1), (buy, 5)}
    first_five = outcomes(db_session)[(buy, 5)].signal_return

    load(["AAPL"], date(2025, 5, 6))
    result = evaluate()
    stored = outcomes(db_session)
    assert stored[(buy, 20)].exit_close == AAPL["2025-05-05"]
    assert stored[(buy, 5)].signal_return == first_five  # written once, never recomputed
    assert (late, 1) in stored and (late, 5) not in stored  # 05-02 and 05-05 exist; 5 bars do not
    assert result.stored == {1: 1, 5: 0, 20: 1}


def test_a_session_still_trading_is_not_a_future_bar(db_session):
    load(["AAPL"], date(2025, 5, 15))
    buy = add_signal("AAPL", "2025-04-04", "BUY")
    # 2025-04-07 13:00 New York time: the 04-07 bar exists in the table but its session has not closed.
    evaluate(now=datetime(2025, 4, 7, 17, 0, tzinfo=UTC))
    assert outcomes(db_session) == {}
    # 16:00 EDT = 20:00 UTC: from then on the day's close is final.
    evaluate(now=datetime(2025, 4, 7, 20, 0, tzinfo=UTC))
    assert set(outcomes(db_session)) == {(buy, 1)}


def test_intraday_signals_use_their_sessions_daily_close_and_hold_is_skipped(db_session):
    load(["AAPL"], date(2024, 11, 15))
    # 11:00 New York time on 2024-10-02, a one-minute bar from the bundled intraday file.
    intraday = add_signal("AAPL", "", "SELL", interval="1m", at=datetime(2024, 10, 2, 15, 0, tzinfo=UTC))
    hold = add_signal("AAPL", "2024-10-02", "BUY", strategy="macd_cross", grade="HOLD")
    evaluate()
    stored = outcomes(db_session)
    outcome = stored[(intraday, 1)]
    assert outcome.base_ts == datetime(2024, 10, 2, tzinfo=UTC) and outcome.base_close == AAPL["2024-10-02"]
    assert outcome.exit_close == AAPL["2024-10-03"]
    assert outcome.signal_return == pytest.approx(-(AAPL["2024-10-03"] / AAPL["2024-10-02"] - 1), rel=1e-12)
    assert not [key for key in stored if key[0] == hold]


def test_outcomes_of_real_pipeline_signals_agree_with_the_bar_by_bar_lookup(db_session):
    from tests.signals.test_pipeline import TICKERS

    load(TICKERS, CUT.date(), start=date(2023, 1, 1))
    run(None, end=END)
    load(TICKERS, date(2025, 5, 20), start=date(2025, 4, 1))
    evaluate()
    stored = outcomes(db_session)
    signals = {s.id: s for s in db_session.scalars(select(Signal))}
    evaluated = [s for s in signals.values() if s.grade != "HOLD"]
    assert evaluated and len(stored) == 3 * len(evaluated)
    for (signal_id, horizon), outcome in stored.items():
        signal = signals[signal_id]
        exit_close = close_after(db_session, signal.ticker, "1d", signal.bar_ts, horizon)
        assert outcome.base_close == pytest.approx(signal.price) and outcome.exit_close == exit_close
        sign = 1 if signal.action == "BUY" else -1
        assert outcome.signal_return == pytest.approx(sign * (exit_close / signal.price - 1), rel=1e-12)


# -- aggregates over HTTP ----------------------------------------------------------------------------------

def _h5(closes: dict[str, float], day: str, exit_day: str, action: str) -> float:
    forward = closes[exit_day] / closes[day] - 1
    return forward if action == "BUY" else -forward


@pytest.fixture
def scored():
    """Five signals on real bars whose 5-day signal returns are known from the CSV closes."""
    load(["AAPL", "MSFT"], date(2025, 5, 15))
    add_signal("AAPL", "2025-04-04", "BUY", grade="BUY")
    add_signal("AAPL", "2025-04-08", "SELL", grade="SELL")
    add_signal("MSFT", "2025-04-09", "SELL", grade="STRONG_SELL")
    add_signal("MSFT", "2025-04-03", "BUY", grade="BUY")
    add_signal("AAPL", "2025-04-02", "BUY", strategy="macd_cross", grade="STRONG_BUY")
    evaluate()
    return {
        "rsi": [_h5(AAPL, "2025-04-04", "2025-04-11", "BUY"), _h5(AAPL, "2025-04-08", "2025-04-15", "SELL"),
                _h5(MSFT, "2025-04-09", "2025-04-16", "SELL"), _h5(MSFT, "2025-04-03", "2025-04-10", "BUY")],
        "macd": [_h5(AAPL, "2025-04-02", "2025-04-09", "BUY")],
    }


def test_performance_per_strategy_is_hand_checked(client, scored):
    headers = auth_headers(client, "ann@example.com")
    r = client.get("/api/v1/signals/performance", headers=headers, params={"horizon": 5})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["horizon"] == 5 and report["group_by"] == "strategy" and report["success_threshold"] == 0.01
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {"rsi_reversal", "macd_cross"}

    rsi = scored["rsi"]  # +5.19%, -17.24%, +4.83%, +2.21%
    assert [round(x, 4) for x in rsi] == [0.0519, -0.1724, 0.0483, 0.0221]
    row = rows["rsi_reversal"]
    assert row["count"] == 4 and row["wins"] == 3 and row["win_rate"] == 0.75
    assert row["successes"] == 3 and row["success_rate"] == 0.75  # all three wins beat 1%
    assert row["average_return"] == pytest.approx(statistics.mean(rsi), rel=1e-9)
    assert row["std_return"] == pytest.approx(statistics.stdev(rsi), rel=1e-9)
    assert row["sharpe"] == pytest.approx(statistics.mean(rsi) / statistics.stdev(rsi) * math.sqrt(252 / 5),
                                          rel=1e-9)
    assert row["sharpe"] == pytest.approx(-0.8275, abs=1e-4)
    assert row["worst_loss"] == pytest.approx(rsi[1], rel=1e-12)
    assert row["horizon"] == 5

    macd = rows["macd_cross"]  # one BUY into the April 2025 sell-off: 198.85 / 223.89 - 1
    assert macd["count"] == 1 and macd["wins"] == 0 and macd["success_rate"] == 0.0
    assert macd["average_return"] == pytest.approx(-0.111841, abs=1e-6) and macd["sharpe"] is None
    assert macd["worst_loss"] == macd["average_return"]

    # A higher bar for "success" leaves the win rate alone: only +5.19% and +4.83% beat 3%.
    row = {x["key"]: x for x in client.get("/api/v1/signals/performance", headers=headers,
                                            params={"success_threshold": 0.03}).json()["rows"]}["rsi_reversal"]
    assert row["successes"] == 2 and row["win_rate"] == 0.75


def test_grouping_filters_and_horizons(client, scored):
    headers = auth_headers(client, "ann@example.com")

    def rows(**params):
        r = client.get("/api/v1/signals/performance", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return {row["key"]: row for row in r.json()["rows"]}

    by_ticker = rows(group_by="ticker")
    assert {k: v["count"] for k, v in by_ticker.items()} == {"AAPL": 3, "MSFT": 2}
    msft = [scored["rsi"][2], scored["rsi"][3]]
    assert by_ticker["MSFT"]["average_return"] == pytest.approx(statistics.mean(msft), rel=1e-9)
    assert by_ticker["MSFT"]["worst_loss"] is None  # both MSFT signals made money

    by_grade = rows(group_by="grade")
    assert {k: v["count"] for k, v in by_grade.items()} == {"BUY": 2, "SELL": 1, "STRONG_BUY": 1, "STRONG_SELL": 1}
    assert by_grade["SELL"]["average_return"] == pytest.approx(scored["rsi"][1], rel=1e-9)

    assert set(rows(strategy="macd_cross")) == {"macd_cross"}
    assert {k: v["count"] for k, v in rows(group_by="ticker", ticker="msft").items()} == {"MSFT": 2}
    # Only the signals on or after 2025-04-05: the AAPL SELL of 04-08 and the MSFT SELL of 04-09.
    since = rows(since="2025-04-05T00:00:00Z")
    assert since["rsi_reversal"]["count"] == 2 and "macd_cross" not in since
    assert rows(interval="1m") == {}

    one_day = rows(horizon=1)["macd_cross"]  # 04-02 -> 04-03: 203.19 / 223.89 - 1
    assert one_day["horizon"] == 1 and one_day["average_return"] == pytest.approx(-0.092456, abs=1e-6)


@pytest.mark.parametrize(("params", "field"), [
    ({"horizon": 3}, "query.horizon"), ({"horizon": "week"}, "query.horizon"),
    ({"group_by": "sector"}, "query.group_by"), ({"success_threshold": 1.5}, "query.success_threshold"),
    ({"since": "yesterday"}, "query.since"), ({"interval": "2h"}, "query.interval"),
])
def test_bad_parameters_are_422_naming_the_parameter(client, params, field):
    headers = auth_headers(client, "ann@example.com")
    r = client.get("/api/v1/signals/performance", headers=headers, params=params)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == field, r.text


def test_unknown_strategy_or_malformed_ticker_is_422_and_anonymous_is_401(client):
    headers = auth_headers(client, "ann@example.com")
    r = client.get("/api/v1/signals/performance", headers=headers, params={"strategy": "astrology"})
    assert r.status_code == 422 and "strategy 'astrology'" in r.json()["error"]["message"]
    r = client.get("/api/v1/signals/performance", headers=headers, params={"ticker": "no such!"})
    assert r.status_code == 422 and "ticker" in r.json()["error"]["message"]
    assert client.get("/api/v1/signals/performance").status_code == 401
    # The route is not shadowed by /signals/{signal_id}.
    assert client.get("/api/v1/signals/performance", headers=headers).json()["rows"] == []


# -- consecutive-loss monitoring and the nightly task ------------------------------------------------------

def _aapl_closes(db_session) -> tuple[list[str], list[float]]:
    rows = db_session.execute(select(PriceBar.ts, PriceBar.close).where(
        PriceBar.ticker == "AAPL", PriceBar.interval == "1d").order_by(PriceBar.ts)).all()
    return [ts.date().isoformat() for ts, _ in rows], [close for _, close in rows]


def _signal_with_outcome(db_session, day: str, strategy: str, lose: bool) -> int:
    """A signal whose 5-day result on the real bars is a loss (or a win), by choosing its direction."""
    days, closes = _aapl_closes(db_session)
    i = days.index(day)
    rose = closes[i + 5] > closes[i]
    action = ("SELL" if rose else "BUY") if lose else ("BUY" if rose else "SELL")
    return add_signal("AAPL", day, action, strategy=strategy)


def _inbox(client, headers) -> list[dict]:
    return client.get("/api/v1/users/alerts", headers=headers).json()["items"]


def _rule(client, headers, strategies: list[str], active: bool = True) -> None:
    r = client.post("/api/v1/alerts/rules", headers=headers, json={
        "name": "mine", "tickers": ["AAPL"], "strategies": strategies, "is_active": active})
    assert r.status_code == 201, r.text


def test_a_losing_streak_alerts_subscribers_and_admins_once(client, db_session):
    load(["AAPL"], date(2025, 5, 15))
    people = {name: auth_headers(client, f"{name}@example.com")
              for name in ("root", "fan", "everything", "other", "nobody", "paused")}
    _rule(client, people["fan"], ["ma_cross"])
    _rule(client, people["everything"], [])  # no strategies: every strategy
    _rule(client, people["other"], ["rsi_reversal"])
    _rule(client, people["paused"], ["ma_cross"], active=False)
    with session_scope() as session:
        session.scalars(select(User).where(User.email == "root@example.com")).one().role = UserRole.ADMIN

    march = ["2025-03-20", "2025-03-21", "2025-03-24", "2025-03-25", "2025-03-26"]
    for day in march:
        _signal_with_outcome(db_session, day, "ma_cross", lose=True)
        _signal_with_outcome(db_session, day, "rsi_reversal", lose=False)
    first = evaluate_signal_performance()
    assert first["streaks"] == [{"strategy": "ma_cross", "length": 5, "first_signal_id": first["streaks"][0][
        "first_signal_id"]}]
    assert first["users_notified"] == 2 and first["admins_notified"] == 1

    got = {name: _inbox(client, headers) for name, headers in people.items()}
    assert {name: len(items) for name, items in got.items()} == {
        "root": 1, "fan": 1, "everything": 1, "other": 0, "nobody": 0, "paused": 0}
    notice = got["fan"][0]
    assert notice["title"] == "ma_cross: 5 losing signals in a row"
    assert "2025-03-26 AAPL" in notice["body"] and "5 trading day(s)" in notice["body"]

    # The same streak, evaluated again and then one loss longer: no new alert.
    again = evaluate_signal_performance()
    assert again["users_notified"] == 0 and again["admins_notified"] == 0
    _signal_with_outcome(db_session, "2025-03-27", "ma_cross", lose=True)
    longer = evaluate_signal_performance()
    assert longer["streaks"][0]["length"] == 6 and longer["users_notified"] == longer["admins_notified"] == 0

    # A win ends it; five new losses are a new streak and alert again.
    _signal_with_outcome(db_session, "2025-03-28", "ma_cross", lose=False)
    for day in ["2025-03-31", "2025-04-01", "2025-04-02", "2025-04-03"]:
        _signal_with_outcome(db_session, day, "ma_cross", lose=True)
    assert evaluate_signal_performance()["streaks"] == []  # four losses since the win: not yet
    _signal_with_outcome(db_session, "2025-04-04", "ma_cross", lose=True)
    new = evaluate_signal_performance()
    assert new["users_notified"] == 2 and new["admins_notified"] == 1
    counts = {name: len(_inbox(client, headers)) for name, headers in people.items()}
    assert counts == {"root": 2, "fan": 2, "everything": 2, "other": 0, "nobody": 0, "paused": 0}


def test_streak_length_and_horizon_come_from_settings(client, db_session, env):
    env.setenv("SIGNAL_LOSS_STREAK_LENGTH", "2")
    env.setenv("SIGNAL_LOSS_STREAK_HORIZON", "1")
    load(["AAPL"], date(2025, 5, 15))
    fan = auth_headers(client, "fan@example.com")
    _rule(client, fan, ["bollinger_breakout"])
    days, closes = _aapl_closes(db_session)
    for day in ("2025-04-01", "2025-04-02"):  # direction chosen to lose on the next day's close
        i = days.index(day)
        add_signal("AAPL", day, "SELL" if closes[i + 1] > closes[i] else "BUY", strategy="bollinger_breakout")
    result = evaluate_signal_performance()
    assert result["streaks"][0]["length"] == 2 and result["users_notified"] == 1
    assert "1 trading day(s)" in _inbox(client, fan)[0]["body"]


def test_the_nightly_task_is_idempotent_and_scheduled(db_session):
    from signalhub.worker import celery_app

    load(["AAPL", "MSFT"], date(2025, 4, 20))
    ids = [add_signal("AAPL", "2025-04-04", "BUY"), add_signal("MSFT", "2025-04-09", "SELL")]
    first = evaluate_signal_performance()
    assert first["stored"] == {"1": 2, "5": 2, "20": 0} and first["pending"] == 6
    snapshot = {key: (o.signal_return, o.evaluated_at) for key, o in outcomes(db_session).items()}
    second = evaluate_signal_performance()
    assert second["stored"] == {"1": 0, "5": 0, "20": 0} and second["pending"] == 2  # only the 20-day pairs
    assert {key: (o.signal_return, o.evaluated_at) for key, o in outcomes(db_session).items()} == snapshot
    assert db_session.scalar(select(func.count()).select_from(Notification)) == 0
    assert sorted({key[0] for key in snapshot}) == sorted(ids)

    entry = celery_app.conf.beat_schedule["evaluate-signal-performance"]
    assert entry["task"] == "signalhub.signals.tasks.evaluate_signal_performance"
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"].hour == {23} and entry["schedule"].minute == {15}  # nightly, after both closes


def test_a_streak_longer_than_the_first_look_back_keeps_its_first_loss(db_session):
    load(["AAPL"], date(2025, 5, 15), start=date(2024, 9, 1))
    days, closes = _aapl_closes(db_session)
    ids = []
    for i in range(70):  # more than the 64 newest signals looked at first
        ids.append(add_signal("AAPL", days[i], "SELL" if closes[i + 5] > closes[i] else "BUY", strategy="ma_cross"))
    evaluate()
    with session_scope() as session:
        streaks = performance.current_loss_streaks(session, 5, 5)
    assert [(s.strategy, s.length, s.first_signal_id) for s in streaks] == [("ma_cross", 70, ids[0])]
    assert [s["signal_id"] for s in streaks[0].recent] == ids[::-1][:10]
