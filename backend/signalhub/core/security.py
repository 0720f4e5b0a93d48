"""Password hashing (argon2 via passlib) and JWT access/refresh tokens (python-jose)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

from signalhub.core.config import get_settings
from signalhub.core.errors import AuthenticationError
from signalhub.core.time import utcnow

TokenType = Literal["access", "refresh"]

_pwd_context = CryptContext(schemes=["argon2"], deprecated="auto")


def hash_password(password: str) -> str:
    """Hash a password with argon2."""
    return _pwd_context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Check a password against its stored hash."""
    return _pwd_context.verify(password, password_hash)


@lru_cache
def dummy_password_hash() -> str:
    """A real hash of a random password, verified for unknown users so timing reveals nothing."""
    return hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class TokenClaims:
    """The claims the platform reads from a verified JWT."""

    user_id: int
    token_type: TokenType
    jti: str
    expires_at: datetime


def create_token(user_id: int, token_type: TokenType) -> tuple[str, TokenClaims]:
    """Create a signed JWT of the given type; returns the encoded token and its claims."""
    settings = get_settings()
    now = utcnow()
    lifetime = (
        timedelta(minutes=settings.access_token_expire_minutes)
        if token_type == "access"
        else timedelta(days=settings.refresh_token_expire_days)
    )
    claims = TokenClaims(user_id=user_id, token_type=token_type, jti=secrets.token_hex(16),
                         expires_at=now + lifetime)
    payload = {
        "sub": str(user_id),
        "type": token_type,
        "jti": claims.jti,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=settings.jwt_algorithm), claims


def decode_token(token: str, expected_type: TokenType) -> TokenClaims:
    """Verify a JWT's signature, expiry and type; raise 401 with the reason otherwise."""
    settings = get_settings()
    try:
        payload = jwt.decode(token, settings.secret_key, algorithms=[settings.jwt_algorithm])
    except ExpiredSignatureError as exc:
        raise AuthenticationError("Token has expired") from exc
    except JWTError as exc:
        raise AuthenticationError("Token is malformed or its signature is invalid") from exc
    if payload.get("type") != expected_type:
        raise AuthenticationError(f"Expected a {expected_type} token")
    try:
        user_id = int(payload["sub"])
        jti = str(payload["jti"])
        exp = int(payload["exp"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AuthenticationError("Token is missing required claims") from exc
    return TokenClaims(user_id=user_id, token_type=expected_type, jti=jti,
                       expires_at=datetime.fromtimestamp(exp, tz=utcnow().tzinfo))
