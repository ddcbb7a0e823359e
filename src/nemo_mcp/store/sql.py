"""The store's statements for renders (with their leases) and chat turns: ``SQLStore``, the whole
``StateStore`` in SQL for every backend (``sql_base`` has the rest and the module notes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from nemo_mcp import constants
from nemo_mcp.errors import StoreError
from nemo_mcp.store import schema
from nemo_mcp.store.records import RenderRecord, TurnClaim, TurnRecord
from nemo_mcp.store.sql_base import Params, Row, SQLBase

__all__ = ["Params", "Row", "SQLStore"]

_RENDER_COLUMNS = (*schema.RENDER_FIELDS, "owner", "lease_owner", "lease_until")
_TURN_COLUMNS = (*schema.TURN_FIELDS, "owner")


class SQLStore(SQLBase):
    """The store in SQL, scoped to ``self.owner``; subclasses supply the database."""

    # --- renders --------------------------------------------------------------------------
    @staticmethod
    def _render(row: Row) -> RenderRecord:
        return RenderRecord(**{name: row[name] for name in schema.RENDER_FIELDS})

    def _render_values(
        self, rec: RenderRecord, lease: tuple[str, float] | None = None
    ) -> dict[str, Any]:
        if rec.status not in schema.RENDER_STATUSES:
            raise ValueError(f"unknown render status {rec.status!r}")
        values = schema.scrub({name: getattr(rec, name) for name in schema.RENDER_FIELDS})
        values["api_url"] = schema.normalise_api_url(rec.api_url)
        values["owner"] = self.owner
        values["lease_owner"], values["lease_until"] = lease or (None, None)
        return values

    _INSERT_RENDER = (
        f"INSERT INTO renders ({', '.join(_RENDER_COLUMNS)}) "
        f"VALUES ({', '.join(':' + n for n in _RENDER_COLUMNS)}) "
    )

    def save_render(self, rec: RenderRecord) -> None:
        updates = ", ".join(f"{n} = excluded.{n}" for n in schema.RENDER_FIELDS[1:])
        self._execute(
            self._INSERT_RENDER + f"ON CONFLICT (render_id) DO UPDATE SET {updates} "
            "WHERE renders.owner = excluded.owner",
            self._render_values(rec),
        )

    def start_render(
        self, rec: RenderRecord, *, worker: str, lease_seconds: float, reuse: bool = True
    ) -> RenderRecord:
        """Record a new render, leased to ``worker``, unless (``reuse``) the same timeline of
        the session already has a render not failed or cancelled: then that one is returned.
        One serialised transaction, so two workers exporting one timeline render it once."""
        values = self._render_values(rec, (worker, time.time() + lease_seconds))
        with self._transaction(serialise=f"export:{self.owner}:{rec.session_id}") as conn:
            if reuse and rec.draft_digest:
                row = conn.execute(
                    "SELECT * FROM renders WHERE owner = ? AND session_id = ? "
                    "AND draft_digest = ? AND status NOT IN ('failed', 'cancelled') "
                    f"ORDER BY created_at DESC, {self._tiebreak_of('render_id')} DESC LIMIT 1",
                    (self.owner, rec.session_id, rec.draft_digest),
                ).fetchone()
                if row is not None:
                    return self._render(row)
            conn.execute(self._INSERT_RENDER, values)
        return rec

    def update_render(self, render_id: str, **fields: Any) -> RenderRecord | None:
        if "status" in fields and fields["status"] not in schema.RENDER_STATUSES:
            raise ValueError(f"unknown render status {fields['status']!r}")
        return self._update(
            "renders", "render_id", render_id, schema.RENDER_FIELDS, fields, self.get_render
        )

    def get_render(self, render_id: str) -> RenderRecord | None:
        row = self._one(
            "SELECT * FROM renders WHERE render_id = ? AND owner = ?", (render_id, self.owner)
        )
        return self._render(row) if row is not None else None

    def list_renders(
        self, session_id: str | None = None, unfinished_only: bool = False
    ) -> list[RenderRecord]:
        statuses = schema.RENDER_UNFINISHED if unfinished_only else None
        return [self._render(r) for r in self._list("renders", "render_id", session_id, statuses)]

    # --- render leases ----------------------------------------------------------------------
    def lease_render(
        self,
        render_id: str,
        *,
        worker: str,
        lease_seconds: float,
        steal_from: str | None = None,
    ) -> bool:
        """Take (or renew) the lease on an unfinished render: True when ``worker`` now holds
        it, False while another worker's lease is live (unless that worker is ``steal_from``,
        known to be dead). One statement: two workers never both hold it."""
        now = time.time()
        finished = sorted(schema.RENDER_FINISHED)
        cur = self._execute(
            "UPDATE renders SET lease_owner = ?, lease_until = ? WHERE render_id = ? "
            f"AND owner = ? AND status NOT IN ({', '.join('?' for _ in finished)}) "
            "AND (lease_owner IS NULL OR lease_owner = ? OR lease_owner = ? OR lease_until < ?)",
            (
                *(worker, now + lease_seconds, render_id, self.owner),
                *finished,
                *(worker, steal_from or "", now),
            ),
        )
        return cur.rowcount > 0

    def release_render(self, render_id: str, *, worker: str) -> None:
        """Hand the lease back (graceful shutdown, or the job ended): another worker may take
        it at once."""
        self._execute(
            "UPDATE renders SET lease_owner = NULL, lease_until = NULL "
            "WHERE render_id = ? AND owner = ? AND lease_owner = ?",
            (render_id, self.owner, worker),
        )

    def render_lease(self, render_id: str) -> tuple[str | None, float | None]:
        row = self._one(
            "SELECT lease_owner, lease_until FROM renders WHERE render_id = ? AND owner = ?",
            (render_id, self.owner),
        )
        return (row["lease_owner"], row["lease_until"]) if row is not None else (None, None)

    def orphaned_renders(
        self,
        now: float | None = None,
        *,
        gone: Callable[[str], bool] | None = None,
        statuses: tuple[str, ...] = schema.RENDER_UNFINISHED,
    ) -> list[tuple[str, str]]:
        """Every user's unfinished renders nobody holds a live lease on (or whose holder is
        ``gone``), as (owner, render id): what a hosted worker resumes. Not scoped: the
        worker's sweep is the one cross-user read; it hands each render to its owner's studio."""
        now = time.time() if now is None else now
        marks = ", ".join("?" for _ in statuses)
        rows = self._all(
            f"SELECT owner, render_id, lease_owner, lease_until FROM renders "
            f"WHERE status IN ({marks}) ORDER BY created_at",
            statuses,
        )
        return [
            (str(r["owner"]), str(r["render_id"]))
            for r in rows
            if r["lease_owner"] is None
            or (r["lease_until"] or 0) < now
            or (gone is not None and gone(str(r["lease_owner"])))
        ]

    def job_counts(self) -> dict[tuple[str, str], int]:
        """Every user's renders and turns by status, as ``{(kind, status): n}`` (metrics)."""
        rows = self._all(
            "SELECT 'render' AS kind, status, COUNT(*) AS n FROM renders GROUP BY status "
            "UNION ALL SELECT 'turn' AS kind, status, COUNT(*) AS n FROM turns GROUP BY status"
        )
        return {(str(r["kind"]), str(r["status"])): int(r["n"]) for r in rows}

    # --- turns ----------------------------------------------------------------------------
    @staticmethod
    def _turn(row: Row) -> TurnRecord:
        return TurnRecord(**{name: row[name] for name in schema.TURN_FIELDS})

    def claim_turn(
        self,
        rec: TurnRecord,
        *,
        duplicate_after: float | None,
        lease_seconds: float,
        now: float | None = None,
    ) -> TurnClaim:
        """Start the ``running`` turn ``rec`` unless its message was just sent or the session
        is busy: one serialised transaction (see the interface)."""
        now = time.time() if now is None else now
        values = schema.scrub({name: getattr(rec, name) for name in schema.TURN_FIELDS})
        values.update(
            status="running",
            lease_until=now + lease_seconds,
            message_preview=values["message_preview"][: constants.TURN_PREVIEW_CHARS],
            owner=self.owner,
        )
        sid = str(rec.session_id)
        columns = ", ".join(_TURN_COLUMNS)
        marks = ", ".join(f":{name}" for name in _TURN_COLUMNS)
        with self._transaction(serialise=f"turn:{sid}") as conn:
            conn.execute(
                "UPDATE turns SET status = 'interrupted', updated_at = ? WHERE session_id = ? "
                "AND status = 'running' AND COALESCE(lease_until, 0) < ?",
                (now, sid, now),
            )
            if duplicate_after is not None and rec.message_hash:
                row = conn.execute(
                    "SELECT turn_id FROM turns WHERE session_id = ? AND owner = ? "
                    "AND message_hash = ? AND created_at >= ? "
                    f"ORDER BY created_at DESC, {self._tiebreak_of('turn_id')} DESC LIMIT 1",
                    (sid, self.owner, rec.message_hash, duplicate_after),
                ).fetchone()
                if row is not None:
                    return TurnClaim("duplicate", str(row["turn_id"]))
            cur = conn.execute(
                f"INSERT INTO turns ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING", values
            )
            if cur.rowcount == 1:
                return TurnClaim("started", rec.turn_id)
            row = conn.execute(
                "SELECT turn_id FROM turns WHERE session_id = ? AND status = 'running'", (sid,)
            ).fetchone()
        if row is None:  # the id itself was taken: not something a caller can recover from
            raise StoreError(f"A chat turn with id {rec.turn_id} already exists.")
        return TurnClaim("busy", str(row["turn_id"]))

    def renew_turn_lease(self, turn_id: str, lease_seconds: float) -> bool:
        cur = self._execute(
            "UPDATE turns SET lease_until = ? WHERE turn_id = ? AND owner = ? "
            "AND status = 'running'",
            (time.time() + lease_seconds, turn_id, self.owner),
        )
        return cur.rowcount > 0

    def update_turn(self, turn_id: str, **fields: Any) -> TurnRecord | None:
        if "status" in fields and fields["status"] not in schema.TURN_STATUSES:
            raise ValueError(f"unknown turn status {fields['status']!r}")
        if isinstance(fields.get("message_preview"), str):
            fields["message_preview"] = fields["message_preview"][: constants.TURN_PREVIEW_CHARS]
        return self._update("turns", "turn_id", turn_id, schema.TURN_FIELDS, fields, self.get_turn)

    def get_turn(self, turn_id: str) -> TurnRecord | None:
        row = self._one(
            "SELECT * FROM turns WHERE turn_id = ? AND owner = ?", (turn_id, self.owner)
        )
        return self._turn(row) if row is not None else None

    def list_turns(
        self, session_id: str | None = None, *, unfinished_only: bool = False
    ) -> list[TurnRecord]:
        statuses = schema.TURN_UNFINISHED if unfinished_only else None
        return [self._turn(r) for r in self._list("turns", "turn_id", session_id, statuses)]
