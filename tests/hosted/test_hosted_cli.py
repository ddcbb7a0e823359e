"""``nemo-mcp serve --hosted`` refuses to start without what hosted mode needs, saying what to
set; ``--new-key`` makes a key."""

from __future__ import annotations

import subprocess
import sys

from nemo_mcp.store.sealing import TokenSealer
from support.processes import clean_env


def _serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nemo_mcp", "serve", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_new_key_is_printed() -> None:
    done = _serve("--hosted", "--new-key")
    assert done.returncode == 0
    TokenSealer(done.stdout.strip())  # a valid key


def test_hosted_mode_names_what_is_missing() -> None:
    no_http = _serve("--hosted")
    assert no_http.returncode != 0 and "serve --http --hosted" in no_http.stderr
    no_db = _serve("--http", "--hosted")
    assert no_db.returncode != 0 and "NEMO_MCP_DATABASE_URL" in no_db.stderr
    no_key = _serve("--http", "--hosted", NEMO_MCP_DATABASE_URL="postgresql://x@127.0.0.1/y")
    assert no_key.returncode != 0 and "NEMO_MCP_TOKEN_KEY" in no_key.stderr
    bad_auth = _serve(
        "--http",
        "--hosted",
        NEMO_MCP_DATABASE_URL="postgresql://x:s3cret-pw@127.0.0.1/y",
        NEMO_MCP_TOKEN_KEY=TokenSealer.new_key(),
        NEMO_MCP_AUTH="magic",
    )
    assert bad_auth.returncode != 0 and "NEMO_MCP_AUTH" in bad_auth.stderr
    assert "s3cret-pw" not in bad_auth.stderr + bad_auth.stdout
