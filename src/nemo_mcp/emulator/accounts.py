"""Accounts in the emulator's state: anonymous and registered tokens with their limits, and
credits (reserved when a turn starts, committed or refunded when it ends).

A mixin of :class:`~nemo_mcp.emulator.state.EmulatorState`: it uses the state's lock, clock,
configuration and tables, and keeps the state module about storage and lifecycle.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from nemo_mcp.contract import account, codes, headers
from nemo_mcp.emulator.config import EmulatorConfig
from nemo_mcp.emulator.envelope import Reject
from nemo_mcp.emulator.records import Token, User

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class Accounts:
    """Tokens and credits; see the module docstring."""

    config: EmulatorConfig
    clock: Callable[[], float]
    lock: threading.RLock
    users: dict[str, User]
    tokens: dict[str, Token]
    clients: dict[str, str]  # X-Client-Id -> anonymous user id
    ip_log: dict[str, list[float]]

    def changing(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def sync_registered_tokens(self) -> None:
        with self.lock:
            for tok in self.config.registered_tokens:
                if tok in self.tokens:
                    continue
                user_id = "usr_" + hashlib.sha256(tok.encode()).hexdigest()[:16]
                if user_id not in self.users:
                    self.users[user_id] = User(
                        user_id, "registered", self.config.registered_credits, 0, self.clock()
                    )
                self.tokens[tok] = Token(tok, user_id, "registered", self.clock(), None)

    # --- auth -----------------------------------------------------------------------------
    def issue_anon_token(self, client_id: str, ip: str | None) -> tuple[Token, User]:
        now = self.clock()
        cfg = self.config
        with self.changing():
            user_id = self.clients.get(client_id)
            if user_id is not None:
                for tok in self.tokens.values():
                    if (
                        tok.client_id == client_id
                        and tok.expires_at is not None
                        and tok.expires_at > now
                    ):
                        retry = int(tok.expires_at - now) + 1
                        raise Reject(
                            429,
                            "Anonymous token limit: 1 token per client per 7 days. "
                            "Keep using the token you have.",
                            headers={"Retry-After": str(retry)},
                        )
            if ip is not None and cfg.anon_tokens_per_ip > 0:
                recent = [t for t in self.ip_log.get(ip, []) if t > now - cfg.anon_ip_window]
                if len(recent) >= cfg.anon_tokens_per_ip:
                    retry = int(min(recent) + cfg.anon_ip_window - now) + 1
                    raise Reject(
                        429,
                        "Too many anonymous tokens from this address",
                        headers={"Retry-After": str(retry)},
                    )
                self.ip_log[ip] = [*recent, now]
            if user_id is None or user_id not in self.users:
                user_id = account.ANONYMOUS_USER_PREFIX + secrets.token_hex(8)
                self.users[user_id] = User(user_id, "anon", cfg.anon_credits, 0, now)
                self.clients[client_id] = user_id
            token = Token(
                token="nmv_usr_" + secrets.token_urlsafe(32),
                user_id=user_id,
                kind="anon",
                issued_at=now,
                expires_at=now + cfg.token_lifetime,
                client_id=client_id,
                ip=ip,
            )
            self.tokens[token.token] = token
            return token, self.users[user_id]

    def authenticate(self, authorization: str | None) -> User:
        """The user behind ``Authorization: Bearer ...``; 1001 when missing/unknown/expired."""
        if not authorization:
            raise Reject(codes.TOKEN_INVALID, "Missing Authorization header")
        scheme, _, cred = authorization.strip().partition(" ")
        if scheme.lower() != headers.BEARER.lower() or not cred.strip():
            raise Reject(codes.TOKEN_INVALID, "Authorization must be 'Bearer <token>'")
        with self.lock:
            tok = self.tokens.get(cred.strip())
            if tok is None:
                raise Reject(codes.TOKEN_INVALID, "Token is invalid")
            if tok.expires_at is not None and tok.expires_at <= self.clock():
                raise Reject(codes.TOKEN_INVALID, "Token has expired")
            user = self.users.get(tok.user_id)
            if user is None:
                raise Reject(codes.TOKEN_INVALID, "Token is invalid")
            return user

    def expire_tokens(self, token: str | None = None, user_id: str | None = None) -> int:
        """Make a token (or a user's tokens, or every anonymous token) expired now."""
        now = self.clock()
        count = 0
        with self.changing():
            for tok in self.tokens.values():
                if token is not None and tok.token != token:
                    continue
                if user_id is not None and tok.user_id != user_id:
                    continue
                if token is None and user_id is None and tok.kind != "anon":
                    continue
                tok.expires_at = now - 1
                count += 1
        return count

    def token_info(self, token: str) -> Token | None:
        with self.lock:
            return self.tokens.get(token)

    # --- credits --------------------------------------------------------------------------
    def reserve(self, user_id: str, cost: int) -> bool:
        with self.changing():
            user = self.users[user_id]
            if cost > user.available:
                return False
            user.available -= cost
            user.frozen += cost
            return True

    def commit(self, user_id: str, cost: int) -> None:
        with self.changing():
            user = self.users[user_id]
            user.frozen = max(user.frozen - cost, 0)

    def refund(self, user_id: str, cost: int) -> None:
        with self.changing():
            user = self.users[user_id]
            back = min(cost, user.frozen)
            user.frozen -= back
            user.available += back

    def set_credits(self, user_id: str, available: int, frozen: int | None = None) -> User:
        with self.changing():
            user = self.users.get(user_id)
            if user is None:
                raise KeyError(user_id)
            user.available = int(available)
            if frozen is not None:
                user.frozen = int(frozen)
            return user
