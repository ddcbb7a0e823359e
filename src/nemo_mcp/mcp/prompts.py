"""The MCP prompt menu, from the active skill manifest's ``prompts``.

Each prompt is named for what it makes (``music_video``, ``background_track``, ...); the name
comes from the manifest and never changes between releases, so a user's ``/nemovideo:music_video``
keeps working. Its arguments are described; text arguments fill the request's ``{placeholders}``
(or their defaults), file arguments are uploaded first.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument

from nemo_mcp.faces import Tool
from nemo_mcp.manifest import PromptSpec


def render(spec: PromptSpec, arguments: dict[str, Any]) -> str:
    """The user message the prompt puts in the conversation."""
    given = {k: str(v).strip() for k, v in arguments.items() if v is not None and str(v).strip()}
    values = {a.name: given.get(a.name) or a.default or "" for a in spec.arguments}
    request = spec.request.format_map(values)
    files = [a for a in spec.arguments if a.kind == "file"]
    named = [given[a.name] for a in files if a.name in given]
    lines = []
    if named:
        lines.append(f"First upload {' and '.join(named)} with {Tool.UPLOAD}.")
    elif files:
        wanted = " or ".join(a.name for a in files)
        lines.append(
            f"If this session has no {wanted} uploaded yet, ask me for it and upload it with "
            f"{Tool.UPLOAD}."
        )
    lines.append(
        f"{'Then u' if lines else 'U'}se {Tool.CHAT} to send NemoVideo this message: {request}"
    )
    lines.append(
        f"When the timeline is ready ({Tool.STATE}), export it with {Tool.EXPORT} and show me "
        "the file."
    )
    return "\n".join(lines)


def add_prompts(mcp: MCPServer[Any], specs: list[PromptSpec]) -> None:
    for spec in specs:
        mcp.add_prompt(_prompt(spec))


def _prompt(spec: PromptSpec) -> Prompt:
    def fn(**arguments: Any) -> str:
        return render(spec, arguments)

    return Prompt(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        arguments=[
            PromptArgument(name=a.name, description=a.description, required=a.required)
            for a in spec.arguments
        ],
        fn=fn,
        context_kwarg=None,
    )
