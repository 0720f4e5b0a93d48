"""KIS order/fill notices (H0STCNI0 real, H0STCNI9 paper): AES-256-CBC decryption and positional parsing.

A notice frame is `1|H0STCNI0|001|<base64>`; the payload decrypts (key and iv from the subscribe ack) to
`^`-separated fields. KIS grew the layout from 23 to 26 fields in 2025, so fields are read by position from
the start and anything after the known ones is ignored.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

NOTICE_TR_IDS = frozenset({"H0STCNI0", "H0STCNI9"})
# The fields this parser needs, in KIS order (the first 14 are present in every known layout).
FIELDS = ("CUST_ID", "ACNT_NO", "ODER_NO", "OODER_NO", "SELN_BYOV_CLS", "RCTF_CLS", "ODER_KIND", "ODER_COND",
          "STCK_SHRN_ISCD", "CNTG_QTY", "CNTG_UNPR", "STCK_CNTG_HOUR", "RFUS_YN", "CNTG_YN", "ACPT_YN",
          "BRNC_NO", "ODER_QTY", "ACNT_NAME", "ORD_COND_PRC", "ORD_EXG_GB", "POPUP_YN", "FILLER", "CRDT_CLS",
          "CRDT_LOAN_DATE", "CNTG_ISNM40", "ODER_PRC")
_REQUIRED = 14


@dataclass(frozen=True)
class KisExecutionNotice:
    """One decrypted order notice: an acknowledgement (`is_fill` False) or a fill."""

    account_no: str
    order_no: str
    original_order_no: str
    ticker: str
    side: str  # BUY / SELL
    is_fill: bool  # CNTG_YN == 2
    rejected: bool  # RFUS_YN == 1
    quantity: int  # filled quantity of a fill; the order quantity of an acknowledgement
    price: Decimal  # fill price of a fill; the order price of an acknowledgement
    order_qty: int  # ODER_QTY (0 when the layout lacks it)
    accept_state: str  # ACPT_YN: 1 received, 2 confirmed, 3 FOK/IOC cancelled
    revise_cancel: str  # RCTF_CLS: 0 new, 1 modify, 2 cancel
    time_hhmmss: str
    fields: tuple[str, ...]

    @property
    def is_cancel(self) -> bool:
        """Whether this acknowledges a cancellation."""
        return self.revise_cancel == "2"


def decrypt_notice(cipher_b64: str, key: str, iv: str) -> str:
    """AES-256-CBC decrypt a base64 notice payload with the subscribe ack's key/iv; PKCS7-unpad."""
    decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).decryptor()
    padded = decryptor.update(base64.b64decode(cipher_b64)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def encrypt_notice(plain: str, key: str, iv: str) -> str:
    """The inverse of `decrypt_notice` (what KIS does before sending)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(iv.encode())).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def _dec(value: str) -> Decimal:
    try:
        return Decimal(value.strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _int(value: str) -> int:
    return int(_dec(value))


def parse_execution_notice(plain: str) -> KisExecutionNotice:
    """Parse one decrypted H0STCNI0/H0STCNI9 record by field position; extra trailing fields are ignored."""
    parts = tuple(plain.split("^"))
    if len(parts) < _REQUIRED:
        raise ValueError(f"notice has {len(parts)} fields, at least {_REQUIRED} expected")
    f = dict(zip(FIELDS, parts, strict=False))
    return KisExecutionNotice(
        account_no=f["ACNT_NO"].strip(), order_no=f["ODER_NO"].strip(), original_order_no=f["OODER_NO"].strip(),
        ticker=f["STCK_SHRN_ISCD"].strip(), side="SELL" if f["SELN_BYOV_CLS"].strip() == "01" else "BUY",
        is_fill=f["CNTG_YN"].strip() == "2", rejected=f["RFUS_YN"].strip() == "1",
        quantity=_int(f["CNTG_QTY"]), price=_dec(f["CNTG_UNPR"]), order_qty=_int(f.get("ODER_QTY", "")),
        accept_state=f.get("ACPT_YN", "").strip(), revise_cancel=f["RCTF_CLS"].strip(),
        time_hhmmss=f["STCK_CNTG_HOUR"].strip(), fields=parts)


def parse_notice_frame(frame: str, key: str, iv: str) -> list[KisExecutionNotice]:
    """Decrypt and parse a whole `1|H0STCNI0|001|<base64>` frame (one or more records)."""
    enc, tr, _count, payload = frame.split("|", 3)
    if tr not in NOTICE_TR_IDS:
        raise ValueError(f"not a notice frame: {tr}")
    plain = decrypt_notice(payload, key, iv) if enc == "1" else payload
    return [parse_execution_notice(record) for record in plain.split("\n") if record.strip()]
