"""The commands that work in a session: ask, upload, chat, state, credits, export, wait, cancel,
sessions. Each runs the studio (``studio_call``) and hands back its view."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from nemo_mcp import constants
from nemo_mcp.cli.context import Ctx, Result, local_item, view_exit, wait_budget
from nemo_mcp.errors import InvalidInputError, NemoError

if TYPE_CHECKING:
    from nemo_mcp.studio.facade import Studio

T = TypeVar("T")


async def studio_call(ctx: Ctx, fn: Callable[[Studio], Awaitable[T]]) -> T:
    """Run ``fn`` with a studio; NemoErrors come out unwrapped from the task group."""
    from nemo_mcp.studio.facade import Studio

    caught: NemoError | None = None
    result: T | None = None
    async with Studio.open(ctx.settings, face="cli", resume=False) as studio:
        try:
            result = await fn(studio)
            if isinstance(result, BaseModel):
                result = await hand_over(studio, result)  # type: ignore[assignment]
        except NemoError as err:
            caught = err
    if caught is not None:
        raise caught
    return result  # type: ignore[return-value]


async def hand_over(studio: Studio, view: BaseModel) -> BaseModel:
    """Before a handle is handed back, make sure its request reached NemoVideo.

    The studio's jobs end with this process. A render goes on on the server once submitted
    (``nemo-mcp wait`` resumes polling and the download later), so the submit must be sent
    first. A chat turn's stream ends with the process: the agent goes on, but only the
    timeline tells the outcome (the output says so, and points to ``state``).
    """
    import anyio

    from nemo_mcp.studio.views import RenderView, TurnView

    deadline = time.monotonic() + constants.HANDLE_GRACE
    if isinstance(view, RenderView) and not view.done:
        while view.status == "submitting" and time.monotonic() < deadline:
            view = await studio.render_status(view.render_id, wait=0.2)
        return view
    if isinstance(view, TurnView) and not view.done:
        job = studio.runner.get(view.turn_id)
        for _ in range(int(constants.HANDLE_GRACE / 0.1)):  # until the stream answered at all
            if job is None or job.last is not None or job.done.is_set():
                break
            await anyio.sleep(0.1)
        view = await studio.turn_status(view.turn_id, wait=0)
    return view


async def cmd_ask(ctx: Ctx) -> Result:
    from nemo_mcp.cli.route import route

    text: str = ctx.args.text
    if not text.strip():
        raise InvalidInputError("The text is empty.", hint="Say what to make, change or check.")
    r = route(text)
    ctx.ui.note(f"-> {r.intent}")
    session = ctx.args.session
    wait = wait_budget(ctx.args)

    async def run(studio: Studio) -> BaseModel:
        if r.intent == "upload":
            items = [local_item(p) for p in r.paths] + list(r.urls)
            if not items:
                raise InvalidInputError(
                    "That asks for an upload but names no file.",
                    hint="Name the file or URL, e.g. `nemo-mcp upload song.mp3`.",
                )
            return await studio.upload(items, session_id=session, on_progress=ctx.ui)
        if r.intent == "export":
            return await studio.export(
                session_id=session, wait=wait, on_progress=ctx.ui, force=ctx.args.force
            )
        if r.intent == "credits":
            return await studio.credits()
        if r.intent == "state":
            return await studio.state(session_id=session)
        return await studio.chat(
            text, session_id=session, wait=wait, on_progress=ctx.ui, force=ctx.args.force
        )

    from nemo_mcp.cli.output import format_view, json_view

    view = await studio_call(ctx, run)
    manifest = ctx.manifest
    data = {"intent": r.intent, **json_view(view, manifest)}
    return Result(data, view_exit(view), format_view(view, manifest))


async def cmd_upload(ctx: Ctx) -> Result:
    items = [local_item(i) for i in ctx.args.items]
    view = await studio_call(
        ctx, lambda s: s.upload(items, session_id=ctx.args.session, on_progress=ctx.ui)
    )
    return Result(view)


async def cmd_chat(ctx: Ctx) -> Result:
    a = ctx.args
    view = await studio_call(
        ctx,
        lambda s: s.chat(
            a.message, session_id=a.session, wait=wait_budget(a), on_progress=ctx.ui, force=a.force
        ),
    )
    return Result(view, view_exit(view))


async def cmd_state(ctx: Ctx) -> Result:
    return Result(await studio_call(ctx, lambda s: s.state(session_id=ctx.args.session)))


async def cmd_credits(ctx: Ctx) -> Result:
    return Result(await studio_call(ctx, lambda s: s.credits()))


async def cmd_export(ctx: Ctx) -> Result:
    a = ctx.args
    view = await studio_call(
        ctx,
        lambda s: s.export(
            session_id=a.session,
            wait=wait_budget(a),
            on_progress=ctx.ui,
            filename=a.filename,
            overwrite=a.overwrite,
            force=a.force,
        ),
    )
    return Result(view, view_exit(view))


async def cmd_wait(ctx: Ctx) -> Result:
    given: str | None = (ctx.args.job_id or "").strip() or None
    wait = wait_budget(ctx.args)
    if given is not None and not re.fullmatch(r"(turn|render)_[A-Za-z0-9_]+", given):
        raise InvalidInputError(
            f"{given[:60]!r} is not a job id.",
            hint="Use the turn_... or render_... id that chat or export returned.",
        )

    async def run(studio: Studio) -> BaseModel:
        job_id = given or studio.latest_job()
        if job_id.startswith("turn_"):
            return await studio.turn_status(job_id, wait=wait, on_progress=ctx.ui)
        return await studio.render_status(job_id, wait=wait, on_progress=ctx.ui)

    view = await studio_call(ctx, run)
    return Result(view, view_exit(view))


async def cmd_cancel(ctx: Ctx) -> Result:
    render_id: str = ctx.args.render_id.strip()
    if not re.fullmatch(r"render_[A-Za-z0-9_]+", render_id):
        raise InvalidInputError(
            f"{render_id[:60]!r} is not a render id.",
            hint="Use the render_... id that export returned.",
        )
    view = await studio_call(ctx, lambda s: s.cancel_render(render_id))
    return Result(view, view_exit(view, cancelling=True))


async def cmd_sessions(ctx: Ctx) -> Result:
    a = ctx.args
    action = getattr(a, "sessions_action", None) or "list"

    async def run(studio: Studio) -> BaseModel:
        if action == "new":
            return await studio.new_session(language=a.language, title=a.title)
        if action == "use":
            return studio.use_session(a.session_id.strip())
        return studio.list_sessions()

    return Result(await studio_call(ctx, run))
