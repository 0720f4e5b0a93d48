"""Request and response bodies for authentication."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TokenPair(BaseModel):
    """Tokens returned by login and refresh (OAuth2 token response shape)."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds")


class RefreshRequest(BaseModel):
    """Body of the refresh endpoint."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)
