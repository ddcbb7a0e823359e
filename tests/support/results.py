"""Tool results as a model sees them, and an MCP client that records and checks every call.

:class:`Result` is one tool call: its text (the content blocks every host shows the model), its
structured data, and for an error result the machine-readable error in ``_meta``.
:class:`ToolClient` wraps an MCP ``Client``: each call's progress notes are collected, the result
is checked (text present; data matching the tool's output schema; an error result without
structured content whose text starts with ``Error (<kind>)``) and kept, and ``on_result`` /
``on_error`` hooks let a suite keep what it saw (for token scans).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import mcp.types as types
from mcp import Client

from nemo_mcp.mcp.results import ERROR_META_KEY

Progress = list[tuple[float, float | None, str | None]]


@dataclass
class Result:
    name: str
    arguments: dict[str, Any]
    result: types.CallToolResult
    progress: Progress

    @property
    def is_error(self) -> bool:
        return bool(self.result.is_error)

    @property
    def text(self) -> str:
        return "\n".join(c.text for c in self.result.content if isinstance(c, types.TextContent))

    @property
    def data(self) -> dict[str, Any]:
        data = self.result.structured_content
        assert isinstance(data, dict), self.text
        return data

    @property
    def error(self) -> dict[str, Any]:
        """An error result's machine-readable form (``_meta``); it has no structuredContent."""
        assert self.is_error, self.text
        assert self.result.structured_content is None, self.result.structured_content
        err = (self.result.meta or {}).get(ERROR_META_KEY)
        assert isinstance(err, dict), self.result
        return err


def assert_increasing(progress: Progress) -> None:
    values = [p for p, _, _ in progress]
    assert all(b > a for a, b in itertools.pairwise(values)), values


def assert_actionable(res: Result, *kinds: str, words: tuple[str, ...] = ()) -> dict[str, Any]:
    """An error result that names its kind (one of ``kinds``, if given), says what happened and
    what to do next (its hint, also in the text), and contains ``words``."""
    assert not isinstance(words, str), "words is a tuple of strings"
    err = res.error
    assert err["message"].strip(), res.text
    assert err["hint"].strip(), res.text
    assert res.text.startswith(f"Error ({err['kind']})"), res.text
    assert err["hint"] in res.text, (err["hint"], res.text)
    assert "Traceback" not in res.text, res.text
    if kinds:
        assert err["kind"] in kinds, (err["kind"], res.text)
    for word in words:
        assert word in res.text, (word, res.text)
    return err


class ToolClient:
    """An MCP client whose every call is checked and kept; see the module docstring."""

    def __init__(
        self,
        client: Client,
        *,
        on_result: Callable[[Result], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_read: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.on_result = on_result
        self.on_error = on_error
        self.on_read = on_read
        self.calls: list[Result] = []
        self.texts: list[str] = []  # resource texts read
        self.schemas: dict[str, dict[str, Any]] = {}

    async def load_schemas(self) -> None:
        for tool in (await self.client.list_tools()).tools:
            if tool.output_schema is not None:
                self.schemas[tool.name] = tool.output_schema

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Result:
        """Call a tool; progress notes are collected; an error result is returned, not raised."""
        progress: Progress = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        args = dict(arguments or {})
        try:
            if not self.schemas:
                await self.load_schemas()
            result = await self.client.call_tool(name, args, progress_callback=on_progress)
        except Exception as exc:
            if self.on_error is not None:
                self.on_error(exc)
            raise
        res = Result(name, args, result, progress)
        self.calls.append(res)
        if self.on_result is not None:
            self.on_result(res)
        assert res.text.strip(), f"{name} returned no text"
        if not res.is_error:
            jsonschema.validate(result.structured_content, self.schemas[name])
        else:  # every client reads it: nothing an output schema would reject
            assert result.structured_content is None, (name, result.structured_content)
            assert res.text.startswith("Error ("), res.text
        return res

    async def ok(self, name: str, arguments: dict[str, Any] | None = None) -> Result:
        res = await self.call(name, arguments)
        assert not res.is_error, res.text
        assert_increasing(res.progress)
        return res

    async def fail(self, name: str, arguments: dict[str, Any] | None = None) -> Result:
        res = await self.call(name, arguments)
        assert res.is_error, res.text
        return res

    async def read(self, uri: str) -> str:
        result = await self.client.read_resource(uri)
        content = result.contents[0]
        assert isinstance(content, types.TextResourceContents)
        self.texts.append(content.text)
        if self.on_read is not None:
            self.on_read(content.text)
        return content.text

    def dump(self) -> str:
        """Everything the client was given, as one string (for token scans)."""
        parts = list(self.texts)
        for call in self.calls:
            parts.append(call.result.model_dump_json())
            parts.extend(m or "" for _, _, m in call.progress)
        return "\n".join(parts)
