"""Tokens at rest, encrypted: a hosted store keeps every user's NemoVideo token sealed with a
configured key (``NEMO_MCP_TOKEN_KEY``, a Fernet key: AES-128-CBC with an HMAC-SHA256 tag, from
the ``cryptography`` library), so a copy of the database or a backup holds no usable token.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from nemo_mcp.errors import ConfigError, StoreError
from nemo_mcp.redact import register_secret

_PREFIX = "fernet:"


class TokenSealer:
    """Seals and unseals tokens with one key. ``new_key()`` makes a key to configure."""

    def __init__(self, key: str) -> None:
        register_secret(key)
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as err:
            raise ConfigError(
                "NEMO_MCP_TOKEN_KEY is not a valid key.",
                hint="Make one with: nemo-mcp hosted-key (32 url-safe base64-encoded bytes).",
            ) from err

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, token: str) -> str:
        return _PREFIX + self._fernet.encrypt(token.encode()).decode()

    def unseal(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            raise StoreError(
                "A stored token is not encrypted, but NEMO_MCP_TOKEN_KEY is set.",
                hint="Sign in again to store it encrypted.",
            )
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken as err:
            raise StoreError(
                "A stored token cannot be decrypted with NEMO_MCP_TOKEN_KEY.",
                hint="Configure the key the tokens were stored with, or sign in again.",
            ) from err
