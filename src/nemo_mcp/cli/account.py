"""The account commands: login (a token from the user's NemoVideo account), logout and whoami,
all through the studio."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any, TypeVar

from nemo_mcp.cli.commands import studio_call
from nemo_mcp.cli.context import Ctx, Result
from nemo_mcp.errors import AuthError, InvalidInputError, NemoError
from nemo_mcp.redact import register_secret

T = TypeVar("T")


def _read_token(args: argparse.Namespace) -> str:
    if args.stdin:
        raw = sys.stdin.readline()
    else:
        if not sys.stdin.isatty():
            raise InvalidInputError(
                "There is no terminal to ask for the token on.",
                hint="Pipe it in instead: `nemo-mcp login --stdin < token.txt` (never pass a "
                "token as an argument: other programs can see arguments).",
            )
        raw = getpass.getpass("NemoVideo token (input hidden): ")
    register_secret(raw.strip())
    return raw


async def cmd_login(ctx: Ctx) -> Result:
    settings = ctx.settings
    notes: list[str] = []
    if settings.token:
        notes.append(
            "NEMO_TOKEN is set in this environment and wins over the stored token; unset it to "
            "use the one stored now."
        )
    token = _read_token(ctx.args)
    verify = not ctx.args.no_verify
    try:
        credits = await studio_call(ctx, lambda s: s.login(token, verify=verify))
    except AuthError as err:
        if not verify:
            raise
        raise AuthError(
            "NemoVideo rejected that token; it was not stored.",
            hint="Check that you copied the whole token (nemovideo.com -> Settings -> "
            "API Tokens) and run `nemo-mcp login` again.",
        ) from err
    except NemoError as err:
        if verify and not isinstance(err, InvalidInputError):
            err.hint = (
                err.hint + " The token was not stored; use --no-verify to store it "
                "without checking."
            ).strip()
        raise
    verified = credits is not None
    summary = "Token stored for " + settings.api_url
    summary += f" (verified: {credits:g} credits available)." if verified else " (not verified)."
    data = {
        "stored": True,
        "verified": verified,
        "api_url": settings.api_url,
        "credits_available": credits,
        "notes": notes,
        "summary": summary,
    }
    return Result(data, text="\n".join([summary, *notes]))


async def cmd_logout(ctx: Ctx) -> Result:
    removed = await studio_call(ctx, lambda s: _now(s.logout()))
    summary = (
        f"Forgot the stored token for {ctx.settings.api_url}."
        if removed
        else f"No token was stored for {ctx.settings.api_url}."
    )
    notes = []
    if ctx.settings.token:
        notes.append("NEMO_TOKEN is still set in the environment and will be used.")
    data = {"removed": removed, "api_url": ctx.settings.api_url, "notes": notes, "summary": summary}
    return Result(data, text="\n".join([summary, *notes]))


async def _now(value: T) -> T:
    """A value the studio gave at once, as the awaitable ``studio_call`` takes."""
    return value


async def cmd_whoami(ctx: Ctx) -> Result:
    from nemo_mcp.api.attribution import attribution_for

    s = ctx.settings
    ident = await studio_call(ctx, lambda studio: _now(studio.whoami()))
    who = attribution_for(s)
    skill, skill_version, platform = who.source, who.version, who.platform
    source = ident.source if ident.source != "none" else "none"
    expires_in = ident.expires_at - time.time() if ident.expires_at else None
    data: dict[str, Any] = {
        "source": source,
        "user_id": ident.user_id,
        "expires_at": ident.expires_at,
        "expires_in_s": round(expires_in) if expires_in is not None else None,
        "client_id": ident.client_id,
        "api_url": s.api_url,
        "skill": skill,
        "skill_version": skill_version,
        "skill_dir": str(s.skill_dir) if s.skill_dir else None,
        "platform": platform,
        "state_folder": str(s.home),
    }
    described = {
        "env": "NEMO_TOKEN (environment)",
        "login": "stored by `nemo-mcp login`",
        "anonymous": "free anonymous token (stored)",
        "none": "none yet (a free anonymous token is requested on first use)",
    }.get(source, source)
    data["summary"] = f"Token: {described}; API {s.api_url}; skill {skill} {skill_version}."
    lines = [f"token source : {described}"]
    if ident.user_id:
        lines.append(f"user id      : {ident.user_id}")
    if ident.expires_at:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(ident.expires_at))
        days = f" (in {expires_in / 86400:.1f} days)" if expires_in is not None else ""
        lines.append(f"expires      : {when}{days}")
    lines += [
        f"client id    : {ident.client_id or '(created on first use)'}",
        f"API URL      : {s.api_url}",
        f"skill        : {skill} {skill_version}" + (f" ({s.skill_dir})" if s.skill_dir else ""),
        f"platform     : {platform}",
        f"state folder : {s.home}",
    ]
    return Result(data, text="\n".join(lines))
