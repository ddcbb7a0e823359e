"""Helpers for the emulator tests: settings for a fast emulator, synthetic media, and a small
raw-HTTP client that speaks the contract directly (no product code involved)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from nemo_mcp.contract import headers, paths, renders
from nemo_mcp.emulator import EmulatorServer
from nemo_mcp.emulator.render import synth

ATTRIBUTION = {
    headers.SKILL_SOURCE: "nemo-mcp",
    headers.SKILL_VERSION: "0.1.0",
    headers.SKILL_PLATFORM: "mcp",
}


@dataclass
class Media:
    song: Path  # 6 s MP3 at 120 BPM
    wav: Path  # 4 s WAV
    photos: list[Path]  # 3 JPG/PNG photos, 1280x720
    clip: Path  # 3 s MP4 640x360 with sound


def make_media(root: Path) -> Media:
    return Media(
        song=synth.make_song(root / "song.mp3", 6.0, bpm=120),
        wav=synth.make_song(root / "voice.wav", 4.0, bpm=90, mood="calm"),
        photos=[
            synth.make_photo(root / "one.jpg", "One", color=(30, 90, 170)),
            synth.make_photo(root / "two.png", "Two", color=(170, 90, 30)),
            synth.make_photo(root / "three.jpg", "Three", color=(30, 150, 80)),
        ],
        clip=synth.make_clip(root / "clip.mp4", 3.0),
    )


@dataclass
class Stream:
    """A /run_sse response read raw: status, headers, the body lines, and how it ended."""

    status: int
    headers: httpx.Headers
    lines: list[str] = field(default_factory=list)
    error: Exception | None = None
    body: bytes = b""

    @property
    def data(self) -> list[str]:
        """The payload of every ``data:`` line, heartbeats included."""
        return [line[5:].lstrip() for line in self.lines if line.startswith("data:")]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every data line that is a JSON object other than a heartbeat."""
        out = []
        for raw in self.data:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("type") != "heartbeat":
                out.append(obj)
        return out

    def texts(self) -> list[str]:
        """Final (non-partial, non-thought) texts of ADK events."""
        out = []
        for ev in self.events:
            if ev.get("partial"):
                continue
            for part in (ev.get("content") or {}).get("parts", []):
                if "text" in part and not part.get("thought"):
                    out.append(part["text"])
        return out


class Api:
    """Raw calls against the emulator, the way the contract describes them."""

    def __init__(self, client: httpx.AsyncClient, server: EmulatorServer) -> None:
        self.client = client
        self.server = server
        self.token: str | None = None

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        out = dict(ATTRIBUTION)
        tok = token or self.token
        if tok:
            out["Authorization"] = f"Bearer {tok}"
        out.update(extra)
        return out

    async def login(self, client_id: str | None = None) -> str:
        r = await self.client.post(
            paths.ANON_TOKEN, headers={headers.CLIENT_ID: client_id or str(uuid.uuid4())}
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["data"]["token"]
        return self.token

    async def new_session(self, language: str = "en") -> str:
        if self.token is None:
            await self.login()
        r = await self.client.post(
            paths.CREATE_SESSION,
            headers=self.headers(),
            json={"task_name": "project", "language": language},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["data"]["session_id"])

    async def upload(self, sid: str, *media: Path) -> httpx.Response:
        handles = [p.open("rb") for p in media]
        try:
            files = [("files", (p.name, fh)) for p, fh in zip(media, handles, strict=True)]
            return await self.client.post(
                paths.fill(paths.UPLOAD, session_id=sid), headers=self.headers(), files=files
            )
        finally:
            for fh in handles:
                fh.close()

    async def state(self, sid: str) -> dict[str, Any]:
        r = await self.client.get(paths.fill(paths.STATE, session_id=sid), headers=self.headers())
        assert r.status_code == 200, r.text
        return dict(r.json()["data"]["state"])

    async def credits(self) -> dict[str, Any]:
        r = await self.client.get(paths.CREDITS, headers=self.headers())
        assert r.status_code == 200, r.text
        return dict(r.json()["data"])

    async def chat(
        self,
        sid: str,
        text: str,
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float = 30.0,
        give_up_after: float | None = None,
    ) -> Stream:
        """POST /run_sse and read the raw body until it ends, breaks, or ``give_up_after``."""
        payload = body or {
            "app_name": paths.APP_NAME,
            "user_id": paths.USER_ID,
            "session_id": sid,
            "new_message": {"parts": [{"text": text}]},
        }
        hdrs = self.headers(Accept="text/event-stream")
        hdrs.update(headers or {})
        result = Stream(status=0, headers=httpx.Headers())
        chunks: list[bytes] = []
        try:
            async with self.client.stream(
                "POST",
                paths.RUN_SSE,
                json=payload,
                headers=hdrs,
                timeout=httpx.Timeout(timeout, connect=5.0),
            ) as resp:
                result.status = resp.status_code
                result.headers = resp.headers
                with anyio.move_on_after(give_up_after if give_up_after is not None else 1e9):
                    async for chunk in resp.aiter_raw():
                        chunks.append(chunk)
        except httpx.HTTPError as exc:
            result.error = exc
        result.body = b"".join(chunks)
        result.lines = result.body.decode("utf-8", "replace").split("\n")
        return result

    async def submit_render(
        self, sid: str, draft: Any, render_id: str, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            paths.RENDER,
            headers=headers if headers is not None else self.headers(),
            json={
                "id": render_id,
                "sessionId": sid,
                "draft": draft,
                "output": {"format": "mp4", "quality": "high"},
            },
        )

    async def wait_render(self, render_id: str, timeout: float = 60.0) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            while True:
                r = await self.client.get(
                    paths.fill(paths.RENDER_STATUS, render_id=render_id), headers=self.headers()
                )
                assert r.status_code == 200, r.text
                body = dict(r.json())
                if body["status"] in renders.TERMINAL:
                    return body
                await anyio.sleep(0.1)


@asynccontextmanager
async def serve(**config: Any) -> AsyncIterator[Api]:
    """A one-off emulator with these settings, and an :class:`Api` for it."""
    async with (
        EmulatorServer(**config) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30.0, trust_env=False) as client,
    ):
        yield Api(client, server)
