"""A synchronous client for the KIS Open API (domestic stocks): quotes, daily bars, orders, fills, balance.

Rules it follows (see the KIS contract): bodies are parsed and branched on `rt_cd`/`msg_cd`/`error_code`
whatever the HTTP status; every call first takes a slot from the app key's rate limiter shared by all
processes (`core.throttle`, Redis-backed when REDIS_URL is set), and EGW00201/EGW00215 make every process
back off and the call retry; EGW00123/EGW00121 (expired/invalid token) re-issue the token once and retry
once; tokens come from the database-backed `TokenStore`. Real and paper credentials only ever reach their
own host. Orders are never retried after a network failure: the outcome is unknown (the order may have been
accepted), so the error says `outcome_unknown` and the caller reconciles with `daily_orders`.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import pandas as pd

from signalhub.broker.kis.tokens import IssuedToken, TokenStore, TokenThrottled, TokenUnavailable
from signalhub.broker.kis.trids import tr_id
from signalhub.core import calendars, metrics
from signalhub.core.config import get_settings
from signalhub.core.throttle import RateLimiter, ThrottleTimeout, get_rate_limiter
from signalhub.market_data.providers.base import BAR_COLUMNS, empty_bars

logger = logging.getLogger(__name__)

KST = calendars.KST
# Codes after which the request was refused before doing anything, so sending it again is safe.
RATE_LIMITED = frozenset({"EGW00201", "EGW00215"})
TOKEN_REJECTED = frozenset({"EGW00123", "EGW00121"})
RETRYABLE = RATE_LIMITED | TOKEN_REJECTED | {"EGW00133", "NETWORK", "TIMEOUT", "TOKEN_WAIT"}
CHART_PAGE = 100  # FHKST03010100 returns at most 100 bars per call
_MAX_PAGES = 200  # a broken tr_cont loop must end


@dataclass(frozen=True)
class KisCredentials:
    """One app key; the account fields are needed for trading calls only."""

    app_key: str
    app_secret: str
    paper: bool
    account_no: str = ""  # CANO, 8 digits
    product_code: str = "01"  # ACNT_PRDT_CD
    hts_id: str = ""

    def __repr__(self) -> str:  # the secret must never reach a log line
        return f"KisCredentials(app_key={self.app_key[:4]}…, paper={self.paper}, account_no={self.account_no!r})"


class KisError(Exception):
    """A KIS refusal or transport failure; `retryable` says whether the same call may succeed later."""

    def __init__(self, message: str, *, msg_cd: str = "", rt_cd: str = "", retryable: bool = False,
                 http_status: int | None = None, outcome_unknown: bool = False) -> None:
        super().__init__(f"{msg_cd or 'KIS'}: {message}" if msg_cd else message)
        self.message = message
        self.msg_cd = msg_cd
        self.rt_cd = rt_cd
        self.retryable = retryable
        self.http_status = http_status
        # A POST that may or may not have been executed (timeout / connection lost after sending).
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class KisQuote:
    """Current price of one KRX stock (FHKST01010100)."""

    ticker: str  # 6-digit code
    price: Decimal
    change: Decimal
    change_rate: Decimal
    volume: int  # accumulated today
    open: Decimal
    high: Decimal
    low: Decimal
    upper_limit: Decimal
    lower_limit: Decimal
    base_price: Decimal
    tick_size: Decimal
    at: datetime  # when we received it (UTC)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class KisOrderAck:
    """The broker's acknowledgement of an order or cancel: order number, routing branch, time."""

    order_no: str
    org_no: str
    ordered_at: datetime


@dataclass(frozen=True)
class KisOrderRecord:
    """One order as inquire-daily-ccld reports it (broker truth)."""

    order_no: str
    org_no: str
    ticker: str
    side: str  # BUY / SELL
    ordered_qty: int
    filled_qty: int
    remaining_qty: int
    avg_price: Decimal
    cancelled: bool  # a cancel row itself (cncl_yn Y), or an order whose remainder was cancelled
    ordered_at: datetime
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    original_order_no: str = ""  # orgn_odno: the order a cancel/modify row refers to
    cancelled_qty: int = 0  # cnc_cfrm_qty
    rejected_qty: int = 0  # rjct_qty
    order_price: Decimal = Decimal(0)


