"""HTTP layer for login and token refresh."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from signalhub.auth import service
from signalhub.auth.schemas import RefreshRequest, TokenPair
from signalhub.core.deps import SessionDep
from signalhub.core.errors import ErrorResponse

router = APIRouter(prefix="/api/v1/users", tags=["auth"])

_ERRORS = {401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}}


@router.post("/token", response_model=TokenPair,
             responses={**_ERRORS, 429: {"model": ErrorResponse, "description": "Too many failed attempts"}})
def login(session: SessionDep, request: Request,
          form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenPair:
    """Log in with e-mail (or username) and password (OAuth2 password flow); returns a token pair."""
    client_ip = request.client.host if request.client else "unknown"
    user = service.authenticate(session, form.username, form.password, client_ip)
    return service.issue_tokens(session, user)


@router.post("/token/refresh", response_model=TokenPair, responses=_ERRORS)
def refresh(session: SessionDep, body: RefreshRequest) -> TokenPair:
    """Exchange a refresh token for a new token pair; each refresh token works once."""
    return service.refresh_tokens(session, body.refresh_token)
