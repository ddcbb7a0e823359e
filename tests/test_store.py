"""The state store: records, permissions, the cross-process lock, concurrency and crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemo_mcp import constants
from nemo_mcp.errors import LockTimeoutError, StoreError
from nemo_mcp.store.base import StateStore
from nemo_mcp.store.records import Credential, RenderRecord, SessionRecord, TurnClaim, TurnRecord
from nemo_mcp.store.sqlite import SQLiteStore
from support.postgres import BACKENDS, backend_store

API = "http://api.test"
POSIX = os.name != "nt"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Each backend in turn: the store's guarantees are the same on both."""
    with backend_store(request.param, tmp_path / "state") as s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "state" / "state.db") as s:
        yield s


def _run(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- paths and permissions ----------------------------------------------------------------


def test_folder_or_file_path(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a") as s:
        assert s.db_path == tmp_path / "a" / "state.db"
    with SQLiteStore(tmp_path / "b" / "custom.db") as s:
        assert s.db_path == tmp_path / "b" / "custom.db"
    (tmp_path / "c.d").mkdir()
    with SQLiteStore(tmp_path / "c.d") as s:
        assert s.db_path == tmp_path / "c.d" / "state.db"


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_private_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    with SQLiteStore(folder) as s:
        s.get_client_id()
        assert folder.stat().st_mode & 0o777 == 0o700
        for name in ("state.db", "state.db-wal", "state.db-shm"):
            assert (folder / name).stat().st_mode & 0o777 == 0o600, name
        with s.token_lock(1.0):
            lock_files = list(folder.glob("*.lock"))
            assert lock_files and all(p.stat().st_mode & 0o777 == 0o600 for p in lock_files)


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_permissions_converge_on_open(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    SQLiteStore(folder).close()
    os.chmod(folder, 0o755)
    os.chmod(folder / "state.db", 0o644)
    with SQLiteStore(folder):
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / "state.db").stat().st_mode & 0o777 == 0o600


def test_wal_mode(sqlite_store: SQLiteStore) -> None:
    conn = sqlite3.connect(sqlite_store.db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_unreadable_database_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "state.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="unreadable"):
        SQLiteStore(folder)


# --- identity and credentials -------------------------------------------------------------


def test_client_id_is_created_once_and_persists(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s") as a:
        assert a.get_client_id(create=False) is None
        first = a.get_client_id()
        assert first and len(first) == 36
        assert a.get_client_id() == first
    with SQLiteStore(tmp_path / "s") as b:
        assert b.get_client_id() == first
        b.set_client_id("custom-id")
        assert b.get_client_id() == "custom-id"


def test_credentials_round_trip(store: StateStore) -> None:
    cred = Credential(
        token="nmv_usr_roundtrip_secret",
        user_id="anon_1",
        expires_at=2_000_000_000.0,
        credits=100,
        source="anonymous",
        obtained_at=1.0,
    )
    assert "nmv_usr_roundtrip_secret" not in repr(cred)
    store.save_credential(API + "/", cred)
    assert store.load_credential(API) == cred
    assert store.load_credential("http://other.test") is None
    login = Credential(token="nmv_usr_login_token_x", source="login")
    store.save_credential(API, login)
    assert store.load_credential(API) == login


def test_clear_credential_compare_and_delete(store: StateStore) -> None:
    store.save_credential(API, Credential(token="nmv_usr_new_token_1"))
    assert not store.clear_credential(API, only_token="nmv_usr_old_token_0")
    assert store.load_credential(API) is not None
    assert store.clear_credential(API, only_token="nmv_usr_new_token_1")
    assert store.load_credential(API) is None
    assert not store.clear_credential(API)


def test_credential_freshness() -> None:
    cred = Credential(token="t" * 10, expires_at=1000.0)
    assert cred.is_fresh(now=0.0, margin=100.0)
    assert not cred.is_fresh(now=950.0, margin=100.0)
    assert Credential(token="t" * 10).is_fresh(now=1e12, margin=1e6)


# --- sessions -----------------------------------------------------------------------------


def _session(sid: str, created: float, **kw: object) -> SessionRecord:
    return SessionRecord(
        session_id=sid, task_id=f"task_{sid}", api_url=API, created_at=created, **kw
    )  # type: ignore[arg-type]


def test_sessions(store: StateStore) -> None:
    store.save_session(_session("1", 1.0, title="first"))
    store.save_session(_session("2", 2.0))
    other = SessionRecord(session_id="o", task_id=None, api_url="http://o", created_at=3)
    store.save_session(other)
    assert [s.session_id for s in store.list_sessions(API)] == ["2", "1"]
    assert store.get_session("1") == _session("1", 1.0, title="first")
    assert store.get_session("nope") is None
    assert store.get_session("o") == other
    assert store.current_session(API) is None
    store.set_current_session(API, "1")
    current = store.current_session(API)
    assert current is not None and current.session_id == "1"
    store.set_current_session(API, None)
    assert store.current_session(API) is None


def test_session_state_survives_resaves(store: StateStore) -> None:
    store.save_session(_session("1", 1.0))
    store.update_session_state("1", {"state": {"draft": {"t": [1]}}, "session_id": "1"})
    rec = store.get_session("1")
    assert rec is not None and rec.state == {"state": {"draft": {"t": [1]}}, "session_id": "1"}
    store.save_session(_session("1", 1.0, title="renamed"))  # no last_state: keeps the stored one
    rec = store.get_session("1")
    assert rec is not None and rec.title == "renamed" and rec.state is not None


def test_a_state_read_again_unchanged_is_not_written_again(store: StateStore) -> None:
    def version() -> object:  # SQLite: rows this connection changed; PostgreSQL: the row's
        if isinstance(store, SQLiteStore):  # version (a new one per write)
            return store._conn.total_changes
        return store._one("SELECT xmin::text AS v FROM sessions WHERE session_id = ?", ("1",))["v"]

    store.save_session(_session("1", 1.0))
    state = {"state": {"draft": {"t": [1]}}, "session_id": "1"}
    store.update_session_state("1", state)
    written = version()
    store.update_session_state("1", dict(state))
    assert version() == written
    store.update_session_state("1", {**state, "state": {"draft": {"t": [2]}}})
    assert version() != written
    rec = store.get_session("1")
    assert rec is not None and rec.state == {**state, "state": {"draft": {"t": [2]}}}


def test_gone_session_stops_being_current(store: StateStore) -> None:
    store.save_session(_session("1", 1.0))
    store.set_current_session(API, "1")
    store.mark_session_gone("1")
    rec = store.get_session("1")
    assert rec is not None and rec.gone
    assert store.current_session(API) is None
    assert [s.gone for s in store.list_sessions(API)] == [True]


# --- renders and turns --------------------------------------------------------------------


def test_renders(store: StateStore) -> None:
    store.save_render(RenderRecord(render_id="r1", session_id="s", api_url=API, created_at=1))
    store.save_render(
        RenderRecord(render_id="r2", session_id="s", api_url=API, status="completed", created_at=2)
    )
    store.save_render(RenderRecord(render_id="r3", session_id="t", api_url=API, created_at=3))
    assert [r.render_id for r in store.list_renders()] == ["r3", "r2", "r1"]
    assert [r.render_id for r in store.list_renders("s")] == ["r2", "r1"]
    # "completed" is unfinished: rendered but not downloaded yet (a restart resumes it)
    assert [r.render_id for r in store.list_renders("s", unfinished_only=True)] == ["r2", "r1"]
    store.update_render("r2", status="downloaded")
    assert [r.render_id for r in store.list_renders("s", unfinished_only=True)] == ["r1"]
    before = store.get_render("r1")
    assert before is not None and before.status == "submitting"
    after = store.update_render("r1", status="processing", progress=40.0)
    assert after is not None and after.status == "processing" and after.progress == 40.0
    assert after.updated_at >= before.updated_at
    assert store.update_render("missing", status="failed") is None
    with pytest.raises(ValueError):
        store.update_render("r1", status="exploded")
    with pytest.raises(TypeError):
        store.update_render("r1", colour="red")
    with pytest.raises(TypeError):
        store.update_render("r1", render_id="other")


def test_turns(store: StateStore) -> None:
    def claim(rec: TurnRecord) -> TurnClaim:
        return store.claim_turn(rec, duplicate_after=None, lease_seconds=60)

    later = time.time() + 1
    assert claim(TurnRecord(turn_id="t2", session_id="s", created_at=later)).outcome == "started"
    store.update_turn("t2", status="lost")
    assert claim(TurnRecord(turn_id="t1", session_id="s", message_preview="x" * 500)).outcome == (
        "started"
    )
    assert claim(TurnRecord(turn_id="t3", session_id="o")).outcome == "started"
    store.update_turn("t3", status="replied")
    assert claim(TurnRecord(turn_id="t4", session_id="o")).outcome == "started"
    t1 = store.get_turn("t1")
    assert t1 is not None and len(t1.message_preview) == constants.TURN_PREVIEW_CHARS
    assert [t.turn_id for t in store.list_turns("s")] == ["t2", "t1"]
    assert {t.turn_id for t in store.list_turns()} == {"t1", "t2", "t3", "t4"}
    assert {t.turn_id for t in store.list_turns(unfinished_only=True)} == {"t1", "t4"}
    # one running turn per session: a second is refused, never silently replaces the first
    assert claim(TurnRecord(turn_id="t5", session_id="s")) == TurnClaim("busy", "t1")
    assert store.get_turn("t1") is not None and store.get_turn("t5") is None
    with pytest.raises(StoreError):  # an id already taken
        claim(TurnRecord(turn_id="t3", session_id="z"))
    done = store.update_turn("t1", status="silent_changed", result_json='{"ok":true}')
    assert done is not None and done.status == "silent_changed" and done.result_json
    with pytest.raises(ValueError):
        store.update_turn("t1", status="weird")


# --- the cross-process lock ---------------------------------------------------------------


def test_lock_excludes_and_times_out(store: StateStore) -> None:
    held = store.token_lock(1.0)
    held.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeoutError), store.token_lock(0.3):
            pass
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        held.release()
    with store.token_lock(0.3) as again:
        assert again.held
    held.release()  # idempotent


def test_lock_between_threads(store: StateStore) -> None:
    inside = 0
    peak = 0
    guard = threading.Lock()

    def worker() -> None:
        nonlocal inside, peak
        with store.token_lock(10.0):
            with guard:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 1


def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    SQLiteStore(folder).close()
    holder = _run(
        """
        import sys, time
        from pathlib import Path
        from nemo_mcp.store.sqlite import SQLiteStore
        lock = SQLiteStore(Path(sys.argv[1])).token_lock(5)
        lock.acquire()
        print("held", flush=True)
        time.sleep(60)
        """,
        str(folder),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with SQLiteStore(folder) as s:
            with pytest.raises(LockTimeoutError), s.token_lock(0.2):
                pass
            holder.kill()
            holder.wait(10)
            with s.token_lock(5.0) as lock:
                assert lock.held
    finally:
        holder.kill()
        holder.wait(10)


# --- several processes, crashes -----------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from nemo_mcp.store.records import RenderRecord
from nemo_mcp.store.sqlite import SQLiteStore
store = SQLiteStore(Path(sys.argv[1]))
prefix, count = sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
i = 0
while count < 0 or i < count:
    store.save_render(RenderRecord(render_id=f"{prefix}{i}", session_id=prefix, api_url="http://a"))
    store.update_render(f"{prefix}{i}", status="processing", progress=float(i % 100))
    i += 1
print("done", flush=True)
"""


@pytest.mark.slow
def test_concurrent_writers_in_several_processes(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    SQLiteStore(folder).close()
    procs = [_run(WRITER, str(folder), f"p{n}-", "150") for n in range(3)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with SQLiteStore(folder) as s:
        for n in range(3):
            renders = s.list_renders(f"p{n}-")
            assert len(renders) == 150
            assert all(r.status == "processing" for r in renders)


@pytest.mark.slow
@pytest.mark.skipif(not POSIX, reason="SIGKILL")
def test_kill_mid_write_leaves_a_readable_database(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    SQLiteStore(folder).close()
    writer = _run(WRITER, str(folder), "k", "-1")
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.7)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
    finally:
        writer.kill()
        writer.wait(10)
    assert writer.returncode == -signal.SIGKILL
    with SQLiteStore(folder) as s:
        renders = s.list_renders("k")
        assert len(renders) > 0
        conn = sqlite3.connect(s.db_path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        s.save_render(RenderRecord(render_id="after", session_id="k", api_url="http://a"))
        assert s.get_render("after") is not None


def test_schema_v1_database_is_migrated_in_place(tmp_path: Path) -> None:
    """A state folder written by an older nemo-mcp keeps its rows and gains the new columns."""
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE renders (render_id TEXT PRIMARY KEY, session_id TEXT NOT NULL,
            api_url TEXT NOT NULL, status TEXT NOT NULL, progress REAL, url TEXT,
            output_path TEXT, error TEXT, attempt INTEGER NOT NULL, created_at REAL NOT NULL,
            updated_at REAL NOT NULL);
        CREATE TABLE turns (turn_id TEXT PRIMARY KEY, session_id TEXT NOT NULL,
            message_preview TEXT NOT NULL, status TEXT NOT NULL, result_json TEXT,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        INSERT INTO renders VALUES ('render_old', 's1', 'http://x', 'processing', 50, NULL,
            NULL, NULL, 1, 1.0, 2.0);
        INSERT INTO turns VALUES ('turn_old', 's1', 'hello', 'replied', NULL, 1.0, 2.0);
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with SQLiteStore(db) as store:
        old = store.get_render("render_old")
        assert old is not None and old.status == "processing" and old.draft_digest is None
        store.update_render("render_old", draft_digest="abc", replaced_by="render_new")
        again = store.get_render("render_old")
        assert again is not None
        assert (again.draft_digest, again.replaced_by) == ("abc", "render_new")
        turn = store.get_turn("turn_old")
        assert turn is not None and turn.message_hash is None
        store.update_turn("turn_old", message_hash="h1")
        updated = store.get_turn("turn_old")
        assert updated is not None
        assert (updated.message_hash, updated.message_preview) == ("h1", "hello")
