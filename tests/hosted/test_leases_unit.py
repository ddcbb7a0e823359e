"""Which lease holders are known to be gone: only a process of this machine that has exited."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nemo_mcp.studio.leases import gone_local_process, new_worker_id


@pytest.mark.skipif(os.name == "nt", reason="POSIX process check")
def test_only_an_exited_local_process_is_gone() -> None:
    me = new_worker_id()
    assert not gone_local_process(me)  # this process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)
    host = me.split(":", 1)[0]
    assert gone_local_process(f"{host}:{child.pid}:abcd1234")
    assert not gone_local_process(f"another-host:{child.pid}:abcd1234")  # never guessed
    assert not gone_local_process(f"{host}:1:abcd1234")  # alive (init), not ours to signal
    assert not gone_local_process("garbage")
