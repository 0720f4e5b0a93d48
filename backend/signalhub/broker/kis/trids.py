"""Every KIS tr_id in one table: real and paper ids per operation, new ids by default, overridable in config.

KIS migrated order and inquiry TRs in 2025 (`TTTC0802U` -> `TTTC0012U`, ...) and may block the old ones
without notice, so the client sends the new ids; KIS_TR_ID_OVERRIDES maps a default id to another (e.g. back
to an old id) without a code change. Quotations use the same id on both hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TrIds:
    """The tr_id of one operation on the real and the paper host, and the ids it replaced."""

    real: str
    paper: str
    old_real: str | None = None
    old_paper: str | None = None


TR_IDS: dict[str, TrIds] = {
    "current_price": TrIds("FHKST01010100", "FHKST01010100"),
    "daily_chart": TrIds("FHKST03010100", "FHKST03010100"),
    "order_buy": TrIds("TTTC0012U", "VTTC0012U", "TTTC0802U", "VTTC0802U"),
    "order_sell": TrIds("TTTC0011U", "VTTC0011U", "TTTC0801U", "VTTC0801U"),
    "order_revise_cancel": TrIds("TTTC0013U", "VTTC0013U", "TTTC0803U", "VTTC0803U"),
    "daily_orders": TrIds("TTTC0081R", "VTTC0081R", "TTTC8001R", "VTTC8001R"),
    "daily_orders_old": TrIds("CTSC9215R", "VTSC9215R", "CTSC9115R", "VTSC9115R"),
    "balance": TrIds("TTTC8434R", "VTTC8434R"),
    # Real-time (WebSocket): trades on KRX; fill notices (tr_key = HTS ID).
    "ws_trades": TrIds("H0STCNT0", "H0STCNT0"),
    "ws_notices": TrIds("H0STCNI0", "H0STCNI9"),
}


def tr_id(operation: str, paper: bool, overrides: Mapping[str, str] | None = None) -> str:
    """The tr_id to send for `operation` on the paper or real host, after configured overrides."""
    ids = TR_IDS[operation]
    default = ids.paper if paper else ids.real
    return (overrides or {}).get(default, default)
