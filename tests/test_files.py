"""Path confinement, media sniffing and output naming (hostile input included)."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

from nemo_mcp import errors
from nemo_mcp.files.outputs import choose_output_path, safe_filename
from nemo_mcp.files.uploads import check_media_url, resolve_in_roots, resolve_upload
from nemo_mcp.media import containers

MB = 1024 * 1024


def _wav(path: Path, seconds: float = 0.2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return path


def _png(path: Path) -> Path:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "media"
    r.mkdir()
    return r


def test_accepts_media_inside_root(root: Path) -> None:
    song = _wav(root / "song.wav")
    got = resolve_upload("song.wav", [root], max_bytes=MB)
    assert got.path == song.resolve() and got.kind == "audio" and got.size > 0
    assert resolve_upload(str(song), [root], max_bytes=MB).path == song.resolve()
    assert resolve_upload(song.as_uri(), [root], max_bytes=MB).path == song.resolve()


@pytest.mark.parametrize(
    "raw",
    [
        "../outside.wav",
        "sub/../../outside.wav",
        "/etc/passwd",
        "a\x00b.wav",
    ],
)
def test_refuses_escapes(root: Path, raw: str) -> None:
    _wav(root.parent / "outside.wav")
    with pytest.raises(errors.UnsafePathError):
        resolve_in_roots(raw, [root])


def test_refuses_prefix_sibling(root: Path, tmp_path: Path) -> None:
    evil = tmp_path / "media_evil"
    evil.mkdir()
    _wav(evil / "x.wav")
    with pytest.raises(errors.UnsafePathError):
        resolve_in_roots(str(evil / "x.wav"), [root])


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_refuses_symlinks_out(root: Path, tmp_path: Path) -> None:
    secret = _wav(tmp_path / "secret.wav")
    (root / "link.wav").symlink_to(secret)
    (root / "dangling.wav").symlink_to(tmp_path / "nowhere" / "x.wav")
    (root / "dirlink").symlink_to(tmp_path)
    for raw in ("link.wav", "dangling.wav", "dirlink/secret.wav"):
        with pytest.raises(errors.UnsafePathError):
            resolve_in_roots(raw, [root])


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_symlink_inside_root_is_fine(root: Path) -> None:
    song = _wav(root / "song.wav")
    (root / "alias.wav").symlink_to(song)
    assert resolve_upload("alias.wav", [root], max_bytes=MB).path == song.resolve()


def test_refuses_non_media_renamed(root: Path) -> None:
    (root / "notes.mp4").write_text("not a video at all, just text\n" * 10)
    with pytest.raises(errors.UnsafePathError, match="does not contain MP4"):
        resolve_upload("notes.mp4", [root], max_bytes=MB)
    # a PNG renamed to .mp3 is refused too
    _png(root / "pic.mp3")
    with pytest.raises(errors.UnsafePathError):
        resolve_upload("pic.mp3", [root], max_bytes=MB)


def test_refuses_unsupported_type_and_dirs_and_missing(root: Path) -> None:
    (root / "doc.pdf").write_bytes(b"%PDF-1.7")
    with pytest.raises(errors.UnsupportedFileError):
        resolve_upload("doc.pdf", [root], max_bytes=MB)
    (root / "folder.mp4").mkdir()
    with pytest.raises(errors.UnsafePathError):
        resolve_upload("folder.mp4", [root], max_bytes=MB)
    with pytest.raises(errors.InvalidInputError):
        resolve_upload("missing.mp4", [root], max_bytes=MB)


def test_size_limit(root: Path) -> None:
    _wav(root / "big.wav", seconds=2.0)  # ~32 KB
    with pytest.raises(errors.FileTooLargeError, match="limit"):
        resolve_upload("big.wav", [root], max_bytes=1000)


def test_odd_unicode_names(root: Path) -> None:
    name = "Ünïcödé 歌曲 🎵 (final).wav"
    _wav(root / name)
    assert resolve_upload(name, [root], max_bytes=MB).path.name == name


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (b"\x00\x00\x00\x18ftypmp42", "isobmff"),
        (b"\x1a\x45\xdf\xa3\x00", "matroska"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "riff-wave"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "riff-webp"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "riff-avi"),
        (b"ID3\x04", "mp3"),
        (b"GIF89a", "gif"),
        (b"hello world", None),
        (b"", None),
    ],
)
def test_sniff(head: bytes, family: str | None) -> None:
    assert containers.sniff_bytes(head) == family


def test_urls() -> None:
    assert check_media_url("https://cdn.example/a/song.mp3")
    assert check_media_url("https://cdn.example/stream")  # no extension: the server decides
    with pytest.raises(errors.UnsupportedFileError):
        check_media_url("https://cdn.example/a.exe")
    with pytest.raises(errors.InvalidInputError):
        check_media_url("ftp://x/y.mp4")


def test_output_names_never_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = choose_output_path(out, "clip.mp4")
    first.write_bytes(b"x")
    second = choose_output_path(out, "clip.mp4")
    assert second.name == "clip (2).mp4"
    assert choose_output_path(out, "clip.mp4", overwrite=True) == first
    assert safe_filename("../../etc/passwd") == "etc_passwd.mp4"
    assert safe_filename("CON") == "nemovideo.mp4"
    assert safe_filename("My Song: Remix/Final") == "My Song_ Remix_Final.mp4"
