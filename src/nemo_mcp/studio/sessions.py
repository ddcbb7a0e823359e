"""Sessions (projects) and their timeline: the current session, new ones, sessions NemoVideo no
longer has (remembered as gone; a new one takes their place where something has to be done), and
reading the timeline (``state``: read-only, it never creates or switches a session).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from nemo_mcp.api.client import check_id
from nemo_mcp.errors import (
    InvalidInputError,
    SessionNotFoundError,
)
from nemo_mcp.store.records import SessionRecord
from nemo_mcp.studio.base import StudioBase, detect_language
from nemo_mcp.studio.next_steps import Step
from nemo_mcp.studio.views import (
    MediaItem,
    NewSessionView,
    SessionList,
    SessionView,
    StateView,
    TrackView,
)
from nemo_mcp.timeline.model import Timeline

log = logging.getLogger(__name__)


class Sessions(StudioBase):
    """Sessions (projects): the current one, new ones, gone ones; and their timeline."""

    def _session_view(self, rec: SessionRecord) -> SessionView:
        current = self.store.current_session(self.settings.api_url)
        return SessionView(
            session_id=rec.session_id,
            task_id=rec.task_id,
            language=rec.language or "en",
            created_at=rec.created_at,
            current=current is not None and current.session_id == rec.session_id,
            gone=rec.gone,
            title=rec.title,
        )

    async def _create_session(self, language: str, title: str | None) -> SessionRecord:
        info = await self.client.create_session(language=language, task_name=title or "project")
        return SessionRecord(
            session_id=info.session_id,
            task_id=info.task_id,
            api_url=self.settings.api_url,
            language=language,
            title=title,
            user_id=info.user_id,
            created_at=time.time(),
        )

    async def new_session(
        self, *, language: str | None = None, title: str | None = None
    ) -> NewSessionView:
        lang = language or detect_language(None)
        rec = await self._create_session(lang, title)
        self.store.save_session(rec)
        self.store.set_current_session(self.settings.api_url, rec.session_id)
        return NewSessionView(**self._session_view(rec).model_dump())

    def list_sessions(self) -> SessionList:
        recs = self.store.list_sessions(self.settings.api_url)
        current = self.store.current_session(self.settings.api_url)
        return SessionList(
            sessions=[self._session_view(r) for r in recs],
            current_session_id=current.session_id if current else None,
        )

    def use_session(self, session_id: str) -> SessionView:
        rec = self._named_session(session_id)
        self.store.set_current_session(self.settings.api_url, session_id)
        return self._session_view(rec)

    def _named_session(self, session_id: str, *, remember: bool = True) -> SessionRecord:
        """The session an id names (remembered when new, never made current here)."""
        check_id(session_id, "session")
        rec = self.store.get_session(session_id)
        if rec is None and self.settings.hosted:  # only sessions made through this account
            raise InvalidInputError(
                f"No session {session_id} is known for your account here.",
                hint=self._fresh_start(f"Check the id ({self._say(Step('sessions'))}), or "),
            )
        if rec is None:
            rec = SessionRecord(
                session_id=session_id,
                task_id=None,
                api_url=self.settings.api_url,
                language="en",
                title=None,
                user_id=None,
                created_at=time.time(),
            )
            if remember:
                self.store.save_session(rec)
        if rec.gone:
            raise SessionNotFoundError(
                f"Session {session_id} no longer exists on the server (its timeline is gone).",
                hint=self._fresh_start(),
            )
        return rec

    async def _session(
        self,
        session_id: str | None,
        *,
        text_hint: str | None = None,
        create: bool = True,
        purpose: str = "show",
    ) -> SessionRecord:
        """The session to work on: the one named, else the current one, else (``create``) a
        new one. A named session never becomes current by being used; without ``create``
        (read-only calls) nothing is created or remembered."""
        if session_id:
            return self._named_session(session_id, remember=create)
        current = self.store.current_session(self.settings.api_url)
        if current is not None and not current.gone:
            return current
        if not create:
            raise InvalidInputError(
                f"Nothing to {purpose} yet: there is no session.",
                hint=f"Upload media ({self._say(Step('upload'))}) or ask for something "
                f"({self._say(Step('chat', message='<what to make>'))}): either starts one.",
            )
        # Parallel calls may each create one; the store keeps the first (adopt_session).
        return self.store.adopt_session(
            await self._create_session(detect_language(text_hint), None)
        )

    async def _replace_gone(self, rec: SessionRecord) -> SessionRecord:
        """1002: the session is gone; remember that and start a fresh one in its place."""
        self.store.mark_session_gone(rec.session_id)
        new = self.store.adopt_session(await self._create_session(rec.language, rec.title))
        await self._changed(rec.session_id)
        return new

    async def _gone_error(self, rec: SessionRecord) -> SessionNotFoundError:
        new = await self._replace_gone(rec)
        return SessionNotFoundError(
            f"Session {rec.session_id} no longer exists on NemoVideo, and its timeline is gone. "
            f"A new session {new.session_id} was started and is now current.",
            hint="Upload the media again into the new session, then repeat the request.",
            details={"old_session_id": rec.session_id, "new_session_id": new.session_id},
        )

    async def _read_state(self, rec: SessionRecord) -> dict[str, Any]:
        try:
            state = await self.client.get_state(rec.session_id)
        except SessionNotFoundError:
            raise await self._gone_error(rec) from None
        self.store.update_session_state(rec.session_id, state)
        return state

    def _fresh_start(self, before: str = "") -> str:
        start = (
            f"start a new session ({self._say(Step('new_session'))}), or upload media "
            f"({self._say(Step('upload'))}), which starts one."
        )
        return before + start if before else start[0].upper() + start[1:]

    async def state(self, *, session_id: str | None = None) -> StateView:
        """Read-only: never creates or switches a session. A session the server no longer has
        is an error saying how to start a new one (a known one is marked gone, as it is)."""
        rec = await self._session(session_id, create=False)
        try:
            raw = await self.client.get_state(rec.session_id)
        except SessionNotFoundError as err:
            known = self.store.get_session(rec.session_id) is not None
            if known:
                self.store.mark_session_gone(rec.session_id)
            raise SessionNotFoundError(
                f"Session {rec.session_id} does not exist on NemoVideo"
                + (" any more; its timeline is gone." if known else " (check the id).")
                + " Nothing was created or switched.",
                hint=self._fresh_start(
                    f"Check the id ({self._say(Step('sessions'))}), or " if not known else ""
                ),
                status=err.status,
                details={"session_id": rec.session_id},
            ) from None
        self.store.update_session_state(rec.session_id, raw)  # a no-op for an unknown session
        view = self.state_view(rec.session_id, raw)
        if self._last_balance is not None:  # the next steps weigh what the balance can pay for
            request: Literal["generation", "edit"] = "edit" if view.export_ready else "generation"
            note = self._note(view.session_id, self._last_balance, request)
            if note.short:  # before steering away from a chat, read it again: it may be topped up
                fresh = await self._balance()
                note = self._note(view.session_id, fresh, request) if fresh is not None else note
            view.with_balance(note)
        return view

    def state_view(self, session_id: str, raw: Mapping[str, Any]) -> StateView:
        tl = Timeline.from_state(raw)
        tracks = [
            TrackView(
                index=i + 1,
                kind=t.kind,
                label=t.label,
                start_s=t.start_s,
                end_s=t.end_s,
                volume_pct=t.volume_pct,
            )
            for i, t in enumerate(tl.track_views())
        ]
        inner = raw.get("state", raw)
        uploads = list(inner.get("video_infos") or []) if isinstance(inner, Mapping) else []
        generated = list(inner.get("generated_media") or []) if isinstance(inner, Mapping) else []
        return StateView(
            session_id=session_id,
            timeline=tl.summary(),
            tracks=tracks,
            duration_s=tl.duration_s,
            width=tl.width,
            height=tl.height,
            uploads=_media_items(uploads),
            generated_media=_media_items(generated),
            # None: the draft could not be read, so readiness cannot be told (export still sends
            # it as received)
            export_ready=tl.is_export_ready if tl.draft_problem is None else None,
        )

    def cached_state(self, session_id: str) -> dict[str, Any] | None:
        rec = self.store.get_session(session_id)
        return rec.state if rec is not None else None


def _media_items(records: Sequence[Any], limit: int = 50) -> list[MediaItem]:
    """Uploaded or generated media as small typed items (their record shape is undocumented)."""
    out = []
    for raw in records[:limit]:
        if not isinstance(raw, Mapping):
            continue
        name = _first(raw, "filename", "file_name", "name", "title", "media_id", "id")
        kind = _first(raw, "file_type", "type", "media_type", "kind")
        url = _first(raw, "cdn_url", "url")
        out.append(
            MediaItem(
                name=(str(name) if name is not None else "media")[:200],
                kind=str(kind or "media")[:20],
                duration_s=_number(_first(raw, "duration", "duration_s")),
                width=_int(raw.get("width")),
                height=_int(raw.get("height")),
                url=str(url)[:2000] if isinstance(url, str) and url.startswith("http") else None,
            )
        )
    return out


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = raw.get(key)
        if value not in (None, ""):
            return value
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(float(value), 2)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None
