"""What a command gets (``Ctx``) and gives back (``Result``), and the exit codes it ends with."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemo_mcp.config import Settings
from nemo_mcp.errors import (
    AuthError,
    ConfigError,
    FileTooLargeError,
    NemoError,
    UnsupportedFileError,
)
from nemo_mcp.redact import redact

if TYPE_CHECKING:
    from pydantic import BaseModel

    from nemo_mcp.cli.progress import ProgressPrinter
    from nemo_mcp.manifest import SkillManifest

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_RUNNING = 3
EXIT_AUTH = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0    done
  1    NemoVideo refused or failed (see the error's kind and hint; for chat, the turn
       failed or reported errors and changed nothing), or a doctor check failed
  2    bad input or usage: missing or unsupported file, empty message, unknown option
  3    still running: a job id was returned (continue with `nemo-mcp wait <id>`)
  4    authentication: the token is missing, expired or rejected
  130  interrupted"""


@dataclass
class Ctx:
    args: argparse.Namespace
    settings: Settings
    ui: ProgressPrinter
    warnings: list[str] = field(default_factory=list)

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    @property
    def manifest(self) -> SkillManifest:
        """The active skill manifest (its examples shape next steps)."""
        from nemo_mcp.manifest import load_manifest

        return load_manifest(self.settings.skill)


@dataclass
class Result:
    data: BaseModel | dict[str, Any]
    code: int = EXIT_OK
    text: str | None = None  # human text; default: formatted from the view


def exit_code_for(err: NemoError) -> int:
    if isinstance(err, AuthError):
        return EXIT_AUTH
    if isinstance(err, ConfigError | UnsupportedFileError | FileTooLargeError):
        return EXIT_USAGE
    return EXIT_ERROR


def view_exit(view: BaseModel, *, cancelling: bool = False) -> int:
    from nemo_mcp.studio.views import RenderView, TurnView

    if isinstance(view, TurnView):
        if not view.done:
            return EXIT_RUNNING
        if view.status in ("failed", "timed_out", "lost", "interrupted"):
            return EXIT_ERROR
        if view.errors and not view.changes:  # e.g. out of credits, reported in the stream
            return EXIT_ERROR
    if isinstance(view, RenderView):
        if view.status == "cancelled":
            return EXIT_OK if cancelling else EXIT_ERROR
        if not view.done:
            return EXIT_RUNNING
        if view.status == "failed":
            return EXIT_ERROR
    return EXIT_OK


def first_error(exc: BaseException) -> BaseException:
    """The most telling exception inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []

        def walk(group: BaseExceptionGroup[BaseException]) -> None:
            for e in group.exceptions:
                if isinstance(e, BaseExceptionGroup):
                    walk(e)
                else:
                    leaves.append(e)

        walk(exc)
        for kind in (KeyboardInterrupt, NemoError):
            for leaf in leaves:
                if isinstance(leaf, kind):
                    return leaf
        return leaves[0] if leaves else exc
    return exc


def wait_budget(args: argparse.Namespace) -> float:
    """The studio's wait: -1 waits until done (the CLI default)."""
    wait = getattr(args, "wait", None)
    return -1.0 if wait is None else float(wait)


def local_item(item: str) -> str:
    """Local paths are relative to the current folder in a shell."""
    if item.startswith(("http://", "https://", "file://", "~")):
        return item
    path = Path(item)
    return item if path.is_absolute() else str(Path.cwd() / path)


def to_json(data: Any) -> str:
    """One JSON object as printed on stdout (``--json``): indented, secrets scrubbed."""
    return redact(json.dumps(data, ensure_ascii=False, indent=2, default=str))
