"""HTTP layer for alert rules."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from signalhub.alerts import repository, service
from signalhub.alerts.schemas import AlertRuleCreate, AlertRuleRead, AlertRuleUpdate
from signalhub.core.deps import CurrentUser, SessionDep
from signalhub.core.errors import ErrorResponse
from signalhub.models.alert_rule import AlertRule

router = APIRouter(prefix="/api/v1/alerts/rules", tags=["alerts"])
ERRORS = {401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.get("", response_model=list[AlertRuleRead], responses=ERRORS)
def list_rules(session: SessionDep, user: CurrentUser) -> list[AlertRule]:
    """Your alert rules."""
    return repository.list_for_user(session, user.id)


@router.post("", response_model=AlertRuleRead, status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_rule(session: SessionDep, user: CurrentUser, body: AlertRuleCreate) -> AlertRule:
    """Create a rule: tickers or your watchlist, strategies, minimum grade, channels, quiet hours, cooldown, digest."""
    return service.create(session, user, body)


@router.get("/{rule_id}", response_model=AlertRuleRead, responses=ERRORS)
def get_rule(session: SessionDep, user: CurrentUser, rule_id: int) -> AlertRule:
    """One of your rules."""
    return service.require_rule(session, user, rule_id)


@router.patch("/{rule_id}", response_model=AlertRuleRead, responses=ERRORS)
def update_rule(session: SessionDep, user: CurrentUser, rule_id: int, body: AlertRuleUpdate) -> AlertRule:
    """Change one of your rules."""
    return service.update(session, user, rule_id, body)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=ERRORS)
def delete_rule(session: SessionDep, user: CurrentUser, rule_id: int) -> Response:
    """Delete one of your rules."""
    service.delete(session, user, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
