"""Request and response models of trading: credentials (never echoed), opt-in, settings, orders, risk events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from signalhub.portfolios.schemas import PositionRead

Side = Literal["BUY", "SELL"]
OrderState = Literal["PENDING", "SUBMITTED", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "FAILED"]


class CredentialsPut(BaseModel):
    """KIS credentials: app key/secret, account (CANO 8 digits + ACNT_PRDT_CD 2 digits), HTS ID."""

    model_config = ConfigDict(extra="forbid")

    environment: Literal["paper", "real"] = Field(default="paper", description="paper (모의투자) or real (실전) keys")
    app_key: str = Field(min_length=8, max_length=200)
    app_secret: str = Field(min_length=8, max_length=500)
    account_no: str = Field(pattern=r"^\d{8}$", description="CANO, 8 digits")
    product_code: str = Field(default="01", pattern=r"^\d{2}$", description="ACNT_PRDT_CD, 2 digits (01 종합)")
    hts_id: str = Field(default="", max_length=32, description="HTS ID: the key of the fill-notice stream")

    @field_validator("app_key", "app_secret", "hts_id")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if value != value.strip() or any(c.isspace() for c in value):
            raise ValueError("must not contain whitespace")
        return value


class CredentialsRead(BaseModel):
    """Stored credentials, masked: the secrets themselves are never returned."""

    model_config = ConfigDict(from_attributes=True)

    environment: str
    app_key_hint: str
    account_hint: str
    hts_id_hint: str
    updated_at: datetime


class OptIn(BaseModel):
    """Opt in to automatic trading; real money needs mode "real" and confirm_real_trading true."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["paper", "real"] = "paper"
    confirm_real_trading: bool = False


class KillSwitch(BaseModel):
    """Stop (true) or allow (false) new orders."""

    enabled: bool


class GlobalKillSwitch(KillSwitch):
    """The administrators' switch for every user."""

    reason: str = Field(default="", max_length=300)


class GlobalKillSwitchRead(BaseModel):
    """State of the global kill switch."""

    model_config = ConfigDict(from_attributes=True)

    enabled: bool
    reason: str
    updated_by: int | None
    updated_at: datetime


class SettingsUpdate(BaseModel):
    """Risk limits and which signals trade; every field optional."""

    model_config = ConfigDict(extra="forbid")

    min_grade: Literal["STRONG", "ANY"] | None = None
    tickers: list[str] | None = Field(default=None, max_length=200)
    position_size_pct: Decimal | None = Field(default=None, gt=0, le=100)
    daily_loss_limit_pct: Decimal | None = Field(default=None, gt=0, le=100)
    max_symbol_weight_pct: Decimal | None = Field(default=None, gt=0, le=100)
    max_position_size_pct: Decimal | None = Field(default=None, gt=0, le=100)
    min_cash_reserve_pct: Decimal | None = Field(default=None, ge=0, lt=100)
    max_orders_per_day: int | None = Field(default=None, ge=0, le=1000)
    failures_before_cooldown: int | None = Field(default=None, ge=1, le=100)
    failure_cooldown_minutes: int | None = Field(default=None, ge=0, le=10080)
    price_protection_pct: Decimal | None = Field(default=None, gt=0, le=30)

    @field_validator("tickers")
    @classmethod
    def _tickers(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = [t.strip().upper() for t in value]
        if any(not t or len(t) > 32 for t in cleaned):
            raise ValueError("each ticker must be 1 to 32 characters")
        return sorted(set(cleaned))


class SettingsRead(BaseModel):
    """The user's trading switches and risk limits, and where orders go."""

    model_config = ConfigDict(from_attributes=True)

    opted_in: bool
    mode: str
    broker: str
    kill_switch: bool
    min_grade: str
    tickers: list[str]
    position_size_pct: Decimal
    daily_loss_limit_pct: Decimal
    max_symbol_weight_pct: Decimal
    max_position_size_pct: Decimal
    min_cash_reserve_pct: Decimal
    max_orders_per_day: int
    failures_before_cooldown: int
    failure_cooldown_minutes: int
    price_protection_pct: Decimal


class ManualOrderCreate(BaseModel):
    """A manual order: market if limit_price is absent. Reusing client_order_id returns the first order."""

    model_config = ConfigDict(extra="forbid")

    ticker: str = Field(min_length=1, max_length=32)
    side: Side
    quantity: int = Field(gt=0, le=10_000_000)
    limit_price: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"))
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")

    @model_validator(mode="after")
    def _upper(self) -> ManualOrderCreate:
        self.ticker = self.ticker.strip().upper()
        return self


class FillRead(BaseModel):
    """One execution of an order."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    quantity: int
    cumulative_quantity: int
    price: Decimal
    commission: Decimal
    tax: Decimal
    source: str
    executed_at: datetime


class BrokerReport(BaseModel):
    """What the broker last reported about the order (kept apart from our own bookkeeping)."""

    order_no: str | None
    org_no: str | None
    status: str | None
    filled_quantity: int | None
    avg_price: Decimal | None
    ordered_at: datetime | None
    updated_at: datetime | None


class OrderRead(BaseModel):
    """An order: ours (state, fills) and the broker's report."""

    id: int
    client_order_id: str
    signal_id: int | None
    broker: str
    ticker: str
    side: str
    order_type: str
    quantity: int
    limit_price: Decimal | None
    reference_price: Decimal | None
    state: OrderState
    outcome_unknown: bool
    filled_quantity: int
    avg_fill_price: Decimal | None
    fees: Decimal
    reason: str | None
    created_at: datetime
    submitted_at: datetime | None
    closed_at: datetime | None
    broker_report: BrokerReport
    fills: list[FillRead] = []


class OrderPage(BaseModel):
    """A page of orders."""

    items: list[OrderRead]
    total: int
    limit: int
    offset: int


class RiskEventRead(BaseModel):
    """One rule's verdict on one order candidate."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int | None
    signal_id: int | None
    client_order_id: str
    ticker: str
    side: str
    rule: str
    decision: Literal["APPROVED", "REJECTED"]
    value: Decimal | None
    limit_value: Decimal | None
    message: str
    details: dict[str, str]
    created_at: datetime


class RiskEventPage(BaseModel):
    """A page of risk events."""

    items: list[RiskEventRead]
    total: int
    limit: int
    offset: int


class BrokerPositions(BaseModel):
    """Positions from broker fills (per the ledger), and the broker's own holdings when it can be asked."""

    positions: list[PositionRead]
    broker: str | None
    broker_holdings: list[dict[str, str]] | None
    broker_error: str | None = None
