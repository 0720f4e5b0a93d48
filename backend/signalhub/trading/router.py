"""HTTP layer for broker credentials, trading opt-in and settings, orders, positions, risk events, kill switches."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

from signalhub.broker.base import BrokerError
from signalhub.core.deps import AdminUser, CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse, NotFoundError
from signalhub.core.time import utcnow
from signalhub.models.portfolio_transaction import TradeSource
from signalhub.models.trading_order import TradingOrder
from signalhub.models.trading_settings import TradingSettings
from signalhub.portfolios import service as portfolio_service
from signalhub.portfolios.schemas import PositionRead
from signalhub.trading import execution, repository, service
from signalhub.trading.schemas import (
    BrokerPositions,
    BrokerReport,
    CredentialsPut,
    CredentialsRead,
    FillRead,
    GlobalKillSwitch,
    GlobalKillSwitchRead,
    KillSwitch,
    ManualOrderCreate,
    OptIn,
    OrderPage,
    OrderRead,
    OrderState,
    RiskEventPage,
    RiskEventRead,
    SettingsRead,
    SettingsUpdate,
)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["trading"])
ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
          422: {"model": ErrorResponse}}
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip")]
BROKER_SOURCES = (TradeSource.PAPER, TradeSource.KIS_PAPER, TradeSource.KIS_REAL)


def _settings_read(session: Session, settings: TradingSettings) -> SettingsRead:
    broker = service.broker_for(settings, repository.get_account(session, settings.user_id))
    return SettingsRead.model_validate({**{c: getattr(settings, c) for c in SettingsRead.model_fields
                                           if c != "broker"}, "broker": broker})


def _order_read(session: Session, order: TradingOrder) -> OrderRead:
    report = BrokerReport(order_no=order.broker_order_no, org_no=order.broker_org_no, status=order.broker_status,
                          filled_quantity=order.broker_filled_qty, avg_price=order.broker_avg_price,
                          ordered_at=order.broker_ordered_at, updated_at=order.broker_updated_at)
    fills = [FillRead.model_validate(f) for f in repository.fills_for_order(session, order.id)]
    fields = {c: getattr(order, c) for c in OrderRead.model_fields if c not in ("broker_report", "fills")}
    return OrderRead.model_validate({**fields, "broker_report": report, "fills": fills})


# --- credentials ---------------------------------------------------------------------------------------
@router.put("/api/v1/broker/credentials", response_model=CredentialsRead, responses=ERRORS)
def put_credentials(session: SessionDep, user: CurrentUser, body: CredentialsPut) -> CredentialsRead:
    """Store your KIS app key/secret, account and HTS ID (encrypted; only masked hints are ever returned)."""
    account = service.put_credentials(session, user, body)
    return CredentialsRead.model_validate(account)


@router.get("/api/v1/broker/credentials", response_model=CredentialsRead, responses=ERRORS)
def get_credentials(session: SessionDep, user: CurrentUser) -> CredentialsRead:
    """Your stored KIS credentials, masked."""
    account = repository.get_account(session, user.id)
    if account is None:
        raise NotFoundError("No broker credentials stored")
    return CredentialsRead.model_validate(account)


@router.delete("/api/v1/broker/credentials", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=ERRORS)
def delete_credentials(session: SessionDep, user: CurrentUser) -> Response:
    """Forget your KIS credentials."""
    service.delete_credentials(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- opt-in, settings, kill switches -------------------------------------------------------------------
@router.post("/api/v1/trading/opt-in", response_model=SettingsRead, responses=ERRORS)
def opt_in(session: SessionDep, user: CurrentUser, body: OptIn | None = None) -> SettingsRead:
    """Trade automatically on matching signals: paper by default; real needs {"mode": "real",
    "confirm_real_trading": true} and real credentials."""
    return _settings_read(session, service.opt_in(session, user, body or OptIn()))


@router.post("/api/v1/trading/opt-out", response_model=SettingsRead, responses=ERRORS)
def opt_out(session: SessionDep, user: CurrentUser) -> SettingsRead:
    """Stop automatic trading (open orders are still tracked)."""
    return _settings_read(session, service.opt_out(session, user))


@router.get("/api/v1/trading/settings", response_model=SettingsRead, responses=ERRORS)
def get_trading_settings(session: SessionDep, user: CurrentUser) -> SettingsRead:
    """Your trading switches and risk limits."""
    return _settings_read(session, service.get_settings_for(session, user))


@router.put("/api/v1/trading/settings", response_model=SettingsRead, responses=ERRORS)
def put_trading_settings(session: SessionDep, user: CurrentUser, body: SettingsUpdate) -> SettingsRead:
    """Change risk limits and which signals trade."""
    return _settings_read(session, service.update_settings(session, user, body))


@router.post("/api/v1/trading/kill-switch", response_model=SettingsRead, responses=ERRORS)
def kill_switch(session: SessionDep, user: CurrentUser, body: KillSwitch) -> SettingsRead:
    """Your kill switch: while on, no new order of yours is sent."""
    return _settings_read(session, service.set_kill_switch(session, user, body))


@router.post("/api/v1/admin/kill-switch", response_model=GlobalKillSwitchRead, tags=["admin"],
             responses={**ERRORS, 403: {"model": ErrorResponse}})
def global_kill_switch(session: SessionDep, admin: AdminUser, body: GlobalKillSwitch) -> GlobalKillSwitchRead:
    """The global kill switch: while on, no new order of anyone is sent."""
    return GlobalKillSwitchRead.model_validate(service.set_global_kill_switch(session, admin, body))


# --- orders --------------------------------------------------------------------------------------------
@router.get("/api/v1/orders", response_model=OrderPage, responses=ERRORS)
def list_orders(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                state: OrderState | None = None) -> OrderPage:
    """Your orders, newest first."""
    orders, total = repository.list_orders(session, user.id, state, limit, offset)
    return OrderPage(items=[_order_read(session, o) for o in orders], total=total, limit=limit, offset=offset)


@router.post("/api/v1/orders", response_model=OrderRead, status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_order(session: SessionDep, user: CurrentUser, body: ManualOrderCreate) -> OrderRead:
    """Place a manual order through the same risk rules as signal orders; a rejected one is stored as REJECTED."""
    broker = execution.current_broker(user.id)
    adapter = execution.adapter_for(user.id, broker)
    try:
        order = service.create_manual_order(session, user, body, adapter, broker, utcnow())
    finally:
        adapter.close()
    # Commit before queueing, so the worker finds the order; reconcile_all sends it if queueing fails.
    session.commit()
    if order.state == "PENDING" and order.claimed_at is None:
        from signalhub.trading.tasks import submit_order

        try:
            submit_order.delay(order.id)
        except Exception:
            logger.exception("could not queue order submission", extra={"order_id": order.id})
    return _order_read(session, order)


@router.get("/api/v1/orders/{order_id}", response_model=OrderRead, responses=ERRORS)
def get_order(session: SessionDep, user: CurrentUser, order_id: int) -> OrderRead:
    """One of your orders with its fills and the broker's report."""
    return _order_read(session, service.require_order(session, user, order_id))