@dataclass(frozen=True)
class KisHolding:
    """One position in inquire-balance."""

    ticker: str
    quantity: int
    avg_price: Decimal
    orderable_qty: int = 0
    current_price: Decimal = Decimal(0)
    eval_amount: Decimal = Decimal(0)
    profit_loss: Decimal = Decimal(0)
    name: str = ""


@dataclass(frozen=True)
class KisBalance:
    """Cash deposit, D+2 cash and holdings of the account."""

    cash: Decimal  # dnca_tot_amt
    positions: list[KisHolding]
    settlement_cash: Decimal = Decimal(0)  # prvs_rcdl_excc_amt (D+2)
    total_eval: Decimal = Decimal(0)  # tot_evlu_amt
    raw_summary: dict[str, Any] = field(repr=False, default_factory=dict)


def krx_code(ticker: str) -> str:
    """`005930.KS` / `005930` -> `005930`; ValueError for anything that is not a KRX code."""
    code = ticker.strip().upper()
    for suffix in (".KS", ".KQ"):
        if code.endswith(suffix):
            code = code[: -len(suffix)]
    if not (len(code) == 6 and code.isalnum()):
        raise ValueError(f"not a KRX stock code: {ticker!r}")
    return code


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip() or "0")
    except InvalidOperation:
        return Decimal(0)


def _int(value: Any) -> int:
    return int(_dec(value))


def kst_datetime(day: str, hhmmss: str) -> datetime:
    """`YYYYMMDD` + `HHMMSS` in KST -> aware UTC."""
    hhmmss = (hhmmss or "000000").strip().zfill(6)
    return datetime.strptime(day + hhmmss, "%Y%m%d%H%M%S").replace(tzinfo=KST).astimezone(UTC)


@dataclass
class _Response:
    body: dict[str, Any]
    tr_cont: str


