"""Arguments a tool refused, told in words: one actionable ``invalid_input`` error for every
tool, instead of the raw pydantic report (``1 validation error for ...``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from nemo_mcp.errors import InvalidInputError, NemoError
from nemo_mcp.faces import Tool

# The next step for an argument that is wrong, by argument name (shared by every tool that has
# it). Arguments not listed here fall back to their schema description.
ARGUMENT_HINTS: dict[str, str] = {
    "message": "Say what to make or change.",
    "items": "Pass 1 to 20 local file paths (inside the allowed folders) and/or http(s) URLs.",
    "job_id": "Pass the turn_... or render_... id that an earlier call returned.",
    "render_id": f"Pass the render_... id that {Tool.EXPORT} returned.",
    "session_id": f"Pass a session id from {Tool.LIST_SESSIONS}, or leave it out for the current "
    "session.",
    "wait_seconds": "Pass a number of seconds from 0 to 840, or leave it out (default 45).",
}

_EXACT_UP_TO = 2**53  # the largest whole number a JSON client's double holds exactly
_EXPECTED = {  # the first word of a pydantic type-error kind -> what the argument must be
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "an object",
}


def invalid_arguments(exc: ValidationError, input_schema: Mapping[str, Any] | None) -> NemoError:
    """Arguments that failed the input schema, as one actionable ``invalid_input`` error."""
    props: Mapping[str, Any] = (input_schema or {}).get("properties") or {}
    problems: list[str] = []
    hints: list[str] = []
    for detail in exc.errors(include_url=False):
        problem, hint = _describe(detail, props)
        if problem not in problems:
            problems.append(problem)
        if hint and hint not in hints:
            hints.append(hint)
    fields = sorted({str(d["loc"][0]) for d in exc.errors() if d["loc"]})
    return InvalidInputError(
        " ".join(problems) or "The arguments are not valid.",
        hint=" ".join(hints) or "Check the arguments against the tool's input schema.",
        details={"arguments": fields},
    )


def unknown_tool(name: str, known: Sequence[str]) -> NemoError:
    return InvalidInputError(
        f"There is no tool named {_show(name)}.", hint="Use one of: " + ", ".join(known) + "."
    )


def _describe(detail: ErrorDetails, props: Mapping[str, Any]) -> tuple[str, str]:
    loc = detail["loc"]
    field = str(loc[0]) if loc else ""
    label = field or "arguments"
    if len(loc) > 1 and isinstance(loc[1], int):  # one entry of a list argument
        label = f"entry {loc[1] + 1} of {label}"
    kind = detail["type"]
    ctx: Mapping[str, Any] = detail.get("ctx") or {}
    value = detail.get("input")
    if kind == "missing":
        problem = f"The {label} is missing."
    elif kind == "string_too_short" and ctx.get("min_length") == 1:
        problem = f"The {label} is empty."
    elif kind == "string_too_short":
        problem = f"The {label} is too short: at least {ctx.get('min_length')} characters."
    elif kind == "string_too_long":
        size = len(value) if isinstance(value, str) else "too many"
        problem = f"The {label} is {size} characters; the limit is {ctx.get('max_length')}."
    elif kind == "too_short":
        least = ctx.get("min_length")
        problem = f"The {label} list is empty." if least == 1 else f"The {label} list is short."
    elif kind == "too_long":
        problem = (
            f"The {label} list has {ctx.get('actual_length')} entries; "
            f"the limit is {ctx.get('max_length')}."
        )
    elif kind == "string_pattern_mismatch":
        problem = f"{_show(value)} is not a valid {label}."
    elif kind in ("greater_than_equal", "greater_than"):
        problem = f"The {label} must be at least {_num(ctx.get('ge', ctx.get('gt')))}."
    elif kind in ("less_than_equal", "less_than"):
        problem = f"The {label} must be at most {_num(ctx.get('le', ctx.get('lt')))}."
    elif kind == "extra_forbidden":
        return f"There is no {_show(field)} argument.", "Leave it out."
    elif kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        problem = f"The {label} must be text in quotes, not the number {_show(value)}."
        if abs(value) >= _EXACT_UP_TO:  # a client read an id's digits as a number: some are lost
            problem += (
                " A number this long has already lost its last digits on the way, so this one is"
                " not the id: take the id again as text (it is in the results that gave it, and"
                f" in {Tool.LIST_SESSIONS}() for sessions) and send it in quotes."
            )
    elif kind.split("_")[0] in _EXPECTED:
        problem = f"The {label} must be {_EXPECTED[kind.split('_')[0]]}, not {_show(value)}."
    else:
        problem = f"The {label} is not valid: {detail['msg'].rstrip('.')}."
    return problem, _hint_for(field, props)


def _hint_for(field: str, props: Mapping[str, Any]) -> str:
    if field in ARGUMENT_HINTS:
        return ARGUMENT_HINTS[field]
    described = (props.get(field) or {}).get("description")
    if described:
        return f"Give {field}: {str(described).rstrip('.')}."
    return f"Check {field} against the tool's input schema." if field else ""


def _show(value: Any) -> str:
    """A short, quoted rendering of what the caller sent (never more than 60 characters)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 60:
        text = text[:57] + "..."
    return json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
