"""The error tree drawn in ``errors.py``'s docstring is the tree of its classes, exactly."""

from __future__ import annotations

import inspect
import re

from nemo_mcp import errors

_LINE = re.compile(r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z][A-Za-z]+Error)\b")


def _drawn_tree() -> dict[str, str | None]:
    """Each class named in the docstring tree, and the class it hangs from."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = _LINE.match(line.removeprefix("    "))
        if not match:
            continue
        depth = len(match.group("lead"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match.group("name")] = stack[-1][1] if stack else None
        stack.append((depth, match.group("name")))
    return parents


def test_every_error_class_is_drawn_under_its_parent() -> None:
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.NemoError)
    }
    drawn = _drawn_tree()
    assert set(drawn) == set(classes), set(drawn) ^ set(classes)
    for name, cls in classes.items():
        parent = drawn[name]
        if parent is None:
            assert cls is errors.NemoError
        else:
            assert cls.__bases__[0] is classes[parent], (name, parent, cls.__bases__)


def test_a_status_error_has_one_parent_to_catch() -> None:
    for status, code in (
        (401, None),
        (404, 1002),
        (402, None),
        (429, None),
        (503, None),
        (418, None),
    ):
        assert isinstance(errors.error_for(status, code), errors.APIStatusError), status
    assert not isinstance(errors.error_for(413, None), errors.APIStatusError)  # the file's fault
