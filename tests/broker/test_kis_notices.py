"""Encrypted H0STCNI0/H0STCNI9 order notices: subscribe with the HTS ID, decrypt with the ack's key/iv."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from signalhub.broker.kis.client import KisClient
from signalhub.broker.kis.notices import (
    decrypt_notice,
    encrypt_notice,
    parse_execution_notice,
    parse_notice_frame,
)


async def _collect_notices(ws_url: str, approval: str, hts_id: str, tr_id: str, act, count: int) -> tuple[dict, list]:
    async with connect(ws_url + "/tryitout/" + tr_id, ping_interval=None) as ws:
        await ws.send(json.dumps({"header": {"approval_key": approval, "custtype": "P", "tr_type": "1",
                                             "content-type": "utf-8"},
                                  "body": {"input": {"tr_id": tr_id, "tr_key": hts_id}}}))
        ack = json.loads(await ws.recv())
        await asyncio.to_thread(act)
        frames = [await asyncio.wait_for(ws.recv(), 5) for _ in range(count)]
    return ack, frames


def test_order_ack_and_fills_arrive_encrypted_and_parse(kis_env, fake):
    creds = fake.add_app(paper=True)
    fake.set_price("005930", 70_000)
    fake.notice_extra_fields = ["X1", "X2"]  # KIS adds fields without notice
    client = KisClient(creds)
    orders = []

    def trade() -> None:
        ack = client.place_order(ticker="005930", side="BUY", quantity=10, price=Decimal(70_000))
        orders.append(ack)
        fake.fill(ack.order_no, 4, 69_900)
        fake.fill(ack.order_no, 6, 70_000)

    try:
        ack, frames = asyncio.run(_collect_notices(fake.ws_url(True), client.approval_key(), creds.hts_id,
                                                   "H0STCNI9", trade, 3))
    finally:
        client.close()
    assert ack["body"]["msg_cd"] == "OPSP0000" and ack["header"]["encrypt"] == "Y"
    key, iv = ack["body"]["output"]["key"], ack["body"]["output"]["iv"]
    assert all(f.startswith("1|H0STCNI9|001|") for f in frames)
    notices = [n for f in frames for n in parse_notice_frame(f, key, iv)]
    order_no = orders[0].order_no
    assert [(n.order_no, n.is_fill, n.quantity, n.price) for n in notices] == [
        (order_no, False, 10, Decimal(70_000)), (order_no, True, 4, Decimal(69_900)),
        (order_no, True, 6, Decimal(70_000))]
    assert all(n.side == "BUY" and n.ticker == "005930" and not n.rejected for n in notices)
    assert notices[0].fields[-2:] == ("X1", "X2")


def test_real_host_uses_h0stcni0_and_rejections_are_flagged(kis_env, fake):
    creds = fake.add_app(paper=False)
    fake.set_price("005930", 70_000)
    fake.set_holding(creds, "005930", 5, 60_000)
    client = KisClient(creds)
    try:
        def trade() -> None:
            ack = client.place_order(ticker="005930", side="SELL", quantity=5, price=Decimal(71_000))
            fake.reject(ack.order_no)

        ack, frames = asyncio.run(_collect_notices(fake.ws_url(False), client.approval_key(), creds.hts_id,
                                                   "H0STCNI0", trade, 2))
    finally:
        client.close()
    key, iv = ack["body"]["output"]["key"], ack["body"]["output"]["iv"]
    assert (key, iv) == fake.notice_cipher(paper=False)
    first, second = (parse_notice_frame(f, key, iv)[0] for f in frames)
    assert first.side == "SELL" and not first.rejected and second.rejected


def test_decrypt_round_trip_and_legacy_23_field_layout():
    key, iv = "k" * 32, "i" * 16
    fields = ["hts", "5000000001", "0000001234", "", "02", "0", "00", "0", "005930", "3", "70000", "093000",
              "0", "2", "2", "06590", "3", "name", "", "1", "N", "", "10"]
    plain = "^".join(fields)
    assert decrypt_notice(encrypt_notice(plain, key, iv), key, iv) == plain
    notice = parse_execution_notice(plain)
    assert (notice.order_no, notice.is_fill, notice.quantity, notice.order_qty) == ("0000001234", True, 3, 3)
    with pytest.raises(ValueError):
        parse_execution_notice("^".join(fields[:10]))