@router.delete("/api/v1/orders/{order_id}", response_model=OrderRead, responses=ERRORS)
def cancel_order(session: SessionDep, user: CurrentUser, order_id: int) -> OrderRead:
    """Cancel one of your orders (what is already filled stays filled)."""
    order = service.require_order(session, user, order_id)
    session.commit()
    execution.cancel_order(order.id)
    session.refresh(order)
    return _order_read(session, order)


# --- positions and risk events -------------------------------------------------------------------------
@router.get("/api/v1/positions", response_model=BrokerPositions, responses=ERRORS)
def positions(session: SessionDep, user: CurrentUser) -> BrokerPositions:
    """Positions built from your broker fills (portfolio ledger), beside the broker's own holdings."""
    found = [p for source in BROKER_SOURCES for p in portfolio_service.positions(session, user.id, source.value)
             if p.is_open]
    reads = [PositionRead(
        ticker=p.ticker, source=TradeSource(p.source), status="open", currency=p.currency, quantity=p.quantity,
        average_cost=p.average_cost, cost_basis=p.cost_basis, realised_pnl=p.realised_pnl, invested=p.invested,
        fees=p.fees, trades=p.trades, opened_at=p.opened_at, closed_at=p.closed_at) for p in found]
    settings = repository.get_settings_row(session, user.id)
    if settings is None:
        return BrokerPositions(positions=reads, broker=None, broker_holdings=None)
    broker = service.broker_for(settings, repository.get_account(session, user.id))
    session.commit()  # the paper venue writes in its own transaction; hold no lock while it does
    adapter = execution.adapter_for(user.id, broker)
    try:
        balance = adapter.balance()
    except BrokerError as exc:
        return BrokerPositions(positions=reads, broker=broker, broker_holdings=None, broker_error=str(exc))
    finally:
        adapter.close()
    holdings = [{"ticker": h.ticker, "quantity": str(h.quantity), "avg_price": str(h.avg_price)}
                for h in balance.holdings]
    return BrokerPositions(positions=reads, broker=broker, broker_holdings=holdings)


@router.get("/api/v1/risk/events", response_model=RiskEventPage, responses=ERRORS)
def risk_events(session: SessionDep, user: CurrentUser, limit: Limit = 100, offset: Offset = 0,
                order_id: int | None = None,
                decision: Annotated[str | None, Query(pattern="^(APPROVED|REJECTED)$")] = None) -> RiskEventPage:
    """Every risk rule verdict on your orders, newest first."""
    events, total = repository.list_risk_events(session, user.id, order_id=order_id, decision=decision,
                                                limit=limit, offset=offset)
    return RiskEventPage(items=[RiskEventRead.model_validate(e) for e in events], total=total, limit=limit,
                         offset=offset)
