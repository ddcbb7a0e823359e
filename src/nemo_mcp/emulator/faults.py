"""Fault injection: scripted failures per endpoint, for tests and for rehearsing failure.

Grammar (the CLI's ``--fault``, ``POST /_emulator/faults``, :meth:`EmulatorServer.set_faults`)::

    FAULT    := ENDPOINT ":" PART (":" PART)*
    ENDPOINT := token | session | claim | upload | credits | state | run_sse | render_submit
              | render_poll | render_cancel | download | cdn | *        (* = every endpoint)
    PART     := ACTION | OPTION
    ACTION   := <100-599>            answer this HTTP status (envelope code = the status)
              | <1000-9999>          answer this envelope code (1001, 1002, 2001, 4001, 4002...)
                                     with its usual HTTP status (1001->401, 1002->404,
                                     2001->402, 4001->400, 4002->413; others 400)
              | reset                close the connection before answering (TCP reset)
              | truncate[=BYTES]     send the headers with the full Content-Length, then only
                                     BYTES of the body (default: half), then close
              | drop[=EVENTS]        run_sse: close the socket after EVENTS data events
                                     (default 2); elsewhere the same as truncate
              | error_v1 | error_v2 | model_error | heartbeats_only
                                     run_sse: that stream ending (see config.py)
              | hang                 never answer; wait until the client gives up
              | fail                 render_submit / render_poll: the render fails
              | silent               run_sse: an edit turn ends without any text
    OPTION   := times=N              apply to the next N matching requests (default: always)
              | delay=SECONDS        wait first (alias latency=); alone it only adds latency
              | status=NNN           the HTTP status for an envelope-code action
              | message=TEXT         the error message (no ':' in TEXT)

Examples: ``state:500:times=2``, ``token:429``, ``upload:4002``, ``credits:delay=1.5``,
``run_sse:drop=3``, ``download:truncate=1000:times=1``, ``render_submit:reset:times=1``,
``*:503:times=1``, ``render_poll:fail``, ``run_sse:silent:times=1``.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal, get_args

from nemo_mcp.contract import codes

Endpoint = Literal[
    "token",
    "session",
    "claim",
    "upload",
    "credits",
    "state",
    "run_sse",
    "render_submit",
    "render_poll",
    "render_cancel",
    "download",
    "cdn",
]
ENDPOINTS: Final = get_args(Endpoint)

Action = Literal[
    "respond",
    "delay",
    "reset",
    "truncate",
    "drop",
    "error_v1",
    "error_v2",
    "model_error",
    "heartbeats_only",
    "hang",
    "fail",
    "silent",
]
# actions written as a bare word ("respond" is written as a status, "delay" as delay=S)
_WORD_ACTIONS: Final = frozenset(get_args(Action)) - {"respond", "delay"}
_ARG_ACTIONS: Final = frozenset({"truncate", "drop"})


def status_for_code(code: int) -> int:
    """The HTTP status that goes with an envelope code (or the code itself if it is one)."""
    if 100 <= code <= 599:
        return code
    return codes.HTTP_STATUS.get(code, 400)


@dataclass(frozen=True)
class Fault:
    endpoint: str  # an Endpoint or "*"
    action: Action = "respond"
    status: int | None = None
    code: int | None = None
    delay: float = 0.0
    arg: int | None = None  # bytes for truncate, events for drop
    times: int | None = None  # None: always
    message: str | None = None
    spec: str = ""

    def matches(self, endpoint: str) -> bool:
        return self.endpoint in ("*", endpoint)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse one fault spec; raises ``ValueError`` with a readable reason."""
        text = spec.strip()
        head, sep, rest = text.partition(":")
        endpoint = head.strip().lower()
        if endpoint not in (*ENDPOINTS, "*"):
            raise ValueError(
                f"fault {spec!r}: unknown endpoint {head!r}; use one of {', '.join(ENDPOINTS)}, *"
            )
        if not sep or not rest.strip():
            raise ValueError(f"fault {spec!r}: missing action after the endpoint")
        fields: dict[str, Any] = {"endpoint": endpoint, "spec": text}
        action_seen = False
        for part in rest.split(":"):
            part = part.strip()
            if not part:
                continue
            key, eq, value = part.partition("=")
            key = key.strip().lower()
            value = value.strip()
            if key in _WORD_ACTIONS or key.isdigit():
                if action_seen:
                    raise ValueError(f"fault {spec!r}: more than one action")
                action_seen = True
                if key.isdigit():
                    if eq:
                        raise ValueError(f"fault {spec!r}: {part!r} takes no value")
                    _set_number(fields, int(key), spec)
                else:
                    if eq and key not in _ARG_ACTIONS:
                        raise ValueError(f"fault {spec!r}: {key!r} takes no value")
                    fields["action"] = key
                    if eq:
                        fields["arg"] = _nonneg_int(value, part, spec)
            elif key == "times" and eq:
                fields["times"] = _nonneg_int(value, part, spec)
            elif key in ("delay", "latency") and eq:
                try:
                    fields["delay"] = max(float(value), 0.0)
                except ValueError:
                    raise ValueError(f"fault {spec!r}: {part!r} is not a number") from None
            elif key == "status" and eq:
                fields["status"] = _nonneg_int(value, part, spec)
            elif key == "message" and eq:
                fields["message"] = value
            else:
                raise ValueError(f"fault {spec!r}: unknown part {part!r}")
        if not action_seen:
            if not fields.get("delay"):
                raise ValueError(f"fault {spec!r}: missing action")
            fields["action"] = "delay"
        return cls(**fields)

    @classmethod
    def from_obj(cls, obj: Any) -> Fault:
        """A fault from a spec string, ``{"spec": ...}``, or a dict of the dataclass fields."""
        if isinstance(obj, Fault):
            return obj
        if isinstance(obj, str):
            return cls.parse(obj)
        if isinstance(obj, dict):
            if "spec" in obj and len(obj) == 1:
                return cls.parse(str(obj["spec"]))
            return _from_fields(obj)
        raise ValueError(f"a fault must be a spec string or an object, not {type(obj).__name__}")


