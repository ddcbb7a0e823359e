"""Emulator settings, emulator-only header names, and the stream-variant grammar.

Every tunable of the emulator lives in :class:`EmulatorConfig`. Most fields can be changed while
it runs (``POST /_emulator/config`` or :meth:`EmulatorServer.set_config`); ``data_dir`` and
``public_url`` are fixed at start.

Stream variants (``EmulatorConfig.stream``, the ``X-Emulator-Stream`` request header, the CLI's
``--stream``) are comma-separated tokens::

    adk | camel        ADK event JSON, camelCase (ADK >= 0.5; the default)
    adk_snake | snake  ADK event JSON, snake_case (ADK 0.1-0.4)
    typed | text       the {"type": "text" | "tool_call" | "tool_result" | "heartbeat"} dialect
    partial            partial text chunks, then the aggregated final text (as "streaming": true)
    nopartial          never partial chunks, even when the request asks for "streaming": true
    thoughts           the final model event also carries a {"text", "thought": true} part
    hb=comment         heartbeat form: ": ping" (the default for ADK) | hb=empty ("data:") |
                       hb=json ({"type": "heartbeat"}, the default for typed) |
                       hb=text ("data: heartbeat")
    drop[=N]           close the socket abruptly after N data events (default 2)
    error_v1           end with an ADK 1.x error frame (f-string, invalid JSON)
    error_v2           end with an ADK 2.x error frame ({"error", "error_details"})
    model_error        end with an ADK event carrying errorCode / errorMessage (no later success)
    heartbeats_only    send nothing but heartbeats until the client gives up

e.g. ``adk_snake,partial,hb=empty`` or ``typed,drop=3``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

from nemo_mcp import constants
from nemo_mcp.contract.renders import POLL_SHAPES, PollShape

DAY: Final = 24 * 3600.0
WEEK: Final = 7 * DAY

# --- Emulator-only request headers (never sent by the product) ------------------------------
H_STREAM: Final = "X-Emulator-Stream"  # stream variant for this /run_sse request
H_SILENT: Final = "X-Emulator-Silent"  # "1": this edit turn has no text; "0": it has text
H_POLL_SHAPE: Final = "X-Emulator-Poll-Shape"  # bare | success | code for this render poll

# --- Defaults ----------------------------------------------------------------------------------
DEFAULT_PORT: Final = 8766  # beside `serve --http` on 8765, both with their defaults
ANON_CREDITS: Final = 100
REGISTERED_CREDITS: Final = 25_000
ANON_TOKENS_PER_IP: Final = 10
CLAIM_TOKEN_LIFETIME: Final = 604_800
GENERATION_COST: Final = 100
EDIT_COST: Final = 50
SILENT_PERCENT: Final = 30
GENERATION_SECONDS: Final = 1.5
EDIT_SECONDS: Final = 0.3
HEARTBEAT_INTERVAL: Final = 0.5
HEARTBEATS_ONLY_MAX_SECONDS: Final = constants.TURN_MAX_SECONDS
BROKEN_STREAM_APPLY_DELAY: Final = 2.0
DROP_AFTER_EVENTS: Final = 2
RENDER_FPS: Final = 30
RENDER_PRESET: Final = "veryfast"
RENDER_PENDING_SECONDS: Final = 0.2
REQUEST_LOG_SIZE: Final = 5000
DEFAULT_WIDTH: Final = 1920
DEFAULT_HEIGHT: Final = 1080

StreamDialect = Literal["adk", "adk_snake", "typed"]
HeartbeatForm = Literal["comment", "empty", "json", "text"]
StreamEnding = Literal["normal", "drop", "error_v1", "error_v2", "model_error", "heartbeats_only"]
SilentMode = Literal["auto", "always", "never"]
CreditsError = Literal["event", "error_frame", "rest"]
UrlFetch = Literal["loopback", "all", "none"]
ErrorStatus = Literal["mapped", "200"]
DraftFormat = Literal["json", "json_meta", "v3"]  # how drafts are shown (draft_shapes.py)

_ENDINGS: Final = frozenset(get_args(StreamEnding)) - {"drop"}
HEARTBEAT_FORMS: Final = get_args(HeartbeatForm)
DRAFT_FORMATS: Final = get_args(DraftFormat)

_DIALECT_ALIASES: Final[dict[str, StreamDialect]] = {
    "adk": "adk",
    "camel": "adk",
    "adk_camel": "adk",
    "adk_snake": "adk_snake",
    "snake": "adk_snake",
    "typed": "typed",
    "text": "typed",
    "type": "typed",
}


@dataclass(frozen=True)
class StreamSpec:
    """One parsed stream variant; see the module docstring for the grammar."""

    dialect: StreamDialect = "adk"
    partial: bool | None = None  # None: follow the request's "streaming" flag
    heartbeat: HeartbeatForm | None = None  # None: ": ping", or {"type":"heartbeat"} if typed
    ending: StreamEnding = "normal"
    drop_after: int = DROP_AFTER_EVENTS
    thoughts: bool = False

    def merge(self, other: str | None) -> StreamSpec:
        """This spec with the tokens of ``other`` applied on top."""
        return parse_stream_spec(other, base=self) if other else self


def parse_stream_spec(text: str | None, *, base: StreamSpec | None = None) -> StreamSpec:
    """Parse ``adk_snake,partial,hb=empty,drop=3`` into a :class:`StreamSpec`.

    Raises ``ValueError`` naming the bad token.
    """
    spec = base or StreamSpec()
    for raw in (text or "").split(","):
        token = raw.strip().lower()
        if not token:
            continue
        key, _, value = token.partition("=")
        key = key.replace("-", "_")
        if key in _DIALECT_ALIASES and not value:
            spec = replace(spec, dialect=_DIALECT_ALIASES[key])
        elif key in ("partial", "streaming") and not value:
            spec = replace(spec, partial=True)
        elif key in ("nopartial", "no_partial") and not value:
            spec = replace(spec, partial=False)
        elif key in ("thoughts", "thought") and not value:
            spec = replace(spec, thoughts=True)
        elif key in ("hb", "heartbeat"):
            if value not in HEARTBEAT_FORMS:
                raise ValueError(f"heartbeat form must be one of {', '.join(HEARTBEAT_FORMS)}")
            spec = replace(spec, heartbeat=cast(HeartbeatForm, value))
        elif key == "drop":
            count = _int(value, token) if value else DROP_AFTER_EVENTS
            spec = replace(spec, ending="drop", drop_after=max(count, 0))
        elif key in _ENDINGS and not value:
            spec = replace(spec, ending=cast(StreamEnding, key))
        else:
            raise ValueError(f"unknown stream variant token {raw.strip()!r}")
    return spec


def _int(value: str, token: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{token!r}: expected a whole number") from None


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told. Durations are seconds; sizes megabytes."""

    data_dir: Path | None = None  # persist state + media here; None: a temporary folder
    public_url: str | None = None  # base for URLs handed out; None: the request's own base URL

    # --- auth ---
    token_lifetime: float = WEEK
    anon_credits: int = ANON_CREDITS
    registered_tokens: tuple[str, ...] = ()  # accepted non-anonymous tokens (user id usr_...)
    registered_credits: int = REGISTERED_CREDITS
    anon_tokens_per_ip: int = ANON_TOKENS_PER_IP  # per anon_ip_window; 0 = unlimited
    anon_ip_window: float = WEEK
    claim_token_lifetime: int = CLAIM_TOKEN_LIFETIME

    # --- credits ---
    generation_cost: int = GENERATION_COST
    edit_cost: int = EDIT_COST
    credits_error: CreditsError = "event"  # how a turn without enough credits answers

    # --- chat (/run_sse) ---
    stream: str = "adk"  # stream variant, see the module docstring
    silent_edits: SilentMode = "auto"
    silent_percent: int = SILENT_PERCENT
    generation_seconds: float = GENERATION_SECONDS
    edit_seconds: float = EDIT_SECONDS
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    heartbeats_only_max_seconds: float = HEARTBEATS_ONLY_MAX_SECONDS
    broken_stream_applies_edit: bool = True
    broken_stream_apply_delay: float = BROKEN_STREAM_APPLY_DELAY
    # The agent asks the user instead of guessing: a promo with no aspect ratio, an aspect
    # change without one (an ask_question call, long-running, and the turn stops).
    agent_questions: bool = False

    # --- drafts ---
    draft_format: DraftFormat = "json"  # json | json_meta | v3 (see draft_shapes.py)

    # --- uploads ---
    upload_limit_mb: float = float(constants.DEFAULT_UPLOAD_LIMIT_MB)
    url_fetch: UrlFetch = "loopback"  # which upload URLs are fetched; others are recorded

    # --- renders ---
    poll_shape: PollShape = "bare"
    require_attribution: bool = True
    render_fps: int = RENDER_FPS
    render_preset: str = RENDER_PRESET
    render_pending_seconds: float = RENDER_PENDING_SECONDS
    render_slowdown: float = 0.0  # extra wall-clock seconds per second of output
    render_workers: int = 1
    render_max_side: int = 0  # > 0: scale renders down so the longer side is at most this
    fail_renders: int = 0  # the next N renders fail

    # --- errors ---
    error_status: ErrorStatus = "mapped"  # "200": envelope errors answer HTTP 200

    # --- faults and bookkeeping ---
    faults: tuple[str, ...] = ()  # fault specs applied at start (see faults.py)
    request_log_size: int = REQUEST_LOG_SIZE

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
        self.registered_tokens = tuple(self.registered_tokens)
        self.faults = tuple(self.faults)
        _validate_literals(self)  # fail early on a bad value

    @property
    def upload_limit_bytes(self) -> int:
        return int(self.upload_limit_mb * 1024 * 1024)

    @property
    def stream_spec(self) -> StreamSpec:
        return parse_stream_spec(self.stream)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def updated(self, changes: dict[str, Any]) -> EmulatorConfig:
        """A copy with ``changes`` applied; unknown or fixed fields raise ``ValueError``."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown config field {key!r}")
            if key in FIXED_FIELDS:
                raise ValueError(f"{key!r} can only be set at start")
            current = getattr(self, key)
            clean[key] = _coerce(key, value, current)
        new = replace(self, **clean)
        _validate_literals(new)
        return new


FIXED_FIELDS: Final = frozenset({"data_dir", "public_url"})

_LITERALS: Final[dict[str, tuple[str, ...]]] = {
    "poll_shape": POLL_SHAPES,
    "silent_edits": get_args(SilentMode),
    "credits_error": get_args(CreditsError),
    "url_fetch": get_args(UrlFetch),
    "error_status": get_args(ErrorStatus),
    "draft_format": DRAFT_FORMATS,
}


def _coerce(key: str, value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            return tuple(v for v in value.split(",") if v)
        return tuple(value)
    if isinstance(current, str):
        return str(value)
    return value


def _validate_literals(config: EmulatorConfig) -> None:
    for key, allowed in _LITERALS.items():
        if getattr(config, key) not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(allowed)}")
    parse_stream_spec(config.stream)
