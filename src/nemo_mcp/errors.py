"""One error hierarchy for everything that can go wrong, each error saying what to do next.

    NemoError                       str(e) is always safe to show a person or a model
    ├── ConfigError                 bad settings or input, found before anything is sent
    │   ├── InvalidInputError       a tool or command argument is wrong
    │   │   └── DestinationExistsError  the export's file name is taken
    │   └── UnsafePathError         outside the allowed folders, a symlink out, not media
    ├── UnsupportedFileError        4001, or refused before sending: not a type NemoVideo takes
    ├── FileTooLargeError           4002 / HTTP 413, or over the upload limit before sending
    ├── APIStatusError              NemoVideo answered with an error (a status or a code) that
    │   │                           no class below names (.status, .code)
    │   ├── AuthError               1001 / HTTP 401-403: the token is missing, expired or revoked
    │   │   └── ClientIdMissingError  HTTP 400 from the token endpoint: no X-Client-Id
    │   ├── SessionNotFoundError    1002 / HTTP 404 on a session: its timeline is gone
    │   ├── RenderNotFoundError     HTTP 404 on a render: never submitted, or expired
    │   ├── InsufficientCreditsError  2001: out of credits (a registration link for anonymous use)
    │   ├── ExportBlockedError      HTTP 402: the plan does not allow export (not credits)
    │   ├── RateLimitError          HTTP 429 (.retry_after)
    │   └── ServerError             HTTP 5xx
    ├── APIError                    an answer nemo-mcp cannot use (not JSON, a field missing)
    │   └── AnswerTooLargeError     over the size cap, or JSON nested too deeply
    ├── TransportError              no (complete) answer: the connection failed
    │   ├── APITimeoutError         ... or was too slow
    │   ├── OutcomeUnknownError     sent, but the answer was lost: it may have taken effect
    │   │   └── AmbiguousSubmitError  a render submit: look the render id up before resubmitting
    │   └── StreamInterruptedError  the chat stream broke after it started (never resend)
    │       └── StreamTimeoutError  ... because it went silent (also an APITimeoutError)
    ├── StreamError                 the chat stream broke its rules (size, type)
    ├── AgentTurnFailedError        the chat stream ended in an error: the agent did not finish
    ├── RenderFailedError           the render ended "failed" (or cancelled, or lost)
    ├── DownloadError               the rendered file could not be fetched or failed its checks
    ├── StoreError                  the state folder is unusable
    │   └── LockTimeoutError        another process holds the token lock
    └── InternalError               a tool failed in a way nemo-mcp did not foresee

Every class carries ``kind`` (a stable machine-readable name), ``hint`` (the next step), and
``retryable``. Messages never contain a token: ``redact`` scrubs any registered secret anyway.
Errors from HTTP answers are made in one place (``error_for``, from the status and the envelope
code); transport failures in another (``nemo_mcp.api.failures``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from nemo_mcp.contract import codes
from nemo_mcp.contract.media import SUPPORTED_EXTENSIONS
from nemo_mcp.faces import Tool
from nemo_mcp.redact import redact


class NemoError(Exception):
    kind: ClassVar[str] = "error"
    default_hint: ClassVar[str] = ""
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = redact(message)
        self.hint = redact(hint if hint is not None else self.default_hint)
        self.status = status
        self.code = code
        self.details: dict[str, Any] = details or {}
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description for tool results and ``--json`` output."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message, "hint": self.hint}
        if self.status is not None:
            out["status"] = self.status
        if self.code is not None:
            out["code"] = self.code
        if self.details:
            out["details"] = self.details
        out["retryable"] = self.retryable
        return out


class ConfigError(NemoError):
    kind = "config"


class InvalidInputError(ConfigError):
    kind = "invalid_input"


class UnsafePathError(ConfigError):
    kind = "unsafe_path"
    default_hint = (
        "Only media files inside the allowed folders can be uploaded; move the file there or add "
        "its folder to NEMO_MCP_ALLOWED_DIRS."
    )


_CHECK_THE_REQUEST = (
    "Check the request (session id, file, message) and try again; if it keeps failing, "
    "`nemo-mcp doctor` checks the token, the API address and the state folder."
)


class APIStatusError(NemoError):
    """NemoVideo answered with an error status or envelope code (``status``, ``code``)."""

    kind = "api_error"
    default_hint = _CHECK_THE_REQUEST


class AuthError(APIStatusError):
    kind = "auth"
    default_hint = (
        "The token is invalid or expired. With an anonymous token nemo-mcp gets a new one by "
        "itself; with NEMO_TOKEN set, replace it (nemovideo.com -> Settings -> API Tokens)."
    )


class ClientIdMissingError(AuthError):
    kind = "client_id_missing"
    default_hint = "The token request needs an X-Client-Id; nemo-mcp creates one and retries."


class SessionNotFoundError(APIStatusError):
    kind = "session_not_found"
    default_hint = (
        "That session no longer exists on the server and its timeline is gone. Start a new "
        "session and upload the media again."
    )


class InsufficientCreditsError(APIStatusError):
    kind = "no_credits"

    def __init__(self, message: str, *, registration_url: str | None = None, **kw: Any) -> None:
        self.registration_url = registration_url
        if registration_url:
            hint = (
                f"Register (free) at {registration_url} to keep this work and get more credits. "
                "Exporting existing timelines stays free."
            )
        else:
            hint = "Top up credits in your NemoVideo account (nemovideo.com). Export stays free."
        details = dict(kw.pop("details", None) or {})
        if registration_url:
            details["registration_url"] = registration_url
        super().__init__(message, hint=kw.pop("hint", hint), details=details, **kw)


class UnsupportedFileError(NemoError):
    kind = "unsupported_file"
    default_hint = "Supported formats: " + ", ".join(SUPPORTED_EXTENSIONS) + "."


class FileTooLargeError(NemoError):
    kind = "file_too_large"
    default_hint = (
        "Compress the file or trim it (e.g. shorter than 90 s) and upload it again, or upload it "
        "by URL."
    )


class ExportBlockedError(APIStatusError):
    kind = "export_blocked"
    default_hint = (
        "This is a plan restriction, not a credit problem: register or upgrade at nemovideo.com "
        "to unlock export."
    )


class RateLimitError(APIStatusError):
    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        wait = f"{retry_after:.0f} s" if retry_after else "30 s"
        kw.setdefault("hint", f"Wait {wait} and try again.")
        super().__init__(message, **kw)


class ServerError(APIStatusError):
    kind = "server_error"
    retryable = True
    default_hint = "NemoVideo had a server error; try again in a minute."


class APIError(NemoError):
    """An answer nemo-mcp cannot use: not JSON, or without a field it needs."""

    kind = "api_error"
    default_hint = _CHECK_THE_REQUEST


class AnswerTooLargeError(APIError):
    kind = "answer_too_large"
    default_hint = (
        "This is not an answer NemoVideo normally sends; nothing was stored. Try again later, "
        "and check NEMO_API_URL (`nemo-mcp doctor`) if it keeps happening."
    )


class TransportError(NemoError):
    kind = "connection"
    retryable = True
    default_hint = (
        "Could not reach the NemoVideo API. Check the network and NEMO_API_URL "
        "(`nemo-mcp doctor` checks both), then try again."
    )


class APITimeoutError(TransportError):
    kind = "timeout"
    default_hint = "The NemoVideo API did not answer in time; try again in a minute."


class StreamError(NemoError):
    kind = "stream"


class AgentTurnFailedError(NemoError):
    """The chat stream ended in an error: the editing agent did not finish the request."""

    kind = "turn_failed"
    default_hint = "Check the timeline, then ask again, rephrased or in smaller steps."


class RenderFailedError(NemoError):
    kind = "render_failed"
    default_hint = "Check the timeline, fix what the reason names, then export again."


class DownloadError(NemoError):
    kind = "download"
    retryable = True
    default_hint = (
        "The render is kept on the server: call the export status again to retry the download."
    )


class RenderNotFoundError(APIStatusError):
    """The server does not know this render id (never submitted, or expired)."""

    kind = "render_not_found"
    default_hint = "Check the render id; if the export was never accepted, start it again."


class OutcomeUnknownError(TransportError):
    """The request was sent but its answer was lost: it may or may not have taken effect."""

    kind = "outcome_unknown"
    retryable = False
    default_hint = "Check the current state before repeating the request."


class AmbiguousSubmitError(OutcomeUnknownError):
    """A render submit was sent and no clear answer came back.

    Poll ``get_render(render_id)`` first; submit again (with a new id) only if the render is
    unknown.
    """

    kind = "render_submit_unknown"
    default_hint = (
        "The export may have started: check its status before submitting it again with a new id."
    )

    def __init__(self, message: str, *, render_id: str, **kw: Any) -> None:
        self.render_id = render_id
        details = dict(kw.pop("details", None) or {})
        details["render_id"] = render_id
        super().__init__(message, details=details, **kw)


class StreamInterruptedError(TransportError):
    """The chat stream broke after it started. The message was accepted: never send it again."""

    kind = "stream_interrupted"
    retryable = False
    default_hint = (
        "The editing agent may still be working: read the session state to see what changed "
        "instead of sending the message again."
    )


class StreamTimeoutError(StreamInterruptedError, APITimeoutError):
    kind = "stream_timeout"
    retryable = False


class DestinationExistsError(InvalidInputError):
    kind = "destination_exists"
    default_hint = "Choose another file name, or ask explicitly to overwrite the existing file."


class StoreError(NemoError):
    kind = "state_store"
    default_hint = (
        "nemo-mcp could not use its state folder. Check that the folder is writable and the disk "
        "is not full; NEMO_MCP_HOME moves it elsewhere."
    )


class LockTimeoutError(StoreError):
    kind = "state_lock_timeout"
    retryable = True
    default_hint = "Another nemo-mcp process is busy getting a token; try again in a minute."


class InternalError(NemoError):
    """A tool failed in a way nemo-mcp did not foresee (the details stay in the server log)."""

    kind = "internal"
    default_hint = (
        f"Check the session with {Tool.STATE} before repeating the request (nothing is ever "
        "resent by itself); if it happens again, `nemo-mcp doctor` checks the setup."
    )


# Status -> class for HTTP errors that carry no more specific envelope code.
_STATUS_MAP: dict[int, type[NemoError]] = {
    400: APIStatusError,
    401: AuthError,
    402: ExportBlockedError,
    403: AuthError,
    404: APIStatusError,
    413: FileTooLargeError,
    429: RateLimitError,
}

_CODE_MAP: dict[int, type[NemoError]] = {
    codes.TOKEN_INVALID: AuthError,
    codes.SESSION_NOT_FOUND: SessionNotFoundError,
    codes.NO_CREDITS: InsufficientCreditsError,
    codes.UNSUPPORTED_FILE: UnsupportedFileError,
    codes.FILE_TOO_LARGE: FileTooLargeError,
}

_DEFAULT_MESSAGES: dict[type[NemoError], str] = {
    AuthError: "NemoVideo rejected the token.",
    SessionNotFoundError: "The session was not found.",
    InsufficientCreditsError: "You are out of NemoVideo credits.",
    UnsupportedFileError: "NemoVideo does not accept this file type.",
    FileTooLargeError: "The file is larger than NemoVideo accepts.",
    ExportBlockedError: "Export is blocked for this account's plan (HTTP 402).",
    RateLimitError: "NemoVideo is rate limiting these requests (HTTP 429).",
    ServerError: "NemoVideo answered with a server error.",
}


def error_for(
    status: int,
    code: int | None = None,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    registration_url: str | None = None,
) -> NemoError:
    """Map an HTTP status and/or envelope ``code`` to the right error class.

    The envelope code wins (it is more specific); then the status. ``message`` is the server's
    own text: it is capped and redacted, and shown after our explanation.
    """
    cls: type[NemoError]
    if code is not None and code in _CODE_MAP:
        cls = _CODE_MAP[code]
    elif status >= 500:
        cls = ServerError
    else:
        cls = _STATUS_MAP.get(status, APIStatusError)
    base = _DEFAULT_MESSAGES.get(cls) or f"NemoVideo answered HTTP {status}"
    if cls is APIStatusError and code not in (None, 0):
        base = f"NemoVideo answered with error code {code} (HTTP {status})."
    elif cls is APIStatusError:
        base = f"NemoVideo answered HTTP {status}."
    server_text = (message or "").strip().replace("\n", " ")[:300]
    text = f"{base} Server said: {server_text}" if server_text else base
    if cls is InsufficientCreditsError:
        return InsufficientCreditsError(
            text, registration_url=registration_url, status=status, code=code
        )
    if cls is RateLimitError:
        return RateLimitError(text, retry_after=retry_after, status=status, code=code)
    return cls(text, status=status, code=code)
