"""Secrets at rest: Fernet tokens, and the remembered decryption the delivery path uses."""

from __future__ import annotations

import pytest

from signalhub.core.crypto import decrypt_json, decrypt_json_remembered, encrypt_json


def test_round_trip_and_tampering() -> None:
    token = encrypt_json({"url": "https://hooks.example.com/x", "secret": "whsec_abc"})
    assert decrypt_json(token) == {"url": "https://hooks.example.com/x", "secret": "whsec_abc"}
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        decrypt_json(tampered)


def test_remembered_decryption_hands_out_fresh_values_and_still_refuses_bad_tokens() -> None:
    token = encrypt_json({"keys": {"auth": "a"}})
    first = decrypt_json_remembered(token)
    first["keys"]["auth"] = "changed by a caller"
    assert decrypt_json_remembered(token) == {"keys": {"auth": "a"}}
    # A changed channel is a new token: nothing stale is served for it.
    assert decrypt_json_remembered(encrypt_json({"keys": {"auth": "b"}})) == {"keys": {"auth": "b"}}
    for _ in range(2):  # a refusal is not remembered as a value
        with pytest.raises(ValueError, match="cannot be decrypted"):
            decrypt_json_remembered(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