def _from_fields(obj: dict[str, Any]) -> Fault:
    parts = [str(obj.get("endpoint", ""))]
    action = obj.get("action")
    if obj.get("code") is not None:
        parts.append(str(int(obj["code"])))
        if obj.get("status") is not None:
            parts.append(f"status={int(obj['status'])}")
    elif obj.get("status") is not None and action in (None, "respond"):
        parts.append(str(int(obj["status"])))
    if action not in (None, "respond", "delay"):
        arg = obj.get("arg", obj.get("bytes", obj.get("events")))
        parts.append(f"{action}={int(arg)}" if arg is not None else str(action))
    if obj.get("delay"):
        parts.append(f"delay={float(obj['delay'])}")
    if obj.get("times") is not None:
        parts.append(f"times={int(obj['times'])}")
    if obj.get("message"):
        parts.append(f"message={str(obj['message']).replace(':', ' ')}")
    return Fault.parse(":".join(parts))


def _set_number(fields: dict[str, Any], number: int, spec: str) -> None:
    if 100 <= number <= 599:
        fields["status"] = number
    elif 1000 <= number <= 9999:
        fields["code"] = number
    else:
        raise ValueError(f"fault {spec!r}: {number} is neither an HTTP status nor an error code")
    fields["action"] = "respond"


def _nonneg_int(value: str, part: str, spec: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"fault {spec!r}: {part!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"fault {spec!r}: {part!r} must not be negative")
    return number


class FaultBook:
    """The active faults, consumed in order; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, *faults: Fault | str | dict[str, Any]) -> list[Fault]:
        parsed = [Fault.from_obj(f) for f in faults]
        with self._lock:
            self._faults.extend(parsed)
        return parsed

    def clear(self, endpoint: str | None = None) -> None:
        with self._lock:
            if endpoint is None:
                self._faults.clear()
            else:
                self._faults = [f for f in self._faults if f.endpoint != endpoint]

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, endpoint: str) -> Fault | None:
        """The first fault for ``endpoint``, counting one use of it."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not fault.matches(endpoint):
                    continue
                if fault.times is None:
                    return fault
                if fault.times <= 0:
                    continue
                if fault.times == 1:
                    del self._faults[index]
                else:
                    self._faults[index] = replace(fault, times=fault.times - 1)
                return replace(fault, times=1)
            return None
