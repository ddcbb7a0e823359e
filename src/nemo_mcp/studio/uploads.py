"""Uploading the user's media into a session: every item is checked before anything is sent (one bad
item fails the call), local files are opened once, checked on that handle and sent from it, and
URLs are handed to NemoVideo to fetch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from nemo_mcp.api.client import check_id
from nemo_mcp.errors import (
    InvalidInputError,
    SessionNotFoundError,
)
from nemo_mcp.files.roots import upload_roots
from nemo_mcp.files.uploads import UploadCandidate, check_media_url, dedupe, is_url, resolve_upload
from nemo_mcp.store.records import SessionRecord
from nemo_mcp.studio.account import Account
from nemo_mcp.studio.jobs import ProgressFn
from nemo_mcp.studio.views import (
    Progress,
    UploadedItem,
    UploadResult,
)

log = logging.getLogger(__name__)


class Uploads(Account):
    """Uploads: local files (confined, checked on the handle they are sent from) and URLs."""

    async def upload(
        self,
        items: Sequence[str],
        *,
        session_id: str | None = None,
        roots: Sequence[Path] | None = None,
        on_progress: ProgressFn | None = None,
    ) -> UploadResult:
        wanted = dedupe(i.strip() for i in items if i and i.strip())
        if not wanted:
            raise InvalidInputError(
                "Nothing to upload.", hint="Pass one or more local file paths or http(s) URLs."
            )
        with ExitStack() as held:
            rec, uploaded, notices = await self._upload_checked(
                wanted, held, session_id=session_id, roots=roots, on_progress=on_progress
            )
        await self._changed(rec.session_id)
        return UploadResult(
            session_id=rec.session_id,
            uploaded=uploaded,
            notices=notices,
            credits=await self._credits_note(rec.session_id, self._next_request(rec.session_id)),
        )

    async def _upload_checked(
        self,
        wanted: Sequence[str],
        held: ExitStack,
        *,
        session_id: str | None,
        roots: Sequence[Path] | None,
        on_progress: ProgressFn | None,
    ) -> tuple[SessionRecord, list[UploadedItem], list[str]]:
        """Check every item, then upload them all. Files are opened once, checked on that handle
        and sent from it (``held`` closes them); one bad item fails the call before anything is
        sent. The client's ``roots`` only narrow the allowed folders, never widen them."""
        if self.settings.hosted and not all(is_url(item) for item in wanted):
            raise InvalidInputError(
                "This nemo-mcp is hosted: it cannot read files from your computer.",
                hint="Pass http(s) URLs of the media (a link anyone with it can download).",
            )
        allowed = (
            []
            if self.settings.hosted
            else upload_roots(
                self.settings.allowed_dirs, roots, problem=self.settings.allowed_dirs_problem
            )
        )
        paths: list[UploadCandidate] = []
        urls: list[str] = []
        for item in wanted:
            if is_url(item):
                urls.append(check_media_url(item))
            else:
                cand = resolve_upload(item, allowed, max_bytes=self.manifest.max_upload_bytes)
                held.callback(cand.close)
                paths.append(cand)
        if session_id:
            check_id(session_id, "session")
        rec = await self._session(session_id)
        notices: list[str] = []
        try:
            uploaded = await self._upload_into(rec, paths, urls, on_progress)
        except SessionNotFoundError:
            old = rec.session_id
            rec = await self._replace_gone(rec)
            notices.append(
                f"Session {old} no longer existed on NemoVideo (its timeline is gone); the files "
                f"went into the new session {rec.session_id}."
            )
            uploaded = await self._upload_into(rec, paths, urls, on_progress)
        return rec, uploaded, notices

    async def _upload_into(
        self,
        rec: SessionRecord,
        paths: Sequence[UploadCandidate],
        urls: Sequence[str],
        on_progress: ProgressFn | None,
    ) -> list[UploadedItem]:
        out: list[UploadedItem] = []

        async def relay(sent: int, total: int) -> None:
            if on_progress is not None:
                pct = 100.0 * sent / total if total else 0.0
                await on_progress(
                    Progress(message=f"uploading {pct:.0f}%", progress=sent, total=total)
                )

        if paths:
            result = await self.client.upload_files(
                rec.session_id,
                [(p.path.name, p.handle) if p.handle is not None else p.path for p in paths],
                on_progress=relay,
            )
            for cand, info in zip(paths, result.files, strict=False):
                out.append(
                    UploadedItem(
                        name=cand.path.name,
                        kind=info.file_type or cand.kind,
                        source="file",
                        size_bytes=cand.size,
                        duration_s=info.duration,
                        width=info.width,
                        height=info.height,
                        url=info.cdn_url,
                    )
                )
        if urls:
            result = await self.client.upload_urls(rec.session_id, list(urls))
            for url, info in zip(urls, result.files, strict=False):
                out.append(
                    UploadedItem(
                        name=info.filename or url.rsplit("/", 1)[-1],
                        kind=info.file_type or "video",
                        source="url",
                        duration_s=info.duration,
                        width=info.width,
                        height=info.height,
                        url=info.cdn_url,
                    )
                )
        return out
