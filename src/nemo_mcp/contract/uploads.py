"""Uploads into a session: files as multipart, or URLs NemoVideo fetches; the file entries back.

``POST /api/upload-video/nemo_agent/me/<session_id>`` takes either a multipart body whose file
parts are all named ``files``, or ``{"urls": [...], "source_type": "url"}``. It answers
``{"files": [ENTRY, ...], "session_state_applied": true}``; an entry names the file, its kind,
its CDN URL and what probing found (duration, size, fps).
"""

from __future__ import annotations

from typing import Any, Final

FILES_FIELD: Final = "files"  # the multipart field of every file part
URLS: Final = "urls"
SOURCE_TYPE: Final = "source_type"
URL_SOURCE: Final = "url"
STATE_APPLIED: Final = "session_state_applied"

# the fields of one file entry: every spelling read (the documented one first)
FILENAME_KEYS: Final = ("filename", "name")
FILE_TYPE_KEYS: Final = ("file_type", "type")
CDN_URL_KEYS: Final = ("cdn_url", "url")
PROBED: Final = ("duration", "width", "height", "fps")  # filled when probing found them


def url_request(urls: list[str]) -> dict[str, Any]:
    return {URLS: list(urls), SOURCE_TYPE: URL_SOURCE}


def file_entry(
    *,
    media_id: str,
    filename: str,
    file_type: str,
    cdn_url: str | None,
    size: int,
    digest: str,
    probed: dict[str, Any],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "media_id": media_id,
        FILENAME_KEYS[0]: filename,
        FILE_TYPE_KEYS[0]: file_type,
        CDN_URL_KEYS[0]: cdn_url,
        "size": size,
        "hash": digest,
    }
    entry.update({key: probed[key] for key in PROBED if key in probed})
    return entry


def answer(files: list[dict[str, Any]]) -> dict[str, Any]:
    return {FILES_FIELD: files, STATE_APPLIED: True}
