"""The backtest engine and its metrics against hand-computed values on real AAPL bars, and no look-ahead."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signalhub.core.config import PROJECT_ROOT
from signalhub.signals import strategies
from signalhub.signals.strategies.base import BUY_CODE, HOLD_CODE, SELL_CODE
from signalhub.simulations import engine, metrics

SEED = PROJECT_ROOT / "database" / "seed" / "daily"


def bars(ticker: str, rows: int | None = None) -> pd.DataFrame:
    """Real daily bars of one bundled ticker as the long frame strategies take."""
    raw = pd.read_csv(SEED / f"{ticker}.csv")
    raw = raw.head(rows) if rows else raw
    frame = raw[["open", "high", "low", "close", "volume"]].astype("float64")
    frame.insert(0, "ts", pd.to_datetime(raw["date"], utc=True))
    frame.insert(0, "ticker", ticker)
    return frame


def window(frame: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    return frame["ts"].iloc[0], frame["ts"].iloc[-1]


# AAPL 2020-08-10 .. 2020-09-21 (30 bars). Opens of the fill bars, from database/seed/daily/AAPL.csv:
OPEN_2020_08_12 = 110.49749755859375
OPEN_2020_08_24 = 128.69749450683594
OPEN_2020_09_03 = 126.91000366210938
OPEN_2020_09_09 = 117.26000213623047
OPEN_2020_09_17 = 109.72000122070312


def test_fills_fees_and_metrics_match_a_hand_computation_on_30_real_bars():
    frame = bars("AAPL", 30)
    codes = np.full(30, HOLD_CODE, dtype=np.int8)
    codes[1] = BUY_CODE     # 08-11 close: buy at 08-12 open
    codes[5] = BUY_CODE     # already long: ignored
    codes[9] = SELL_CODE    # 08-21 close: sell at 08-24 open
    codes[14] = SELL_CODE   # flat: ignored
    codes[17] = BUY_CODE    # 09-02 close: buy at 09-03 open
    codes[20] = SELL_CODE   # 09-08 close: sell at 09-09 open
    codes[26] = BUY_CODE    # 09-16 close: buy at 09-17 open, still held at the end
    codes[29] = SELL_CODE   # last bar: no next open, never filled
    costs = engine.Costs(commission_bps=1.5, slippage_bps=10.0, sell_tax_bps=20.0)
    result = engine.run_backtest(frame, codes, *window(frame), 10_000.0, costs, engine.SizingRule("all_in"))

    # By hand: commission 0.015% on every fill, slippage 0.1% against us, tax 0.2% on sells, whole shares.
    buy1 = OPEN_2020_08_12 * 1.001                      # 110.60799505615233
    qty1 = 90                                           # floor(10000 / (buy1 * 1.00015)) = floor(90.39)
    cost1 = qty1 * buy1 * 1.00015                       # 9956.2127630847
    sell1 = OPEN_2020_08_24 * 0.999                     # 128.5687970123291
    proceeds1 = qty1 * sell1 * (1 - 0.00015 - 0.002)    # 11546.313668984782
    pnl1 = proceeds1 - cost1
    assert pnl1 == pytest.approx(1590.1009059007647, abs=1e-9)
    cash = 10_000.0 - cost1 + proceeds1                 # 11590.100905900765
    buy2 = OPEN_2020_09_03 * 1.001
    qty2 = 91                                           # floor(11590.10 / (127.0369 * 1.00015)) = floor(91.22)
    cost2 = qty2 * buy2 * 1.00015
    sell2 = OPEN_2020_09_09 * 0.999
    proceeds2 = qty2 * sell2 * (1 - 0.00015 - 0.002)
    pnl2 = proceeds2 - cost2
    assert pnl2 == pytest.approx(-925.0226407527007, abs=1e-9)
    cash2 = cash - cost2 + proceeds2                    # 10665.078265148064
    buy3 = OPEN_2020_09_17 * 1.001
    qty3 = 97                                           # floor(10665.08 / (109.8297 * 1.00015)) = floor(97.09)
    cash3 = cash2 - qty3 * buy3 * 1.00015               # 9.997284177674373

    trades = result.trades
    assert trades["qty"].tolist() == [90, 91, 97]
    assert trades["entry_ts"].dt.strftime("%Y-%m-%d").tolist() == ["2020-08-12", "2020-09-03", "2020-09-17"]
    assert trades["exit_ts"].dt.strftime("%Y-%m-%d").fillna("open").tolist() == ["2020-08-24", "2020-09-09", "open"]
    assert trades["entry_price"].tolist() == pytest.approx([buy1, buy2, buy3], rel=1e-15)
    assert trades["exit_price"].iloc[:2].tolist() == pytest.approx([sell1, sell2], rel=1e-15)
    assert trades["pnl"].iloc[:2].tolist() == pytest.approx([pnl1, pnl2], abs=1e-9)
    assert trades["fees"].iloc[0] == pytest.approx(qty1 * buy1 * 0.00015 + qty1 * sell1 * 0.00215, abs=1e-12)
    assert trades["trade_return"].iloc[0] == pytest.approx(pnl1 / cost1, rel=1e-12)

    close = frame["close"].to_numpy()
    expected = np.concatenate([
        [10_000.0] * 2,
        10_000.0 - cost1 + qty1 * close[2:10],
        [cash] * 8,
        cash - cost2 + qty2 * close[18:21],
        [cash2] * 6,
        cash3 + qty3 * close[27:30],
    ])
    assert result.equity == pytest.approx(expected, abs=1e-9)
    assert result.equity[-1] == pytest.approx(10687.757461789979, abs=1e-9)

    perf = metrics.performance(result.dates, result.equity, 10_000.0)
    stats = metrics.trade_stats(result.trades)
    assert perf["total_return"] == pytest.approx(0.06877574617899795, abs=1e-12)
    assert stats == {"trades": 2, "win_rate": 0.5, "profit_factor": pytest.approx(pnl1 / -pnl2, rel=1e-12),
                     "gross_profit": pytest.approx(pnl1), "gross_loss": pytest.approx(-pnl2)}
    # Deepest fall: from the 2020-09-02 peak (cash after the first trade plus the 09-02 bar, i.e. flat at
    # 11590.10 since 08-24) to the 09-08 close while holding 91 shares bought at 09-03's open.
    peak = cash
    trough = cash - cost2 + qty2 * close[20]
    assert perf["max_drawdown"] == pytest.approx(trough / peak - 1, abs=1e-12)
    assert perf["max_drawdown_trough"] == "2020-09-08"
    assert perf["max_drawdown_peak"] == "2020-08-24"
    assert perf["max_drawdown_recovery"] is None
    returns = expected[1:] / expected[:-1] - 1
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(252)
    sortino = returns.mean() / math.sqrt((np.minimum(returns, 0) ** 2).mean()) * math.sqrt(252)
    assert perf["sharpe"] == pytest.approx(sharpe, rel=1e-9)
    assert perf["sortino"] == pytest.approx(sortino, rel=1e-9)
    days = (pd.Timestamp("2020-09-21") - pd.Timestamp("2020-08-10")).days  # 42
    assert perf["cagr"] == pytest.approx((expected[-1] / 10_000.0) ** (365.25 / days) - 1, rel=1e-12)


def test_buy_and_hold_buys_at_the_first_open_with_the_same_costs():
    frame = bars("AAPL", 30)
    costs = engine.Costs(commission_bps=1.5, slippage_bps=10.0, sell_tax_bps=0.0)
    result = engine.run_backtest(frame, np.zeros(30, dtype=np.int8), *window(frame), 10_000.0, costs,
                                 engine.SizingRule())
    price = 112.5999984741211 * 1.001                   # 2020-08-10 open + slippage
    qty = 88                                            # floor(10000 / (price * 1.00015)) = floor(88.71)
    left = 10_000.0 - qty * price * 1.00015
    assert result.benchmark == pytest.approx(left + qty * frame["close"].to_numpy(), abs=1e-9)
    assert result.trades.empty and result.equity == pytest.approx(np.full(30, 10_000.0))


def test_sizing_rules_spend_a_fraction_or_an_amount_in_whole_shares():
    frame = bars("AAPL", 30)
    codes = np.zeros(30, dtype=np.int8)
    codes[1] = BUY_CODE
    free = engine.Costs(0.0, 0.0, 0.0)
    half = engine.run_backtest(frame, codes, *window(frame), 10_000.0, free, engine.SizingRule("fixed_fraction", 0.5))
    fixed = engine.run_backtest(frame, codes, *window(frame), 10_000.0, free,
                                engine.SizingRule("fixed_amount", amount=1_000.0))
    assert half.trades["qty"].tolist() == [math.floor(5_000.0 / OPEN_2020_08_12)]  # 45
    assert fixed.trades["qty"].tolist() == [math.floor(1_000.0 / OPEN_2020_08_12)]  # 9
    with pytest.raises(ValueError, match="fraction"):
        engine.SizingRule("fixed_fraction", 1.5).value()


def test_equity_of_several_tickers_sums_sleeves_carried_over_missing_bars():
    aapl = bars("AAPL", 30)
    msft = bars("MSFT", 30).drop(index=5).reset_index(drop=True)  # MSFT without its 2020-08-17 bar
    both = pd.concat([aapl, msft], ignore_index=True)
    costs = engine.Costs(0.0, 0.0, 0.0)
    result = engine.run_backtest(both, np.zeros(59, dtype=np.int8), *window(aapl), 20_000.0, costs,
                                 engine.SizingRule())
    alone = {t: engine.run_backtest(f, np.zeros(len(f), dtype=np.int8), *window(aapl), 10_000.0, costs,
                                    engine.SizingRule()).benchmark for t, f in (("AAPL", aapl), ("MSFT", msft))}
    assert result.tickers == ["AAPL", "MSFT"] and len(result.dates) == 30
    # On 2020-08-17 MSFT's sleeve keeps its 08-14 value.
    msft_on_dates = np.insert(alone["MSFT"], 5, alone["MSFT"][4])
    assert result.benchmark == pytest.approx(alone["AAPL"] + msft_on_dates, abs=1e-9)
    assert result.equity == pytest.approx(np.full(30, 20_000.0))


def test_metrics_of_a_small_curve():
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], tz="UTC")
    equity = np.array([100.0, 110.0, 99.0, 105.0, 121.0])
    perf = metrics.performance(dates, equity, 100.0)
    assert perf["total_return"] == pytest.approx(0.21)
    assert perf["max_drawdown"] == pytest.approx(99 / 110 - 1)
    assert (perf["max_drawdown_peak"], perf["max_drawdown_trough"], perf["max_drawdown_recovery"]) == (
        "2024-01-03", "2024-01-04", "2024-01-08")
    r = np.array([0.1, -0.1, 105 / 99 - 1, 121 / 105 - 1])
    assert perf["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert perf["sortino"] == pytest.approx(r.mean() / math.sqrt(0.01 / 4) * math.sqrt(252))
    flat = metrics.performance(dates, np.full(5, 100.0), 100.0)
    assert flat["sharpe"] is None and flat["sortino"] is None and flat["max_drawdown"] == 0.0
    assert flat["max_drawdown_peak"] is None


def test_live_strategy_states_fill_at_the_next_open():
    frame = engine.indicator_frame(bars("AAPL"))
    params = strategies.resolved_params("rsi_reversal")
    codes = engine.strategy_states(frame, "rsi_reversal", params)
    start, end = pd.Timestamp("2021-01-01", tz="UTC"), frame["ts"].iloc[-1]
    result = engine.run_backtest(frame, codes, start, end, 10_000.0, engine.Costs(slippage_bps=0.0),
                                 engine.SizingRule())
    assert len(result.trades) >= 3
    in_window = frame[frame["ts"] >= start].reset_index(drop=True)
    window_codes = codes[(frame["ts"] >= start).to_numpy()]
    for trade in result.trades.itertuples():
        assert window_codes[trade.entry_row - 1] == BUY_CODE
        assert trade.entry_price == in_window["open"].iloc[trade.entry_row]
        if trade.exit_row >= 0:
            assert window_codes[trade.exit_row - 1] == SELL_CODE
            assert trade.exit_price == in_window["open"].iloc[trade.exit_row]


FULL = {t: bars(t) for t in ("AAPL", "MSFT")}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategy=st.sampled_from(sorted(strategies.REGISTRY)), cut=st.integers(260, 1200),
       seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["scale", "shift", "truncate"]))
def test_changing_bars_after_t_never_changes_what_happened_up_to_t(strategy, cut, seed, mode):
    original = pd.concat(FULL.values(), ignore_index=True)
    cut_ts = FULL["AAPL"]["ts"].iloc[cut]
    later = (original["ts"] > cut_ts).to_numpy()
    changed = original.copy()
    rng = np.random.default_rng(seed)
    if mode == "scale":
        # Every future bar scaled by its own random factor (a different future, same bar times).
        factor = rng.uniform(0.5, 1.5, size=int(later.sum()))
        for col in ("open", "high", "low", "close"):
            changed.loc[later, col] = changed.loc[later, col].to_numpy() * factor
        changed.loc[later, "volume"] = changed.loc[later, "volume"].to_numpy() * rng.uniform(0.1, 3, later.sum())
    elif mode == "shift":
        # The future bars' prices moved by k bars: another real path with the same dates.
        k = int(rng.integers(1, 50))
        for _, rows in changed[later].groupby("ticker").groups.items():
            values = changed.loc[rows, ["open", "high", "low", "close", "volume"]].to_numpy()
            changed.loc[rows, ["open", "high", "low", "close", "volume"]] = np.roll(values, k, axis=0)
    else:
        changed = changed[~later].reset_index(drop=True)
    # Orders decided on the cut bar's close fill at the next bar's open: keep that open (and only it) as it
    # was, so those fills must come out the same too; a rule peeking one bar ahead would change them.
    next_ts = original.loc[later, "ts"].min()
    if mode != "truncate":
        first_later = (original["ts"] == next_ts).to_numpy()
        changed.loc[first_later, "open"] = original.loc[first_later, "open"]
    horizon = cut_ts if mode == "truncate" else next_ts
    start, end = pd.Timestamp("2021-06-01", tz="UTC"), original["ts"].max()
    params = strategies.resolved_params(strategy)

    def run(bars_frame: pd.DataFrame) -> engine.Backtest:
        frame = engine.indicator_frame(bars_frame)
        codes = engine.strategy_states(frame, strategy, params)
        return engine.run_backtest(frame, codes, start, end, 20_000.0, engine.Costs(), engine.SizingRule())

    before, after = run(original), run(changed)

    def events(result: engine.Backtest) -> list[tuple]:
        out = []
        for t in result.trades.itertuples():
            if t.entry_ts <= horizon:
                out.append((t.ticker, t.entry_ts, t.qty, t.entry_price))
            if t.exit_row >= 0 and t.exit_ts <= horizon:
                out.append((t.ticker, t.exit_ts, t.exit_price, t.pnl))
        return out

    assert events(before) == events(after)
    past = before.dates <= cut_ts
    assert np.array_equal(before.equity[past], after.equity[:past.sum()])
    assert np.array_equal(before.benchmark[past], after.benchmark[:past.sum()])
