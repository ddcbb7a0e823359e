"""Signed upload links: what a worker signs, every worker accepts until it expires; a changed
or forged ticket is refused."""

from __future__ import annotations

import pytest

from nemo_mcp.errors import InvalidInputError
from nemo_mcp.hosted.uploads import LINK_SECONDS, UploadLinks
from nemo_mcp.store.sealing import TokenSealer

KEY = TokenSealer.new_key()


def test_a_link_names_its_user_session_and_file_until_it_expires() -> None:
    one, other = UploadLinks(KEY, "https://mcp.test"), UploadLinks(KEY, "https://mcp.test")
    url = one.make("alice", "s1", "song.mp3", now=1000.0)
    ticket = url.rsplit("/", 1)[1]
    assert url.startswith("https://mcp.test/uploads/")
    assert other.check(ticket, now=1000.0 + LINK_SECONDS - 1) == ("alice", "s1", "song.mp3")
    with pytest.raises(InvalidInputError, match="expired"):
        other.check(ticket, now=1000.0 + LINK_SECONDS + 1)
    payload, sig = ticket.split(".")
    with pytest.raises(InvalidInputError, match="not valid"):
        other.check(payload[:-2] + "xx." + sig, now=1000.0)
    with pytest.raises(InvalidInputError, match="not valid"):
        UploadLinks(TokenSealer.new_key(), "https://mcp.test").check(ticket, now=1000.0)
