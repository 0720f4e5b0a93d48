"""The KIS REST client against the fake KIS server: the contract's section-12 checklist, call by call."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from signalhub.broker.kis.client import KisClient, KisError
from signalhub.core.config import PROJECT_ROOT, get_settings
from signalhub.core.crypto import decrypt_json
from signalhub.models.kis_access_token import KisAccessToken
from tests.fakes.kis import KST, FakeKis


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _api_calls(fake: FakeKis, path_part: str) -> list[dict]:
    return [r for r in fake.requests if path_part in r["path"]]


def test_token_is_issued_once_stored_encrypted_and_shared(kis_env, fake, db_session):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    before = _metric("signalhub_kis_token_issuances_total", env="paper")
    with KisClient(creds) as first, KisClient(creds) as second:
        assert first.current_price("005930.KS").price == Decimal(70_000)
        assert second.current_price("005930").price == Decimal(70_000)
    assert fake.token_requests == 1
    assert _metric("signalhub_kis_token_issuances_total", env="paper") == before + 1
    row = db_session.scalars(select(KisAccessToken)).one()
    assert row.key_hash == hashlib.sha256(f"paper:{creds.app_key}".encode()).hexdigest()
    assert fake.tokens_issued[0] not in row.token_encrypted and creds.app_key not in row.token_encrypted
    assert decrypt_json(row.token_encrypted) == fake.tokens_issued[0]
    # Expiry comes from access_token_token_expired, a KST wall time.
    expected = fake.apps[creds.app_key].token_expires_at
    assert row.expires_at == expected.astimezone(UTC)


def test_quote_fields_are_parsed_as_decimals(kis_env, fake):
    creds = fake.add_app(paper=False)
    fake.set_price("000660", 201_500, volume=1234, base=200_000)
    with KisClient(creds) as client:
        quote = client.current_price("000660.KS")
    assert (quote.ticker, quote.price, quote.change, quote.volume) == ("000660", Decimal(201_500), Decimal(1500), 1234)
    assert quote.upper_limit == Decimal(260_000) and quote.lower_limit == Decimal(140_000)
    assert _api_calls(fake, "inquire-price")[0]["env"] == "real"


def test_unknown_code_is_a_business_error_not_retried(kis_env, fake):
    creds = fake.add_app(paper=True)
    with KisClient(creds) as client, pytest.raises(KisError) as err:
        client.current_price("999999")
    assert err.value.msg_cd == "APBK0656" and not err.value.retryable
    assert len(_api_calls(fake, "inquire-price")) == 1


def test_paper_credential_never_goes_to_the_configured_real_host(kis_env, fake):
    creds = fake.add_app(paper=True)
    with pytest.raises(ValueError, match="real host"):
        KisClient(creds, base_url=fake.url(False))
    assert fake.requests == []


def test_cross_host_key_is_refused_by_kis_with_egw02004(env, fake):
    # Settings not pointing at the fake: the client cannot know this URL is the real host; KIS refuses.
    creds = fake.add_app(paper=True)
    with KisClient(creds, base_url=fake.url(False)) as client, pytest.raises(KisError) as err:
        client.current_price("005930")
    assert err.value.msg_cd == "EGW02004" and err.value.http_status == 500


def test_real_tr_id_on_the_paper_host_is_refused(kis_env, fake):
    kis_env.setenv("KIS_TR_ID_OVERRIDES", '{"VTTC8434R": "TTTC8434R"}')
    creds = fake.add_app(paper=True)
    with KisClient(creds) as client, pytest.raises(KisError) as err:
        client.balance()
    assert err.value.message == "모의투자 TR 이 아닙니다." and err.value.http_status == 500
    assert not err.value.retryable and len(_api_calls(fake, "inquire-balance")) == 1


def test_new_tr_ids_by_default_old_ones_by_configuration(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        client.place_order(ticker="005930.KS", side="BUY", quantity=1, price=Decimal(70_000))
    kis_env.setenv("KIS_TR_ID_OVERRIDES", '{"VTTC0012U": "VTTC0802U"}')
    get_settings.cache_clear()
    with KisClient(creds) as client:
        client.place_order(ticker="005930.KS", side="BUY", quantity=1, price=Decimal(70_000))
    assert [r["tr_id"] for r in _api_calls(fake, "order-cash")] == ["VTTC0012U", "VTTC0802U"]
    assert len(fake.orders) == 2


def test_egw00201_backs_off_and_retries(kis_env, fake):
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    before = _metric("signalhub_kis_errors_total", msg_cd="EGW00201")
    fake.fail_rate_limit(2)
    with KisClient(creds) as client:
        assert client.current_price("005930").price == Decimal(70_000)
    assert len(_api_calls(fake, "inquire-price")) == 3
    assert _metric("signalhub_kis_errors_total", msg_cd="EGW00201") == before + 2


def test_egw00201_gives_up_after_max_retries(kis_env, fake):
    kis_env.setenv("KIS_MAX_RETRIES", "1")
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    fake.fail_rate_limit(5)
    with KisClient(creds) as client, pytest.raises(KisError) as err:
        client.current_price("005930")
    assert err.value.msg_cd == "EGW00201" and err.value.retryable and err.value.http_status == 500


def test_paper_rate_limit_is_respected_without_hitting_the_bucket(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    waited_before = _metric("signalhub_kis_rate_limit_wait_seconds_sum", env="paper")
    with KisClient(creds) as client:
        client.current_price("005930")  # token + first call
        started = datetime.now(UTC)
        for _ in range(4):
            client.current_price("005930")
        elapsed = (datetime.now(UTC) - started).total_seconds()
    # 2/s: four more calls need ~2 s, and the fake's 2/s bucket never refused one.
    assert elapsed >= 1.4
    assert len(_api_calls(fake, "inquire-price")) == 5
    assert _metric("signalhub_kis_rate_limit_wait_seconds_sum", env="paper") - waited_before >= 1.4


def test_expired_token_is_reissued_once_and_the_call_retried(kis_env, fake, db_session):
    kis_env.setenv("KIS_TOKEN_MIN_INTERVAL_SECONDS", "0")
    get_settings.cache_clear()  # db_session read the settings already
    fake.token_throttle_seconds = 0
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        client.current_price("005930")
        fake.expire_tokens()
        assert client.current_price("005930").price == Decimal(70_000)
    assert fake.token_issuances == 2 and len(set(fake.tokens_issued)) == 2
    row = db_session.scalars(select(KisAccessToken)).one()
    assert decrypt_json(row.token_encrypted) == fake.tokens_issued[1]


def test_token_throttle_egw00133_is_waited_out_not_hammered(kis_env, fake):
    kis_env.setenv("KIS_TOKEN_MIN_INTERVAL_SECONDS", "0")
    fake.token_throttle_seconds = 1.0
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    before = _metric("signalhub_kis_errors_total", msg_cd="EGW00133")
    with KisClient(creds) as client:
        client.current_price("005930")
        fake.expire_tokens()
        started = datetime.now(UTC)
        assert client.current_price("005930").price == Decimal(70_000)
        elapsed = (datetime.now(UTC) - started).total_seconds()
    throttled = _metric("signalhub_kis_errors_total", msg_cd="EGW00133") - before
    assert fake.token_issuances == 2
    assert 1 <= throttled <= 2  # one refusal per second of throttle at most
    assert fake.token_requests == 2 + throttled
    assert elapsed >= 0.9


def test_ccld_pages_through_tr_cont(kis_env, fake):
    kis_env.setenv("KIS_PAPER_REQUESTS_PER_SECOND", "20")  # 17 orders at the paper pace would take 9 s
    fake.rates["paper"] = 20
    creds = fake.add_app(paper=True, cash=1e12)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        acks = [client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000 + i * 100))
                for i in range(17)]
        records = client.daily_orders(datetime.now(KST).date())
    # Paper pages hold 15 rows: two pages, the second asked for with tr_cont N and the context key.
    calls = _api_calls(fake, "inquire-daily-ccld")
    assert [c["tr_cont"] for c in calls] == ["", "N"]
    assert calls[1]["query"]["CTX_AREA_NK100"] == "15"
    assert [r.order_no for r in records] == [a.order_no for a in acks]
    assert all(r.order_no.isdigit() and len(r.order_no) < 10 for r in records)  # paper: short numbers


def test_balance_pages_and_drops_settled_zero_rows(kis_env, fake):
    creds = fake.add_app(paper=True, cash=5_000_000)
    for i in range(23):
        fake.set_holding(creds, f"{100000 + i:06d}", 10 + i, 1000.0 + i)
    fake.set_holding(creds, "999990", 0, 500.0)  # sold out, still listed until D+2
    with KisClient(creds) as client:
        balance = client.balance()
    assert len(_api_calls(fake, "inquire-balance")) == 2  # paper: 20 per page
    assert balance.cash == Decimal(5_000_000)
    assert len(balance.positions) == 23 and "999990" not in {p.ticker for p in balance.positions}
    assert balance.positions[3].quantity == 13 and balance.positions[3].avg_price == Decimal("1003.0000")


def test_partial_and_full_fills_feed_ccld_and_balance(kis_env, fake):
    creds = fake.add_app(paper=False, cash=10_000_000)
    fake.set_price("005930", 70_000)
    today = datetime.now(KST).date()
    with KisClient(creds) as client:
        ack = client.place_order(ticker="005930.KS", side="BUY", quantity=10, price=Decimal(70_000))
        assert len(ack.order_no) == 10 and ack.order_no.startswith("0") and ack.org_no == "06590"
        fake.fill(ack.order_no, 4, 70_000)
        (record,) = client.daily_orders(today, ticker="005930")
        assert (record.ordered_qty, record.filled_qty, record.remaining_qty) == (10, 4, 6)
        assert record.avg_price == Decimal(70_000) and not record.cancelled and record.side == "BUY"
        fake.fill(ack.order_no, 6, 70_500)
        (record,) = client.daily_orders(today)
        assert (record.filled_qty, record.remaining_qty, record.avg_price) == (10, 0, Decimal(70_300))
        balance = client.balance()
    assert balance.cash == Decimal(10_000_000 - 703_000)
    (holding,) = balance.positions
    assert (holding.ticker, holding.quantity, holding.avg_price) == ("005930", 10, Decimal("70300.0000"))


def test_cancel_of_the_remainder(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        ack = client.place_order(ticker="005930", side="BUY", quantity=5, price=Decimal(69_000))
        fake.fill(ack.order_no, 2, 69_000)
        cancel = client.cancel_order(order_no=ack.order_no, org_no=ack.org_no, ticker="005930", quantity=0)
        records = {r.order_no: r for r in client.daily_orders(datetime.now(KST).date())}
        with pytest.raises(KisError) as err:  # nothing left to cancel
            client.cancel_order(order_no=ack.order_no, org_no=ack.org_no, ticker="005930", quantity=0)
    original, cancel_row = records[ack.order_no], records[cancel.order_no]
    assert (original.filled_qty, original.remaining_qty, original.cancelled_qty) == (2, 0, 3)
    assert original.cancelled
    assert cancel_row.cancelled and cancel_row.original_order_no == ack.order_no and cancel_row.ordered_qty == 3
    assert not err.value.retryable
    body = _api_calls(fake, "order-rvsecncl")[0]["body"]
    assert (body["RVSE_CNCL_DVSN_CD"], body["QTY_ALL_ORD_YN"], body["ORD_QTY"]) == ("02", "Y", "0")


def test_order_bodies_are_upper_case_strings_and_market_orders_send_zero_price(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    fake.set_holding(creds, "005930", 3, 60_000)
    with KisClient(creds) as client:
        client.place_order(ticker="005930", side="SELL", quantity=3, price=None)
    body = _api_calls(fake, "order-cash")[0]["body"]
    assert body == {"CANO": creds.account_no, "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "01",
                    "ORD_QTY": "3", "ORD_UNPR": "0", "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "01"}
    assert _api_calls(fake, "order-cash")[0]["tr_id"] == "VTTC0011U"


def test_market_hours_holidays_and_weekends_reject_orders(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    with KisClient(creds) as client:
        fake.set_market_open(False)
        with pytest.raises(KisError) as err:
            client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000))
        assert err.value.msg_cd == "APBK0919" and not err.value.retryable and err.value.http_status == 200
        fake.set_clock(datetime(2026, 3, 9, 10, 0, tzinfo=KST))  # a Monday, 10:00 KST
        client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000))
        fake.set_clock(datetime(2026, 3, 9, 15, 35, tzinfo=KST))  # after the close
        with pytest.raises(KisError, match="APBK0919"):
            client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000))
        fake.set_clock(datetime(2026, 3, 7, 10, 0, tzinfo=KST))  # Saturday
        with pytest.raises(KisError, match="APBK0919"):
            client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000))
        fake.set_clock(datetime(2026, 3, 10, 10, 0, tzinfo=KST))
        fake.holidays.add(date(2026, 3, 10))
        with pytest.raises(KisError, match="APBK0919"):
            client.place_order(ticker="005930", side="BUY", quantity=1, price=Decimal(70_000))
    assert len(fake.orders) == 1


def test_order_accepted_but_connection_lost_is_outcome_unknown_and_not_resent(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    fake.drop_response_after_accept(next_n=1)
    with KisClient(creds) as client:
        with pytest.raises(KisError) as err:
            client.place_order(ticker="005930", side="BUY", quantity=2, price=Decimal(70_000))
        records = client.daily_orders(datetime.now(KST).date())
    assert err.value.outcome_unknown and err.value.retryable
    # The broker has it exactly once: the client never re-sent the order on its own.
    assert len(_api_calls(fake, "order-cash")) == 1
    assert [(r.ordered_qty, r.remaining_qty) for r in records] == [(2, 2)]


def test_bad_order_arguments_are_refused_before_sending(kis_env, fake):
    creds = fake.add_app(paper=True)
    with KisClient(creds) as client:
        for kwargs in ({"side": "HOLD", "quantity": 1, "price": None}, {"side": "BUY", "quantity": 0, "price": None},
                       {"side": "BUY", "quantity": 1, "price": Decimal("70000.5")}):
            with pytest.raises(ValueError):
                client.place_order(ticker="005930", **kwargs)
        with pytest.raises(ValueError, match="KRX"):
            client.current_price("AAPL")
    assert fake.requests == []


def _seed_bars(code: str) -> list[tuple]:
    frame = pd.read_csv(PROJECT_ROOT / "database" / "seed" / "daily" / f"{code}.KS.csv", parse_dates=["date"])
    frame = frame[(frame["date"] >= "2024-01-01") & (frame["date"] <= "2024-12-31")]
    columns = [frame[c] for c in ("date", "open", "high", "low", "close", "volume")]
    return [(d.date(), o, h, lo, c, v) for d, o, h, lo, c, v in zip(*columns, strict=True)]


def test_daily_chart_pages_backwards_100_bars_at_a_time(kis_env, fake):
    creds = fake.add_app(paper=False)
    bars = _seed_bars("005930")
    fake.add_daily_bars("005930", bars)
    with KisClient(creds) as client:
        frame = client.daily_chart("005930.KS", date(2024, 1, 1), date(2024, 12, 31))
    assert len(frame) == len(bars) > 200
    assert len(_api_calls(fake, "itemchartprice")) == 3
    assert list(frame.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert frame["ts"].is_monotonic_increasing and str(frame["ts"].dt.tz) == "UTC"
    first = bars[0]
    assert frame.iloc[0]["ts"] == pd.Timestamp(first[0], tz="UTC") and frame.iloc[0]["close"] == first[4]


def test_approval_key_uses_secretkey(kis_env, fake):
    creds = fake.add_app(paper=True)
    with KisClient(creds) as client:
        key = client.approval_key()
    assert len(key) == 36 and fake.approval_keys[key] == creds.app_key
    assert set(_api_calls(fake, "Approval")[0]["body"]) == {"grant_type", "appkey", "secretkey"}
