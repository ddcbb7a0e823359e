"""PostgreSQL for tests: the server this machine runs (127.0.0.1:5432; ``NEMO_TEST_DATABASE``
names another). Each test gets its own schema, dropped afterwards, reached through a URL whose
``search_path`` points at it, so tests never see each other's rows."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from nemo_mcp.store.sql import SQLStore

SERVER = os.environ.get("NEMO_TEST_DATABASE", "postgresql://postgres@127.0.0.1:5432/test")


def url_for_schema(name: str) -> str:
    sep = "&" if "?" in SERVER else "?"
    return f"{SERVER}{sep}options={quote(f'-csearch_path={name}')}"


def unavailable(reason: str) -> None:
    """Skip on a machine without the service; fail in CI, where it must run (``.ci/run``
    starts PostgreSQL and Redis when they are down)."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests: .ci/run starts the service)")
    pytest.skip(reason)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema on the test server; yields a database URL that uses it."""
    import psycopg

    try:
        psycopg.connect(SERVER, connect_timeout=5).close()
    except psycopg.OperationalError:
        unavailable(f"no PostgreSQL server at {SERVER.split('@')[-1]} (NEMO_TEST_DATABASE)")
    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield url_for_schema(name)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


BACKENDS = ["sqlite", "postgres"]


@contextmanager
def backend_store(kind: str, folder: Path) -> Iterator[SQLStore]:
    """A fresh store on ``kind`` (``BACKENDS``): a SQLite file in ``folder``, or a schema."""
    if kind == "sqlite":
        from nemo_mcp.store.sqlite import SQLiteStore

        with SQLiteStore(folder / "state.db") as s:
            yield s
        return
    from nemo_mcp.store.postgres import PostgresStore

    with pg_schema() as url, PostgresStore(url) as pg:
        yield pg


def restart_postgres() -> None:
    """Restart this machine's PostgreSQL cluster (the command the machine facts give).

    Under pytest-xdist only a test of the ``postgres`` group may (tests/conftest.py): every
    other test that uses the server runs in that group's one worker, so none is cut off."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    if os.environ.get("PYTEST_XDIST_WORKER") and "@postgres" not in current:
        raise AssertionError(
            f"{current or 'this test'} restarts PostgreSQL outside the 'postgres' xdist group: "
            "tests on other workers would lose the server (see tests/conftest.py)"
        )
    version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True).stdout
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version.split()[0], "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
