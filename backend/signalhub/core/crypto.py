"""Encryption of secrets at rest with Fernet (AES-128-CBC + HMAC), keyed from the environment."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from signalhub.core.config import get_settings


@lru_cache
def _fernet() -> Fernet:
    settings = get_settings()
    if settings.fernet_key:
        return Fernet(settings.fernet_key.encode())
    # Development only (settings refuse this elsewhere): a stable key derived from SECRET_KEY.
    digest = hashlib.sha256(b"signalhub-fernet:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_json(value: Any) -> str:
    """Encrypt a JSON-serialisable value to a token safe to store."""
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def _plaintext(token: str) -> bytes:
    try:
        return _fernet().decrypt(token.encode())
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted with the configured FERNET_KEY") from exc


def decrypt_json(token: str) -> Any:
    """Decrypt a token made by `encrypt_json`; ValueError if it was tampered with or the key changed."""
    return json.loads(_plaintext(token))


# Fernet costs ~25 us a token; a worker sends every signal to the same subscribers' channels again and again.
_remembered_plaintext = lru_cache(maxsize=65_536)(_plaintext)


def decrypt_json_remembered(token: str) -> Any:
    """`decrypt_json` for hot paths: each token is decrypted once per process (a new value is a new token)."""
    return json.loads(_remembered_plaintext(token))  # parsed afresh each time: callers may change what they get
