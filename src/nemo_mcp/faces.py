"""The two faces nemo-mcp is used through, and the name each gives every operation: one table.

An MCP client calls tools (``nemo_export``); a shell runs commands (``nemo-mcp export``).
Everything that names an operation to a person or a model (next steps, hints, the agent's GUI
phrases rewritten) takes the name from here, and the MCP server registers its tools under
exactly these names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

Face = Literal["mcp", "cli"]


class Tool(StrEnum):
    """The MCP tools, by operation."""

    UPLOAD = "nemo_upload"
    CHAT = "nemo_chat"
    STATE = "nemo_get_state"
    CREDITS = "nemo_get_credits"
    EXPORT = "nemo_export"
    WAIT = "nemo_wait"
    CANCEL_RENDER = "nemo_cancel_render"
    NEW_SESSION = "nemo_new_session"
    LIST_SESSIONS = "nemo_list_sessions"


# The command line's name for each operation (arguments are added where one is named).
COMMANDS: Final[dict[Tool, str]] = {
    Tool.UPLOAD: "nemo-mcp upload",
    Tool.CHAT: "nemo-mcp chat",
    Tool.STATE: "nemo-mcp state",
    Tool.CREDITS: "nemo-mcp credits",
    Tool.EXPORT: "nemo-mcp export",
    Tool.WAIT: "nemo-mcp wait",
    Tool.CANCEL_RENDER: "nemo-mcp cancel",
    Tool.NEW_SESSION: "nemo-mcp sessions new",
    Tool.LIST_SESSIONS: "nemo-mcp sessions",
}


def named(tool: Tool, face: Face) -> str:
    """The operation as ``face`` names it: the tool, or the command."""
    return str(tool) if face == "mcp" else COMMANDS[tool]
