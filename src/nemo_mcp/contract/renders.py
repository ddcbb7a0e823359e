"""Exports: render states, the submit request, and the shapes a render poll is answered in.

``POST /api/render/proxy/lambda`` takes ``{"id", "sessionId", "draft", "output"}`` (the id is
chosen by the client: ``render_<ms>_<hex>``; ``draft`` goes back exactly as the state endpoint
gave it). ``GET .../lambda/<id>`` answers in one of three shapes seen in public sources (see
``poll_answer``); ``POST .../lambda/<id>/cancel`` with the new status. States are the five of
``RenderState``; other words a backend uses map onto them (``STATUS_WORDS``).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from nemo_mcp.contract import envelopes
from nemo_mcp.contract.values import as_str

RenderState = Literal["pending", "processing", "completed", "failed", "cancelled"]
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
PollShape = Literal["bare", "success", "code"]
POLL_SHAPES: Final[tuple[PollShape, ...]] = ("bare", "success", "code")

STATUS_WORDS: Final[dict[str, RenderState]] = {
    "pending": "pending",
    "queued": "pending",
    "queue": "pending",
    "waiting": "pending",
    "submitted": "pending",
    "created": "pending",
    "accepted": "pending",
    "not_started": "pending",
    "processing": "processing",
    "running": "processing",
    "rendering": "processing",
    "in_progress": "processing",
    "started": "processing",
    "completed": "completed",
    "complete": "completed",
    "succeeded": "completed",
    "success": "completed",
    "done": "completed",
    "finished": "completed",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "errored": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "aborted": "cancelled",
}


def state_of(word: Any) -> RenderState:
    """A backend's status word as one of ours; an unknown word counts as still processing."""
    text = (as_str(word) or "").strip().lower().replace("-", "_").replace(" ", "_")
    return STATUS_WORDS.get(text, "pending" if not text else "processing")


# --- submit ---------------------------------------------------------------------------------
SUBMIT_ID: Final = "id"
SUBMIT_SESSION_ID: Final = "sessionId"  # camelCase, unlike every other endpoint
SUBMIT_DRAFT: Final = "draft"
SUBMIT_OUTPUT: Final = "output"
DEFAULT_OUTPUT: Final = {"format": "mp4", "quality": "high"}


def submit_request(
    render_id: str, session_id: str, draft: Any, output: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        SUBMIT_ID: render_id,
        SUBMIT_SESSION_ID: session_id,
        SUBMIT_DRAFT: draft,
        SUBMIT_OUTPUT: dict(output) if output is not None else dict(DEFAULT_OUTPUT),
    }


def status_answer(render_id: str, status: str, progress: int | None = None) -> dict[str, Any]:
    """What submit (``pending``, with progress) and cancel (the new status) answer."""
    data: dict[str, Any] = {"id": render_id, "status": status}
    if progress is not None:
        data["progress"] = progress
    return envelopes.success(data)


# --- poll -----------------------------------------------------------------------------------
# Every spelling the client reads (the shapes below use the first ones).
WRAPPER: Final = "render"  # {"render": {...}}: a poll answer wrapped once more
ID_KEYS: Final = ("id", "taskId", "task_id", "render_id", "renderId")
STATUS_KEYS: Final = ("status", "state")
OUTPUT: Final = "output"  # {"url", "duration", "size"}
URL_KEYS: Final = ("outputUrl", "output_url", "downloadUrl", "download_url", "url")
ERROR_KEYS: Final = (
    "error",
    "errorMessage",
    "error_message",
    "failReason",
    "fail_reason",
    "reason",
)


def poll_answer(
    shape: PollShape,
    *,
    render_id: str,
    status: str,
    progress: float | int | None,
    url: str | None = None,
    duration: float | None = None,
    size: int | None = None,
    error: str | None = None,
    created_at: float = 0.0,
    finished_at: float | None = None,
) -> dict[str, Any]:
    """A poll answer in one of the three shapes seen in public sources:

    - ``bare``: ``{"taskId", "status", "progress", "output": {"url", "duration", "size"}}``;
    - ``success``: ``{"success": true, "data": {"id", "status", "progress", "outputUrl",
      "createdAt", "completedAt"}}`` (times in ms);
    - ``code``: ``{"code": 0, "data": {"render_id", "id", "status", "progress", "output"}}``.

    ``error`` (a failed render's reason) rides along in every shape.
    """
    output = {"url": url, "duration": duration, "size": size} if url is not None else None
    data: dict[str, Any]
    if shape == "success":
        data = {
            "id": render_id,
            "status": status,
            "progress": progress,
            "createdAt": int(created_at * 1000),
        }
        if url is not None:
            data["outputUrl"] = url
        if finished_at is not None:
            data["completedAt"] = int(finished_at * 1000)
        if error:
            data["error"] = error
        return envelopes.success(data)
    if shape == "code":
        data = {"render_id": render_id, "id": render_id, "status": status, "progress": progress}
        if output is not None:
            data[OUTPUT] = output
        if error:
            data["error"] = error
        return envelopes.ok(data)
    data = {"taskId": render_id, "status": status, "progress": progress}
    if output is not None:
        data[OUTPUT] = output
    if error:
        data["error"] = error
    return data
