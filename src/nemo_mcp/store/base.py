"""The store interface: everything nemo-mcp remembers between calls and across processes.

What is kept:

- ``client_id``: the ``X-Client-Id`` UUID for anonymous tokens, created once;
- credentials per API URL (anonymous tokens, or one saved by ``nemo-mcp login``);
- sessions (with the last state seen, for diffs across restarts) and the current one per API URL;
- renders, recorded as ``submitting`` *before* the submit request is sent, so a restart resumes;
- chat turns. Starting one is one atomic step (``claim_turn``): the duplicate check, the busy
  check and the record happen together, and at most one turn per session is ``running``, so two
  processes (or two parallel calls) can never both send a message. A running turn carries a lease
  its owner renews; a dead owner's turn goes stale.

Every method is synchronous and fast; implementations are safe to share between threads and
between processes. ``nemo_mcp.store.sqlite.SQLiteStore`` is the embedded implementation (a file
in the state folder); a server database implements the same methods with the same guarantees
(the same tables and migrations: ``nemo_mcp.store.schema``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, Self

from nemo_mcp.store.records import Credential, RenderRecord, SessionRecord, TurnClaim, TurnRecord


class CrossProcessLock(Protocol):
    """Held by one process at a time; usable as a context manager or with ``acquire`` and an
    idempotent ``release`` (so an async caller can acquire in a worker thread). A lock that
    subclasses it gets the context manager from ``acquire`` and ``release``."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class StateStore(ABC):
    """See the module docstring. Raises ``StoreError`` when the store cannot be used.

    A store speaks for one user (``owner``): every record it reads or writes is that user's.
    An embedded store has one user; ``for_owner`` gives another user's view of the same
    database (hosted mode)."""

    owner: str

    @abstractmethod
    def for_owner(self, owner: str) -> Self: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- identity and credentials ---------------------------------------------------------
    @abstractmethod
    def token_lock(self, timeout: float) -> CrossProcessLock:
        """Held while one process checks for, and if needed requests, an anonymous token;
        ``LockTimeoutError`` after ``timeout`` seconds."""

    @abstractmethod
    def get_client_id(self, create: bool = True) -> str | None:
        """The persistent ``X-Client-Id``; created once (the first writer wins)."""

    @abstractmethod
    def set_client_id(self, value: str) -> None: ...

    @abstractmethod
    def first_use(self, key: str) -> bool:
        """True the first time this user uses ``key``, across processes (one-time tickets)."""

    @abstractmethod
    def forget_use(self, key: str) -> None:
        """Make ``key`` unused again (a one-time ticket whose use stored nothing)."""

    @abstractmethod
    def load_credential(self, api_url: str) -> Credential | None: ...

    @abstractmethod
    def save_credential(self, api_url: str, cred: Credential) -> None: ...

    @abstractmethod
    def clear_credential(self, api_url: str, *, only_token: str | None = None) -> bool:
        """Forget the credential; with ``only_token``, only if it is still that token (so a
        process drops a rejected token without discarding a fresh one another just stored).
        Returns whether anything was removed."""

    # --- sessions ---------------------------------------------------------------------------
    @abstractmethod
    def save_session(self, rec: SessionRecord) -> None:
        """Insert or update a session; a record without ``last_state`` keeps the stored one."""

    @abstractmethod
    def get_session(self, session_id: str) -> SessionRecord | None: ...

    @abstractmethod
    def list_sessions(self, api_url: str) -> list[SessionRecord]:
        """Every session for this API URL, newest first (gone ones included, flagged)."""

    @abstractmethod
    def set_current_session(self, api_url: str, session_id: str | None) -> None: ...

    @abstractmethod
    def current_session(self, api_url: str) -> SessionRecord | None: ...

    @abstractmethod
    def adopt_session(self, rec: SessionRecord) -> SessionRecord:
        """Make ``rec`` current unless another live session is current, atomically: of two
        callers that each created a session when there was none, the first wins and the other
        gets the winner back."""

    @abstractmethod
    def mark_session_gone(self, session_id: str) -> None:
        """Flag a session the server no longer knows; it stops being anyone's current one."""

    @abstractmethod
    def update_session_state(self, session_id: str, state: dict[str, Any]) -> None:
        """Keep the session's last state (cut down to its draft, or dropped, when too big)."""

    # --- renders ------------------------------------------------------------------------------
    @abstractmethod
    def save_render(self, rec: RenderRecord) -> None: ...

    @abstractmethod
    def start_render(
        self, rec: RenderRecord, *, worker: str, lease_seconds: float, reuse: bool = True
    ) -> RenderRecord:
        """Record a new render leased to ``worker``, unless (``reuse``) the same timeline of the
        session has a render not failed or cancelled: that one is returned instead. Atomic
        across processes: two exports of one timeline render it once."""

    @abstractmethod
    def lease_render(
        self,
        render_id: str,
        *,
        worker: str,
        lease_seconds: float,
        steal_from: str | None = None,
    ) -> bool:
        """Take or renew the lease on an unfinished render; False while another worker's lease
        is live (only the holder polls and downloads it), unless that worker is ``steal_from``
        (the caller knows it is dead)."""

    @abstractmethod
    def release_render(self, render_id: str, *, worker: str) -> None:
        """Hand the lease back (the job ended, or the worker shuts down)."""

    @abstractmethod
    def render_lease(self, render_id: str) -> tuple[str | None, float | None]:
        """Who holds the render's lease, and until when."""

    @abstractmethod
    def orphaned_renders(
        self,
        now: float | None = None,
        *,
        gone: Callable[[str], bool] | None = None,
        statuses: tuple[str, ...] = ...,
    ) -> list[tuple[str, str]]:
        """Every user's unfinished renders whose lease ran out or was handed back, as
        ``(owner, render_id)``: what a worker resumes."""

    @abstractmethod
    def update_render(self, render_id: str, **fields: Any) -> RenderRecord | None:
        """Change some fields (``updated_at`` is set to now unless given); None if unknown."""

    @abstractmethod
    def get_render(self, render_id: str) -> RenderRecord | None: ...

    @abstractmethod
    def list_renders(
        self, session_id: str | None = None, unfinished_only: bool = False
    ) -> list[RenderRecord]:
        """Renders newest first; ``unfinished_only`` keeps those not downloaded, failed or
        cancelled."""

    # --- chat turns -------------------------------------------------------------------------
    @abstractmethod
    def claim_turn(
        self,
        rec: TurnRecord,
        *,
        duplicate_after: float | None,
        lease_seconds: float,
        now: float | None = None,
    ) -> TurnClaim:
        """Start the ``running`` turn ``rec`` unless its message was just sent (a turn with the
        same ``message_hash`` created at or after ``duplicate_after``; None: no check) or the
        session has a running turn; one atomic step. A running turn whose lease ran out is marked
        ``interrupted`` first. ``StoreError`` when the turn id itself is taken."""

    @abstractmethod
    def renew_turn_lease(self, turn_id: str, lease_seconds: float) -> bool:
        """Extend a running turn's lease; False when it is no longer running."""

    @abstractmethod
    def update_turn(self, turn_id: str, **fields: Any) -> TurnRecord | None: ...

    @abstractmethod
    def get_turn(self, turn_id: str) -> TurnRecord | None: ...

    @abstractmethod
    def list_turns(
        self, session_id: str | None = None, *, unfinished_only: bool = False
    ) -> list[TurnRecord]:
        """Turns newest first; ``unfinished_only`` keeps the ``running`` ones."""
