"""Endpoint paths, and the syntax of the ids that go into them.

Each path is a template; ``fill`` puts ids into its ``{placeholders}``, each escaped as one path
segment, so an id can never reach another endpoint. The emulator routes the same templates.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

APP_NAME: Final = "nemo_agent"
USER_ID: Final = "me"

ANON_TOKEN: Final = "/api/auth/anonymous-token"
CLAIM_TOKEN: Final = "/api/auth/claim-token"
CREATE_SESSION: Final = f"/api/tasks/{USER_ID}/with-session/{APP_NAME}"
CREDITS: Final = "/api/credits/balance/simple"
RUN_SSE: Final = "/run_sse"
UPLOAD: Final = f"/api/upload-video/{APP_NAME}/{USER_ID}/{{session_id}}"
STATE: Final = f"/api/state/{APP_NAME}/{USER_ID}/{{session_id}}/latest"
RENDER: Final = "/api/render/proxy/lambda"
RENDER_STATUS: Final = RENDER + "/{render_id}"
RENDER_CANCEL: Final = RENDER + "/{render_id}/cancel"
RENDER_DOWNLOAD: Final = "/api/render/proxy/{render_id}/download"

# Session, render and turn ids: letters, digits, "_" and "-" (NemoVideo's are digits or
# "session_..."; nemo-mcp's "render_..." / "turn_..."). Nothing else ever goes into a path.
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_ID_RE: Final = re.compile(ID_PATTERN)


def valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def fill(template: str, **ids: str) -> str:
    """``template`` with each ``{name}`` replaced by ``ids[name]``, escaped as one segment."""
    return template.format_map({name: quote(value, safe="") for name, value in ids.items()})
