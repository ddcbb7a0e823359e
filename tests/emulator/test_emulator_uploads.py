"""Uploads: streamed multipart of real media, probing, URL uploads, 4001 / 4002, and memory."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from emu_helpers import Api, Media

from nemo_mcp.contract import codes, paths
from nemo_mcp.emulator import EmulatorServer


@pytest.mark.anyio
async def test_upload_real_media_is_probed(api: Api, media: Media) -> None:
    sid = await api.new_session()
    r = await api.upload(sid, media.song, media.photos[0], media.photos[1], media.clip, media.wav)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 0
    assert body["data"]["session_state_applied"] is True
    files = {f["filename"]: f for f in body["data"]["files"]}
    song = files["song.mp3"]
    assert song["file_type"] == "audio"
    assert abs(song["duration"] - 6.0) < 0.1
    assert "width" not in song
    photo = files["one.jpg"]
    assert (photo["file_type"], photo["width"], photo["height"]) == ("image", 1280, 720)
    assert "duration" not in photo
    assert files["two.png"]["file_type"] == "image"
    clip = files["clip.mp4"]
    assert clip["file_type"] == "video"
    assert (clip["width"], clip["height"], clip["fps"]) == (640, 360, 25.0)
    assert abs(clip["duration"] - 3.0) < 0.1
    assert abs(files["voice.wav"]["duration"] - 4.0) < 0.05
    for path in (media.song, media.clip):
        entry = files[path.name]
        assert entry["hash"] == hashlib.md5(path.read_bytes()).hexdigest()
        assert entry["size"] == path.stat().st_size
        assert entry["cdn_url"].startswith(api.server.url + "/cdn/media/")
    # the files are served back, byte for byte
    got = await api.client.get(song["cdn_url"])
    assert got.content == media.song.read_bytes()
    assert got.headers["content-type"] == "audio/mpeg"
    # and listed in the session state
    infos = (await api.state(sid))["video_infos"]
    assert [i["filename"] for i in infos] == [
        "song.mp3",
        "one.jpg",
        "two.png",
        "clip.mp4",
        "voice.wav",
    ]
    assert infos[0]["duration"] == song["duration"]
    assert infos[3]["width"] == 640


@pytest.mark.anyio
async def test_unsupported_extension_is_4001(api: Api, tmp_path: Path, media: Media) -> None:
    sid = await api.new_session()
    doc = tmp_path / "notes.txt"
    doc.write_text("hello")
    r = await api.upload(sid, media.song, doc)
    assert r.status_code == 400
    assert r.json()["code"] == codes.UNSUPPORTED_FILE
    assert "mp4" in r.json()["message"]
    # nothing of the failed request was kept
    assert (await api.state(sid))["video_infos"] == []
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        json={"urls": ["https://example.com/a.exe"], "source_type": "url"},
    )
    assert r.json()["code"] == codes.UNSUPPORTED_FILE


@pytest.mark.anyio
async def test_over_the_limit_is_4002(api: Api, emu: EmulatorServer, tmp_path: Path) -> None:
    emu.set_config(upload_limit_mb=1)
    sid = await api.new_session()
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(3 * 1024 * 1024)
    r = await api.upload(sid, big)
    assert r.status_code == 413
    assert r.json()["code"] == codes.FILE_TOO_LARGE
    assert (await api.state(sid))["video_infos"] == []
    assert not any(emu.state.media_dir.iterdir())
    # the connection was drained, not broken: the next request on it works
    assert (await api.credits())["available"] > 0


@pytest.mark.anyio
async def test_upload_by_file_url_and_loopback_url(api: Api, media: Media) -> None:
    sid = await api.new_session()
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        json={"urls": [media.clip.as_uri()], "source_type": "url"},
    )
    assert r.status_code == 200, r.text
    (clip,) = r.json()["data"]["files"]
    assert (clip["file_type"], clip["width"]) == ("video", 640)
    # a loopback http URL is fetched too (here: the emulator's own copy)
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        json={"urls": [clip["cdn_url"]], "source_type": "url"},
    )
    (again,) = r.json()["data"]["files"]
    assert again["hash"] == clip["hash"]
    assert again["media_id"] != clip["media_id"]
    assert abs(again["duration"] - 3.0) < 0.1


@pytest.mark.anyio
async def test_remote_url_is_recorded_not_fetched(api: Api) -> None:
    sid = await api.new_session()
    url = "https://cdn.example.com/videos/holiday%20clip.mp4"
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        json={"urls": [url], "source_type": "url"},
    )
    assert r.status_code == 200, r.text
    (entry,) = r.json()["data"]["files"]
    assert entry["file_type"] == "video"
    assert entry["filename"] == "holiday clip.mp4"
    assert entry["cdn_url"] == url
    assert "duration" not in entry
    infos = (await api.state(sid))["video_infos"]
    assert infos[0]["source"] == "url" and infos[0]["source_url"] == url


@pytest.mark.anyio
async def test_upload_requests_are_checked(api: Api) -> None:
    sid = await api.new_session()
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        json={"urls": [], "source_type": "url"},
    )
    assert r.status_code == 400
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        content=b"raw",
        params={"x": "1"},
    )
    assert r.status_code == 400
    r = await api.client.post(
        paths.fill(paths.UPLOAD, session_id=sid),
        headers=api.headers(),
        files={"other": ("a.txt", b"x")},
    )
    assert r.status_code == 400
    assert "files" in r.json()["message"]


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.anyio
async def test_large_upload_keeps_memory_bounded(
    api: Api, emu: EmulatorServer, tmp_path: Path
) -> None:
    size = 200 * 1024 * 1024
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(size)  # sparse: costs no disk until written
    sid = await api.new_session()
    use_proc = sys.platform.startswith("linux")
    peak = [0]
    stop = threading.Event()
    if use_proc:
        base = _rss()
        peak[0] = base

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
    else:
        tracemalloc.start()
    began = time.monotonic()
    try:
        r = await api.upload(sid, big)
    finally:
        stop.set()
        if use_proc:
            sampler.join()
            growth = peak[0] - base
        else:
            growth = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    elapsed = time.monotonic() - began
    assert r.status_code == 200, r.text
    (entry,) = r.json()["data"]["files"]
    assert entry["size"] == size
    stored = emu.state.media_path(entry["media_id"])
    assert stored is not None and stored.stat().st_size == size
    print(f"\n200 MB upload: {elapsed:.1f} s, peak memory growth {growth / 2**20:.1f} MiB")
    assert growth < 64 * 1024 * 1024


@pytest.mark.anyio
async def test_other_machines_cannot_make_it_fetch_local_things(media: Media) -> None:
    from nemo_mcp.emulator.config import EmulatorConfig
    from nemo_mcp.emulator.envelope import Reject
    from nemo_mcp.emulator.state import EmulatorState
    from nemo_mcp.emulator.uploads import fetch_url

    state = EmulatorState(EmulatorConfig())
    try:
        with pytest.raises(Reject) as info:
            await fetch_url(state, media.song.as_uri(), state.config, local_client=False)
        assert info.value.code == 400
        got = await fetch_url(
            state, "http://127.0.0.1:1/song.mp3", state.config, local_client=False
        )
        assert got is None  # recorded, not fetched
        saved = await fetch_url(state, media.song.as_uri(), state.config, local_client=True)
        assert saved is not None and saved.size == media.song.stat().st_size
    finally:
        state.close()


@pytest.mark.anyio
async def test_early_errors_still_reach_a_client_that_is_uploading(
    api: Api, emu: EmulatorServer, tmp_path: Path
) -> None:
    sid = await api.new_session()
    big = tmp_path / "clip.mp4"
    with big.open("wb") as fh:
        fh.truncate(40 * 1024 * 1024)
    emu.set_faults("upload:4002:times=1")
    r = await api.upload(sid, big)
    assert (r.status_code, r.json()["code"]) == (413, codes.FILE_TOO_LARGE)
    good = api.token
    api.token = "nmv_usr_not_a_token"
    r = await api.upload(sid, big)
    assert (r.status_code, r.json()["code"]) == (401, codes.TOKEN_INVALID)
    api.token = good
    r = await api.upload("1111111111111111111", big)
    assert r.json()["code"] == codes.SESSION_NOT_FOUND
