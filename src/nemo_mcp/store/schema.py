"""What the store keeps, whichever database holds it: the tables, their migrations, the record
fields, the statuses, and the rules for text before it is stored.

Migrations are one list (``MIGRATIONS``, applied in order after ``SCHEMA``); a second backend
adapts only the dialect (SQLite's ``INSERT OR REPLACE`` and ``PRAGMA user_version`` here).

Text that came from the backend (replies, errors, URLs, states) is scrubbed of registered secrets
before it is stored (``SCRUBBED``), in case the backend echoes the token. A session's last state
is kept compact and within ``MAX_STORED_STATE_BYTES`` (``state_text``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final, get_args

from nemo_mcp import constants
from nemo_mcp.redact import redact
from nemo_mcp.store.records import RenderRecordStatus, TurnStatus

DB_NAME: Final = "state.db"
SCHEMA_VERSION: Final = 4
LOCAL_OWNER: Final = "local"  # the one user of an embedded store

RENDER_STATUSES: Final = frozenset(get_args(RenderRecordStatus))
TURN_STATUSES: Final = frozenset(get_args(TurnStatus))
# "completed" is unfinished too: the render is done but its file is not downloaded yet
RENDER_UNFINISHED: Final = ("submitting", "pending", "processing", "completed")
RENDER_FINISHED: Final = RENDER_STATUSES - frozenset(RENDER_UNFINISHED)  # nothing left to do
TURN_UNFINISHED: Final = ("running",)

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    api_url TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    user_id TEXT,
    expires_at REAL,
    credits INTEGER,
    source TEXT NOT NULL,
    obtained_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    task_id TEXT,
    api_url TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT,
    user_id TEXT,
    created_at REAL NOT NULL,
    gone INTEGER NOT NULL DEFAULT 0,
    last_state TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_api ON sessions (api_url, created_at);
CREATE TABLE IF NOT EXISTS current_session (
    api_url TEXT PRIMARY KEY,
    session_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS renders (
    render_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    api_url TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL,
    url TEXT,
    output_path TEXT,
    error TEXT,
    attempt INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS renders_by_session ON renders (session_id, created_at);
CREATE TABLE IF NOT EXISTS turns (
    turn_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    message_preview TEXT NOT NULL,
    status TEXT NOT NULL,
    result_json TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_session ON turns (session_id, created_at);
"""

# Schema changes after version 1, applied in order to older databases.
MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    2: (
        "ALTER TABLE renders ADD COLUMN draft_digest TEXT",
        "ALTER TABLE renders ADD COLUMN replaced_by TEXT",
        "ALTER TABLE renders ADD COLUMN filename TEXT",
        "ALTER TABLE turns ADD COLUMN message_hash TEXT",
        "CREATE INDEX IF NOT EXISTS turns_by_hash ON turns (session_id, message_hash)",
    ),
    3: (
        "ALTER TABLE turns ADD COLUMN lease_until REAL",
        # turns left running by older versions have no owner that renews them
        "UPDATE turns SET status = 'interrupted' WHERE status = 'running'",
        "CREATE UNIQUE INDEX IF NOT EXISTS turns_one_running ON turns (session_id) "
        "WHERE status = 'running'",
    ),
    # Every row belongs to a user (``owner``; an embedded store has one, "local"), and a render
    # being polled is leased by the worker polling it (a dead worker's lease runs out).
    4: (
        "ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'",
        "ALTER TABLE renders ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'",
        "ALTER TABLE turns ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'",
        "ALTER TABLE renders ADD COLUMN lease_owner TEXT",
        "ALTER TABLE renders ADD COLUMN lease_until REAL",
        "CREATE INDEX IF NOT EXISTS sessions_by_owner ON sessions (owner, api_url, created_at)",
        "CREATE INDEX IF NOT EXISTS renders_by_owner ON renders (owner, session_id, created_at)",
        "CREATE INDEX IF NOT EXISTS renders_by_lease ON renders (status, lease_until)",
        "CREATE INDEX IF NOT EXISTS turns_by_owner ON turns (owner, session_id, created_at)",
        "CREATE TABLE credentials_v4 (owner TEXT NOT NULL, api_url TEXT NOT NULL, "
        "token TEXT NOT NULL, user_id TEXT, expires_at REAL, credits INTEGER, "
        "source TEXT NOT NULL, obtained_at REAL NOT NULL, PRIMARY KEY (owner, api_url))",
        "INSERT INTO credentials_v4 SELECT 'local', api_url, token, user_id, expires_at, "
        "credits, source, obtained_at FROM credentials",
        "DROP TABLE credentials",
        "ALTER TABLE credentials_v4 RENAME TO credentials",
        "CREATE TABLE current_session_v4 (owner TEXT NOT NULL, api_url TEXT NOT NULL, "
        "session_id TEXT NOT NULL, PRIMARY KEY (owner, api_url))",
        "INSERT INTO current_session_v4 SELECT 'local', api_url, session_id FROM current_session",
        "DROP TABLE current_session",
        "ALTER TABLE current_session_v4 RENAME TO current_session",
    ),
}

SESSION_FIELDS: Final = (
    "session_id",
    "task_id",
    "api_url",
    "language",
    "title",
    "user_id",
    "created_at",
    "gone",
    "last_state",
)
RENDER_FIELDS: Final = (
    "render_id",
    "session_id",
    "api_url",
    "status",
    "progress",
    "url",
    "output_path",
    "error",
    "attempt",
    "created_at",
    "updated_at",
    "draft_digest",
    "replaced_by",
    "filename",
)
TURN_FIELDS: Final = (
    "turn_id",
    "session_id",
    "message_preview",
    "status",
    "result_json",
    "created_at",
    "updated_at",
    "message_hash",
    "lease_until",
)
# Columns holding text that came from the backend: scrubbed of secrets before storing.
SCRUBBED: Final = frozenset({"result_json", "error", "url", "message_preview"})


def scrub(values: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if k in SCRUBBED and isinstance(v, str) else v for k, v in values.items()}


def normalise_api_url(api_url: str) -> str:
    return api_url.strip().rstrip("/")


def state_text(state: dict[str, Any]) -> str | None:
    """A state as stored: compact JSON, secrets scrubbed, within ``MAX_STORED_STATE_BYTES``."""
    cap = constants.MAX_STORED_STATE_BYTES
    text = redact(json.dumps(state, separators=(",", ":"), sort_keys=True))
    if len(text) <= cap:
        return text
    inner = state.get("state", state)
    draft = inner.get("draft") if isinstance(inner, dict) else None
    slim: dict[str, Any] = {k: state[k] for k in ("session_id", "task_id") if k in state}
    slim["state"] = {"draft": draft}
    text = redact(json.dumps(slim, separators=(",", ":"), sort_keys=True))
    return text if len(text) <= cap else None


def iter_statements(script: str) -> Iterator[str]:
    """The statements of a ``;``-separated script (``SCHEMA``)."""
    for statement in script.split(";"):
        if statement.strip():
            yield statement