class KisClient:
    """KIS REST calls for one credential, rate-limited and authenticated for every process together."""

    def __init__(self, credentials: KisCredentials, *, base_url: str | None = None, timeout: float = 10.0) -> None:
        settings = get_settings()
        self.credentials = credentials
        self.paper = credentials.paper
        self.env = "paper" if self.paper else "real"
        self.broker = f"kis_{self.env}"
        own = settings.kis_paper_base_url if self.paper else settings.kis_real_base_url
        other = settings.kis_real_base_url if self.paper else settings.kis_paper_base_url
        self.base_url = (base_url or own).rstrip("/")
        if self.base_url == other.rstrip("/") and own.rstrip("/") != other.rstrip("/"):
            # A paper key on the real host (or the reverse) is refused by KIS and must never be tried.
            raise ValueError(f"a {self.env} credential cannot be used with the {'real' if self.paper else 'paper'} "
                             f"host {self.base_url}")
        self._overrides = settings.kis_tr_id_overrides
        self._max_retries = settings.kis_max_retries
        rate = settings.kis_paper_requests_per_second if self.paper else settings.kis_real_requests_per_second
        self._tokens = TokenStore(credentials.app_key, self.paper, self._issue_token)
        self._limiter: RateLimiter = get_rate_limiter(f"kis:{self.env}:{self._tokens.key_hash[:16]}", rate)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls) -> KisClient:
        """The platform's own KIS client (KIS_APP_KEY / KIS_APP_SECRET / KIS_PAPER)."""
        settings = get_settings()
        if not settings.kis_app_key or not settings.kis_app_secret:
            raise RuntimeError("KIS_APP_KEY and KIS_APP_SECRET must be set to use KIS")
        credentials = KisCredentials(settings.kis_app_key, settings.kis_app_secret, settings.kis_paper)
        return cls(credentials, timeout=settings.kis_timeout_seconds)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> KisClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- authentication -------------------------------------------------------------------------------
    def _issue_token(self) -> IssuedToken:
        body = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "appsecret": self.credentials.app_secret}
        data, status = self._post_plain("/oauth2/tokenP", body, "token")
        code = str(data.get("error_code") or data.get("msg_cd") or "")
        if code == "EGW00133":
            metrics.KIS_ERRORS.labels(msg_cd=code).inc()
            raise TokenThrottled(str(data.get("error_description") or "token throttled"))
        if "access_token" not in data:
            metrics.KIS_ERRORS.labels(msg_cd=code or f"HTTP{status}").inc()
            raise KisError(str(data.get("error_description") or data.get("msg1") or f"tokenP failed ({status})"),
                           msg_cd=code, http_status=status, retryable=status >= 500)
        expired = str(data.get("access_token_token_expired") or "")
        if expired:
            # The KST timestamp, not expires_in: it is what KIS itself checks against.
            expires_at = datetime.strptime(expired, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST).astimezone(UTC)
        else:
            expires_at = datetime.now(UTC) + timedelta(seconds=int(data.get("expires_in") or 86400))
        return IssuedToken(str(data["access_token"]), expires_at)

    def approval_key(self) -> str:
        """A WebSocket approval key (POST /oauth2/Approval; the secret goes in `secretkey`)."""
        body = {"grant_type": "client_credentials", "appkey": self.credentials.app_key,
                "secretkey": self.credentials.app_secret}
        data, status = self._post_plain("/oauth2/Approval", body, "approval")
        key = data.get("approval_key")
        if not key:
            code = str(data.get("error_code") or data.get("msg_cd") or "")
            metrics.KIS_ERRORS.labels(msg_cd=code or f"HTTP{status}").inc()
            raise KisError(str(data.get("error_description") or data.get("msg1") or "no approval key"),
                           msg_cd=code, http_status=status, retryable=status >= 500)
        return str(key)

    def _post_plain(self, path: str, body: dict[str, str], operation: str) -> tuple[dict[str, Any], int]:
        started = time.perf_counter()
        try:
            resp = self._http.post(path, json=body, headers={"content-type": "application/json; charset=utf-8"})
        except httpx.HTTPError as exc:
            metrics.KIS_ERRORS.labels(msg_cd="NETWORK").inc()
            raise KisError(f"{path}: {exc!r}", msg_cd="NETWORK", retryable=True) from exc
        finally:
            metrics.BROKER_LATENCY.labels(broker=self.broker, operation=operation).observe(
                time.perf_counter() - started)
        return _json(resp), resp.status_code

    # --- the one request path -------------------------------------------------------------------------
    def _request(self, method: str, path: str, operation: str, *, params: dict[str, str] | None = None,
                 body: dict[str, str] | None = None, tr_cont: str = "", idempotent: bool = True) -> _Response:
        tid = tr_id(operation, self.paper, self._overrides)
        attempt = 0
        reissued = False
        while True:
            try:
                waited = self._limiter.acquire(timeout=60.0)
            except ThrottleTimeout as exc:
                raise KisError(str(exc), msg_cd="EGW00201", retryable=True) from exc
            metrics.KIS_RATE_LIMIT_WAIT.labels(env=self.env).observe(waited)
            try:
                token = self._tokens.get()
            except TokenUnavailable as exc:
                raise KisError(str(exc), msg_cd="TOKEN_WAIT", retryable=True) from exc
            headers = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {token}",
                       "appkey": self.credentials.app_key, "appsecret": self.credentials.app_secret,
                       "tr_id": tid, "custtype": "P", "tr_cont": tr_cont}
            started = time.perf_counter()
            try:
                resp = self._http.request(method, path, params=params, json=body, headers=headers)
            except httpx.HTTPError as exc:
                timed_out = isinstance(exc, httpx.TimeoutException)
                code = "TIMEOUT" if timed_out else "NETWORK"
                metrics.KIS_ERRORS.labels(msg_cd=code).inc()
                # Connect errors happen before anything was sent; anything later may have been executed.
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (idempotent or not sent) and attempt < self._max_retries:
                    attempt += 1
                    time.sleep(_backoff(attempt))
                    continue
                raise KisError(f"{operation}: {exc!r}", msg_cd=code, retryable=True,
                               outcome_unknown=sent and not idempotent) from exc
            finally:
                metrics.BROKER_LATENCY.labels(broker=self.broker, operation=operation).observe(
                    time.perf_counter() - started)
            data = _json(resp)
            if str(data.get("rt_cd", "")) == "0":
                return _Response(data, resp.headers.get("tr_cont", ""))
            code = str(data.get("msg_cd") or data.get("error_code") or "")
            message = str(data.get("msg1") or data.get("error_description") or resp.text[:200]).strip()
            metrics.KIS_ERRORS.labels(msg_cd=code or f"HTTP{resp.status_code}").inc()
            if code in RATE_LIMITED and attempt < self._max_retries:
                attempt += 1
                # Every process sharing the key waits, not just this one.
                self._limiter.penalise(_backoff(attempt))
                logger.info("KIS rate limit hit; backing off", extra={"msg_cd": code, "attempt": attempt})
                continue
            if code in TOKEN_REJECTED and not reissued:
                reissued = True
                self._tokens.invalidate(token)
                logger.warning("KIS token rejected; re-issuing once", extra={"msg_cd": code})
                continue
            # A 5xx without a KIS body (a gateway's error page) is transient; a KIS answer is not retried.
            if not data and resp.status_code >= 500 and idempotent and attempt < self._max_retries:
                attempt += 1
                time.sleep(_backoff(attempt))
                continue
            raise KisError(message or f"HTTP {resp.status_code}", msg_cd=code, rt_cd=str(data.get("rt_cd", "")),
                           http_status=resp.status_code,
                           retryable=code in RETRYABLE or (not data and resp.status_code >= 500))

    def _paged(self, path: str, operation: str, params: dict[str, str]) -> list[_Response]:
        pages: list[_Response] = []
        tr_cont = ""
        params = dict(params)
        for _ in range(_MAX_PAGES):
            page = self._request("GET", path, operation, params=params, tr_cont=tr_cont)
            pages.append(page)
            # F/M: more pages follow; D/E (or nothing): this was the last.
            if page.tr_cont not in ("F", "M"):
                break
            tr_cont = "N"
            params["CTX_AREA_FK100"] = str(page.body.get("ctx_area_fk100", ""))
            params["CTX_AREA_NK100"] = str(page.body.get("ctx_area_nk100", ""))
        return pages

    # --- quotations -----------------------------------------------------------------------------------
    def current_price(self, ticker: str) -> KisQuote:
        """Current price of a KRX stock (FHKST01010100)."""
        code = krx_code(ticker)
        resp = self._request("GET", "/uapi/domestic-stock/v1/quotations/inquire-price", "current_price",
                             params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code})
        out = resp.body.get("output") or {}
        if not str(out.get("stck_prpr", "")).strip():
            raise KisError(f"no price for {code}", msg_cd="APBK0656")
        return KisQuote(
            ticker=code, price=_dec(out.get("stck_prpr")), change=_dec(out.get("prdy_vrss")),
            change_rate=_dec(out.get("prdy_ctrt")), volume=_int(out.get("acml_vol")), open=_dec(out.get("stck_oprc")),
            high=_dec(out.get("stck_hgpr")), low=_dec(out.get("stck_lwpr")), upper_limit=_dec(out.get("stck_mxpr")),
            lower_limit=_dec(out.get("stck_llam")), base_price=_dec(out.get("stck_sdpr")),
            tick_size=_dec(out.get("aspr_unit")), at=datetime.now(UTC), raw=dict(out))

    def daily_chart(self, ticker: str, start: date, end: date) -> pd.DataFrame:
        """Daily bars in [start, end] (FHKST03010100, raw prices, 100 per call, paged backwards by date).

        Columns as the market-data providers return them: ts (midnight UTC of the session date), open, high,
        low, close, volume; ascending."""
        code = krx_code(ticker)
        rows: dict[str, dict[str, Any]] = {}
        cursor = end
        for _ in range(_MAX_PAGES):
            if cursor < start:
                break
            resp = self._request("GET", "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice",
                                 "daily_chart", params={
                                     "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code,
                                     "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                                     "FID_INPUT_DATE_2": cursor.strftime("%Y%m%d"),
                                     "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "1"})
            # KIS pads short answers with empty rows; a bar without a date is not a bar.
            bars = [b for b in (resp.body.get("output2") or []) if str(b.get("stck_bsop_date", "")).strip()]
            for bar in bars:
                rows[bar["stck_bsop_date"]] = bar
            if len(bars) < CHART_PAGE:
                break
            oldest = min(datetime.strptime(b["stck_bsop_date"], "%Y%m%d").date() for b in bars)
            cursor = oldest - timedelta(days=1)
        if not rows:
            return empty_bars()
        frame = pd.DataFrame([
            {"ts": pd.Timestamp(day, tz="UTC"), "open": float(_dec(b.get("stck_oprc"))),
             "high": float(_dec(b.get("stck_hgpr"))), "low": float(_dec(b.get("stck_lwpr"))),
             "close": float(_dec(b.get("stck_clpr"))), "volume": float(_dec(b.get("acml_vol")))}
            for day, b in rows.items()
            if start <= datetime.strptime(day, "%Y%m%d").date() <= end
        ], columns=BAR_COLUMNS)
        if frame.empty:
            return empty_bars()
        return frame.sort_values("ts").reset_index(drop=True)

    # --- trading --------------------------------------------------------------------------------------
    def _account(self) -> dict[str, str]:
        if not self.credentials.account_no:
            raise ValueError("account_no (CANO) is required for trading calls")
        return {"CANO": self.credentials.account_no, "ACNT_PRDT_CD": self.credentials.product_code}

    def place_order(self, *, ticker: str, side: str, quantity: int, price: Decimal | None) -> KisOrderAck:
        """Send a cash order: limit at `price`, or market when `price` is None. Never retried after sending."""
        side = side.upper()
        if side not in ("BUY", "SELL"):
            raise ValueError("side must be BUY or SELL")
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if price is not None and (price <= 0 or price != price.to_integral_value()):
            raise ValueError("price must be a positive whole number of won")
        body = {**self._account(), "PDNO": krx_code(ticker), "ORD_DVSN": "01" if price is None else "00",
                "ORD_QTY": str(quantity), "ORD_UNPR": "0" if price is None else str(int(price)),
                "EXCG_ID_DVSN_CD": "KRX"}
        if side == "SELL":
            body["SLL_TYPE"] = "01"
        resp = self._request("POST", "/uapi/domestic-stock/v1/trading/order-cash",
                             "order_buy" if side == "BUY" else "order_sell", body=body, idempotent=False)
        return _ack(resp.body)

    def cancel_order(self, *, order_no: str, org_no: str, ticker: str, quantity: int) -> KisOrderAck:
        """Cancel an order: `quantity` shares of it, or everything remaining when `quantity` <= 0."""
        krx_code(ticker)
        body = {**self._account(), "KRX_FWDG_ORD_ORGNO": org_no, "ORGN_ODNO": order_no, "ORD_DVSN": "00",
                "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": str(max(quantity, 0)), "ORD_UNPR": "0",
                "QTY_ALL_ORD_YN": "Y" if quantity <= 0 else "N", "EXCG_ID_DVSN_CD": "KRX"}
        resp = self._request("POST", "/uapi/domestic-stock/v1/trading/order-rvsecncl", "order_revise_cancel",
                             body=body, idempotent=False)
        return _ack(resp.body)

    def daily_orders(self, day: date, *, ticker: str | None = None) -> list[KisOrderRecord]:
        """Every order of `day` with its fills (inquire-daily-ccld, all pages)."""
        old = (datetime.now(KST).date() - day).days > 90
        params = {**self._account(), "INQR_STRT_DT": day.strftime("%Y%m%d"), "INQR_END_DT": day.strftime("%Y%m%d"),
                  "SLL_BUY_DVSN_CD": "00", "INQR_DVSN": "01", "PDNO": krx_code(ticker) if ticker else "",
                  "CCLD_DVSN": "00", "ORD_GNO_BRNO": "", "ODNO": "", "INQR_DVSN_3": "00", "INQR_DVSN_1": "",
                  "CTX_AREA_FK100": "", "CTX_AREA_NK100": "", "EXCG_ID_DVSN_CD": "KRX"}
        records: list[KisOrderRecord] = []
        for page in self._paged("/uapi/domestic-stock/v1/trading/inquire-daily-ccld",
                                "daily_orders_old" if old else "daily_orders", params):
            for row in page.body.get("output1") or []:
                if not str(row.get("odno", "")).strip():
                    continue
                cancelled_qty = _int(row.get("cnc_cfrm_qty"))
                records.append(KisOrderRecord(
                    order_no=str(row["odno"]).strip(), org_no=str(row.get("ord_gno_brno", "")).strip(),
                    ticker=str(row.get("pdno", "")).strip(),
                    side="SELL" if str(row.get("sll_buy_dvsn_cd")) == "01" else "BUY",
                    ordered_qty=_int(row.get("ord_qty")), filled_qty=_int(row.get("tot_ccld_qty")),
                    remaining_qty=_int(row.get("rmn_qty")), avg_price=_dec(row.get("avg_prvs")),
                    cancelled=str(row.get("cncl_yn", "")).upper() == "Y" or cancelled_qty > 0,
                    ordered_at=kst_datetime(str(row.get("ord_dt") or day.strftime("%Y%m%d")),
                                            str(row.get("ord_tmd", ""))),
                    raw=dict(row), original_order_no=str(row.get("orgn_odno", "")).strip(),
                    cancelled_qty=cancelled_qty, rejected_qty=_int(row.get("rjct_qty")),
                    order_price=_dec(row.get("ord_unpr"))))
        return records

    def balance(self) -> KisBalance:
        """Cash and holdings (inquire-balance, all pages)."""
        params = {**self._account(), "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02", "UNPR_DVSN": "01",
                  "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00",
                  "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        holdings: list[KisHolding] = []
        summary: dict[str, Any] = {}
        for page in self._paged("/uapi/domestic-stock/v1/trading/inquire-balance", "balance", params):
            for row in page.body.get("output1") or []:
                # A sold-out position keeps a zero row until settlement (D+2): not a holding.
                if not str(row.get("pdno", "")).strip() or _int(row.get("hldg_qty")) <= 0:
                    continue
                holdings.append(KisHolding(
                    ticker=str(row["pdno"]).strip(), quantity=_int(row.get("hldg_qty")),
                    avg_price=_dec(row.get("pchs_avg_pric")), orderable_qty=_int(row.get("ord_psbl_qty")),
                    current_price=_dec(row.get("prpr")), eval_amount=_dec(row.get("evlu_amt")),
                    profit_loss=_dec(row.get("evlu_pfls_amt")), name=str(row.get("prdt_name", "")).strip()))
            output2 = page.body.get("output2")
            if isinstance(output2, list) and output2:
                summary = dict(output2[0])
            elif isinstance(output2, dict) and output2:
                summary = dict(output2)
        return KisBalance(cash=_dec(summary.get("dnca_tot_amt")), positions=holdings,
                          settlement_cash=_dec(summary.get("prvs_rcdl_excc_amt")),
                          total_eval=_dec(summary.get("tot_evlu_amt")), raw_summary=summary)


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _backoff(attempt: int) -> float:
    # 0.1 s, 0.2 s, 0.4 s ... capped at 2 s, with jitter so processes do not retry in lockstep.
    return min(2.0, 0.1 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)  # noqa: S311 - jitter


def _ack(body: dict[str, Any]) -> KisOrderAck:
    out = body.get("output") or {}
    today = datetime.now(KST).strftime("%Y%m%d")
    return KisOrderAck(order_no=str(out.get("ODNO", "")).strip(), org_no=str(out.get("KRX_FWDG_ORD_ORGNO", "")).strip(),
                       ordered_at=kst_datetime(today, str(out.get("ORD_TMD", ""))))
