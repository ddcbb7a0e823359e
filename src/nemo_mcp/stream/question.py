"""The agent's questions: a tool call such as ``ask_question`` that stops the turn for an answer.

NemoVideo's agent can stop and ask the user something: it calls a tool (``ask_question``, usually
listed in the event's ``longRunningToolIds``) whose arguments hold the question and its options,
and the stream ends. :func:`read_question` recognises such a call and takes out the question and
the options, cleaned (control characters stripped, one line, double quotes made single so they
can be quoted safely, capped): they are the agent's words, shown to the user as they are.

Accepted argument shapes (the official tools' names are not published, so aliases are read):

- ``{"question": "...", "options": ["16:9", "9:16"]}`` (also ``prompt`` / ``message`` / ``text``
  / ``query``, and ``choices`` / ``answers`` / ``suggestions`` / ``candidates``);
- options as strings, numbers or objects with ``label`` / ``text`` / ``title`` / ``value``;
- ``{"questions": [{"question": ..., "options": [...]}, ...]}`` (every question is kept, joined);
- the arguments as a JSON string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from nemo_mcp.untrusted import clean_label

__all__ = [
    "MAX_OPTIONS",
    "MAX_OPTION_CHARS",
    "MAX_QUESTION_CHARS",
    "AgentQuestion",
    "is_answer",
    "is_question_tool",
    "read_question",
]

MAX_QUESTION_CHARS: Final = 600
MAX_OPTION_CHARS: Final = 120
MAX_OPTIONS: Final = 10
MAX_QUESTIONS: Final = 3
MAX_ARGS_JSON: Final = 65_536

_QUESTION_KEYS: Final = ("question", "prompt", "message", "text", "query", "ask", "content")
_OPTION_KEYS: Final = ("options", "choices", "answers", "suggestions", "candidates", "enum")
_OPTION_LABEL_KEYS: Final = ("label", "text", "title", "value", "name", "option", "description")
_ANSWER_KEYS: Final = frozenset(
    {"answer", "answers", "user_answer", "userAnswer", "selected", "selection", "choice"}
)
# Tool-name tokens that mark a question to the user.
_QUESTION_TOKENS: Final = frozenset(
    {"ask", "question", "questions", "clarify", "clarification", "elicit", "elicitation"}
)
_QUESTION_PHRASES: Final = ("user_input", "human_input", "request_input", "input_request")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class AgentQuestion:
    text: str
    options: list[str] = field(default_factory=list)
    call_id: str = ""


def is_question_tool(name: str) -> bool:
    """``ask_question``, ``askUser``, ``request_user_input``, ``clarify`` -> True."""
    key = _CAMEL.sub("_", name[:80]).lower()
    tokens = {t for t in _SPLIT.split(key) if t}
    if tokens & _QUESTION_TOKENS:
        return True
    flat = "_".join(t for t in _SPLIT.split(key) if t)
    return any(phrase in flat for phrase in _QUESTION_PHRASES)


def _args(payload: Any) -> Any:
    if isinstance(payload, str) and len(payload) <= MAX_ARGS_JSON:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            return payload
    return payload


def _option_label(item: Any) -> str | None:
    if isinstance(item, Mapping):
        for key in _OPTION_LABEL_KEYS:
            value = item.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return _option_label(value)
        return None
    if isinstance(item, bool):
        return None
    if isinstance(item, str | int | float):
        label = clean_label(str(item), MAX_OPTION_CHARS)
        return label or None
    return None


def _options(value: Any) -> list[str]:
    if isinstance(value, Mapping):  # {"a": "16:9", "b": "9:16"}
        value = list(value.values())
    if isinstance(value, str):  # "16:9, 9:16 or 1:1" is a phrase, kept whole
        value = [value]
    out: list[str] = []
    if isinstance(value, list):
        for item in value[: MAX_OPTIONS * 4]:
            label = _option_label(item)
            if label and label not in out:
                out.append(label)
            if len(out) >= MAX_OPTIONS:
                break
    return out


def _one(args: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    text = None
    for key in _QUESTION_KEYS:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            text = value
            break
    options: list[str] = []
    for key in _OPTION_KEYS:
        if key in args:
            options = _options(args.get(key))
            if options:
                break
    return text, options


def read_question(name: str, payload: Any, *, long_running: bool = False) -> AgentQuestion | None:
    """The question in this tool call, or None when it is not a question to the user.

    A call is a question when its name says so (:func:`is_question_tool`), or when it is
    long-running and its arguments hold a ``question``.
    """
    args = _args(payload)
    named = is_question_tool(name)
    if not named and not (long_running and isinstance(args, Mapping) and "question" in args):
        return None
    texts: list[str] = []
    options: list[str] = []
    if isinstance(args, Mapping):
        nested = args.get("questions")
        if isinstance(nested, list) and nested:
            for item in nested[:MAX_QUESTIONS]:
                if isinstance(item, Mapping):
                    text, opts = _one(item)
                elif isinstance(item, str):
                    text, opts = item, []
                else:
                    continue
                if text:
                    texts.append(text)
                options.extend(o for o in opts if o not in options)
        else:
            text, options = _one(args)
            if text:
                texts.append(text)
    elif isinstance(args, str) and args.strip():
        texts.append(args)
    question = clean_label(" ".join(texts), MAX_QUESTION_CHARS)
    if not question and not options:
        if not named:
            return None
        question = ""
    return AgentQuestion(text=question, options=options[:MAX_OPTIONS])


def is_answer(payload: Any) -> bool:
    """Does a tool result for the question carry the user's answer (so nothing is pending)?"""
    payload = _args(payload)
    return isinstance(payload, Mapping) and any(
        payload.get(key) not in (None, "", []) for key in _ANSWER_KEYS
    )
