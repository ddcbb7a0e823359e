"""The store with many users and many workers, on both backends: every read and write is scoped
by user, render leases pass from a dead worker to a live one, one export per timeline across
workers, tokens encrypted at rest, a PostgreSQL restart survived."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemo_mcp.errors import StoreError
from nemo_mcp.store.records import Credential, RenderRecord, SessionRecord, TurnRecord
from nemo_mcp.store.sql import SQLStore
from support.postgres import BACKENDS, backend_store, pg_schema, restart_postgres

API = "http://api.test"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    with backend_store(request.param, tmp_path) as s:
        yield s


def _render(rid: str, sid: str = "s1", digest: str | None = "d1", **kw: object) -> RenderRecord:
    return RenderRecord(render_id=rid, session_id=sid, api_url=API, draft_digest=digest, **kw)  # type: ignore[arg-type]


def test_every_record_is_its_owners(store: SQLStore) -> None:
    alice, bob = store.for_owner("alice"), store.for_owner("bob")
    alice.save_credential(API, Credential(token="nmv_usr_alice_token_1", user_id="ua"))
    alice.save_session(SessionRecord(session_id="sa", task_id="t", api_url=API))
    alice.set_current_session(API, "sa")
    alice.save_render(_render("ra", "sa"))
    alice.claim_turn(
        TurnRecord(turn_id="ta", session_id="sa", message_hash="h"),
        duplicate_after=0,
        lease_seconds=60,
    )
    # bob sees nothing of alice's...
    assert bob.load_credential(API) is None
    assert bob.get_session("sa") is None and bob.list_sessions(API) == []
    assert bob.current_session(API) is None
    assert bob.get_render("ra") is None and bob.list_renders() == []
    assert bob.get_turn("ta") is None and bob.list_turns() == []
    # ...and touches nothing of it
    assert bob.update_render("ra", status="cancelled") is None
    assert bob.update_turn("ta", status="failed") is None
    assert not bob.renew_turn_lease("ta", 60)
    assert not bob.lease_render("ra", worker="w-bob", lease_seconds=60)
    assert not bob.clear_credential(API)
    bob.mark_session_gone("sa")
    bob.update_session_state("sa", {"state": {"draft": "bob's"}})
    bob.save_session(SessionRecord(session_id="sa", task_id="stolen", api_url=API, title="bob"))
    bob.save_render(_render("ra", "sa", status="cancelled"))
    bob.set_current_session(API, "sa")  # names alice's session: bob's current stays empty
    assert bob.current_session(API) is None
    kept = alice.get_session("sa")
    assert kept is not None and (kept.task_id, kept.gone, kept.last_state) == ("t", False, None)
    render = alice.get_render("ra")
    assert render is not None and render.status == "submitting"
    turn = alice.get_turn("ta")
    assert turn is not None and turn.status == "running"
    cred = alice.load_credential(API)
    assert cred is not None and cred.token == "nmv_usr_alice_token_1"
    current = alice.current_session(API)
    assert current is not None and current.session_id == "sa"
    assert alice.get_client_id() != bob.get_client_id()


def test_a_render_lease_has_one_holder_and_passes_on_when_it_runs_out(store: SQLStore) -> None:
    user = store.for_owner("alice")
    rec = user.start_render(_render("r1"), worker="w1", lease_seconds=0.4)
    assert rec.render_id == "r1"
    assert user.render_lease("r1")[0] == "w1"
    assert not user.lease_render("r1", worker="w2", lease_seconds=30)  # w1's lease is live
    assert user.lease_render("r1", worker="w1", lease_seconds=0.4)  # the holder renews
    assert store.orphaned_renders() == []
    time.sleep(0.5)  # w1 stops renewing (it died)
    assert store.orphaned_renders() == [("alice", "r1")]
    assert user.lease_render("r1", worker="w2", lease_seconds=30)
    assert not user.lease_render("r1", worker="w1", lease_seconds=30)  # w1 lost it
    user.release_render("r1", worker="w1")  # not the holder: nothing happens
    assert user.render_lease("r1")[0] == "w2"
    user.release_render("r1", worker="w2")  # a graceful shutdown hands it back at once
    assert store.orphaned_renders() == [("alice", "r1")]
    user.update_render("r1", status="downloaded")
    assert store.orphaned_renders() == []
    assert not user.lease_render("r1", worker="w3", lease_seconds=30)  # finished: no lease


def test_one_export_per_timeline_across_workers(store: SQLStore) -> None:
    """Eight threads (each as a separate worker) export the same timeline at once: one render
    is recorded, every caller gets it."""
    user = store.for_owner("alice")
    got: list[str] = []
    barrier = threading.Barrier(8)

    def export(n: int) -> None:
        barrier.wait()
        rec = user.start_render(_render(f"r{n}"), worker=f"w{n}", lease_seconds=30)
        got.append(rec.render_id)

    threads = [threading.Thread(target=export, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and len(got) == 8
    assert [r.render_id for r in user.list_renders()] == [got[0]]
    # a failed one does not count; a forced export renders again; another user is apart
    user.update_render(got[0], status="failed")
    assert user.start_render(_render("again"), worker="w", lease_seconds=30).render_id == "again"
    forced = user.start_render(_render("forced"), worker="w", lease_seconds=30, reuse=False)
    assert forced.render_id == "forced"
    other = store.for_owner("bob").start_render(_render("bobs"), worker="w", lease_seconds=30)
    assert other.render_id == "bobs"


def test_tokens_are_encrypted_at_rest_in_postgres() -> None:
    import psycopg

    from nemo_mcp.store.postgres import PostgresStore
    from nemo_mcp.store.sealing import TokenSealer

    key = TokenSealer.new_key()
    with pg_schema() as url:
        with PostgresStore(url, sealer=TokenSealer(key)) as pg:
            pg.for_owner("alice").save_credential(API, Credential(token="nmv_usr_secret_42"))
            cred = pg.for_owner("alice").load_credential(API)
            assert cred is not None and cred.token == "nmv_usr_secret_42"
            assert pg.for_owner("alice").clear_credential(API, only_token="nmv_usr_secret_42")
            pg.for_owner("alice").save_credential(API, Credential(token="nmv_usr_secret_42"))
        with psycopg.connect(url) as conn:
            raw = conn.execute("SELECT token FROM credentials").fetchall()
        assert len(raw) == 1 and "secret_42" not in raw[0][0]
        wrong = TokenSealer(TokenSealer.new_key())
        with (
            PostgresStore(url, sealer=wrong) as other,
            pytest.raises(StoreError, match="cannot be decrypted"),
        ):
            other.for_owner("alice").load_credential(API)


def test_workers_starting_together_migrate_once() -> None:
    from nemo_mcp.store.postgres import PostgresStore

    with pg_schema() as url:
        errors: list[BaseException] = []

        def open_one() -> None:
            try:
                PostgresStore(url).close()
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with PostgresStore(url) as pg:
            row = pg._one("SELECT value FROM meta WHERE key = 'schema_version'")
            assert row is not None and int(row["value"]) >= 4


def test_a_bad_database_url_is_a_clear_error() -> None:
    from nemo_mcp.store.postgres import PostgresStore

    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://nobody:hunter2@127.0.0.1:1/none?connect_timeout=1")
    assert "NEMO_MCP_DATABASE_URL" in (info.value.hint or "")
    assert "hunter2" not in str(info.value)


@pytest.mark.slow
def test_the_store_survives_a_postgres_restart() -> None:
    """The pool replaces the connections a restart broke: at most the statement in flight
    fails (with an actionable StoreError), and the next one works."""
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("no local PostgreSQL cluster to restart")
    from nemo_mcp.store.postgres import PostgresStore

    with pg_schema() as url, PostgresStore(url) as pg:
        user = pg.for_owner("alice")
        user.save_render(_render("before"))
        restart_postgres()
        deadline = time.monotonic() + 30
        while True:
            try:
                user.save_render(_render("after"))
                break
            except StoreError as err:
                assert err.hint  # actionable
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert {r.render_id for r in user.list_renders()} == {"before", "after"}


def test_a_one_time_key_is_used_once_per_user(store: SQLStore) -> None:
    alice, bob = store.for_owner("alice"), store.for_owner("bob")
    assert alice.first_use("ticket-1")
    assert not alice.first_use("ticket-1")
    assert bob.first_use("ticket-1")  # users apart
    bob.forget_use("ticket-1")  # bob's use stored nothing: his key works again, alice's not
    assert not alice.first_use("ticket-1")
    assert bob.first_use("ticket-1")
