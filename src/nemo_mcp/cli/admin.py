"""The commands that set nemo-mcp up or run it: doctor, serve, install, skill build, and the
emulator and the demo (loaded only when chosen)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nemo_mcp.addresses import is_loopback
from nemo_mcp.cli.context import EXIT_ERROR, EXIT_OK, Ctx, Result
from nemo_mcp.errors import InvalidInputError
from nemo_mcp.redact import redact


async def cmd_doctor(ctx: Ctx) -> Result:
    from nemo_mcp.setup.doctor import run_checks

    checks = await run_checks(ctx.settings)
    failed = [c for c in checks if c.status == "FAIL"]
    warned = [c for c in checks if c.status == "WARN"]
    summary = (
        f"{len(failed)} problem(s), {len(warned)} warning(s)."
        if failed or warned
        else "Everything checks out."
    )
    data = {
        "ok": not failed,
        "checks": [c.to_dict() for c in checks],
        "summary": summary,
    }
    lines = []
    for c in checks:
        lines.append(f"[{c.status:<4}] {c.name}: {c.detail}")
        if c.fix and c.status != "OK":
            lines.append(f"       fix: {c.fix}")
    lines.append(summary)
    return Result(data, EXIT_ERROR if failed else EXIT_OK, "\n".join(lines))


def cmd_serve(ctx: Ctx) -> int:
    a = ctx.args
    if a.new_key:
        from nemo_mcp.store.sealing import TokenSealer

        print(TokenSealer.new_key())
        return EXIT_OK
    if a.hosted:
        if not a.http:
            raise InvalidInputError(
                "Hosted mode serves HTTP.", hint="Run: nemo-mcp serve --http --hosted"
            )
        from nemo_mcp.hosted.server import serve_hosted

        # every request is authenticated: serving beyond loopback is what hosted mode is for
        serve_hosted(host=a.host, port=a.port, settings=ctx.settings, allowed_hosts=a.allowed_host)
        return EXIT_OK
    if a.http and not is_loopback(a.host):
        if not a.allow_remote:
            raise InvalidInputError(
                f"Refusing to serve on {a.host}: that is reachable from other machines, and "
                "anyone who reaches it can spend your NemoVideo credits and read and write media "
                "through this server (it has no login of its own).",
                hint="Serve on 127.0.0.1 (the default) and tunnel to it, or pass --allow-remote "
                "if the network is trusted.",
            )
        print(
            f"warning: serving on {a.host}:{a.port} without authentication; anyone who can "
            "reach it can use your NemoVideo account.",
            file=sys.stderr,
        )
    from nemo_mcp.mcp.server import serve

    if a.http:  # stdout stays quiet either way (on stdio it is the protocol's)
        from nemo_mcp.mcp.hostrules import endpoint

        print(f"nemo-mcp: MCP over streamable HTTP at {endpoint(a.host, a.port)}", file=sys.stderr)
    serve(
        http=a.http,
        host=a.host,
        port=a.port,
        settings=ctx.settings,
        allowed_hosts=a.allowed_host,
    )
    return EXIT_OK


def run_lazy(name: str, args: argparse.Namespace) -> int:
    if name == "emulator":
        from nemo_mcp.emulator import cli as emulator_cli

        return int(emulator_cli.run(args))
    from nemo_mcp.setup import demo

    return int(demo.run(args))


async def cmd_install(ctx: Ctx) -> Result:
    from nemo_mcp.setup import installers

    a = ctx.args
    env = installers.parse_env_pairs(a.env, skill=getattr(a, "skill", None))
    if a.target == "print":
        entry = installers.server_entry(launcher=a.launcher, env=env, portable=a.portable)
        data: dict[str, Any] = {}
        lines: list[str] = []
        for client in installers.CLIENTS:
            path = installers.config_path(client)
            config = {"mcpServers": {a.name: installers.client_entry(client, entry)}}
            data[client] = {"file": str(path), "config": config}
            lines += [
                f"# {installers.CLIENT_TITLES[client]}: add to {path}",
                json.dumps(config, indent=2, ensure_ascii=False),
                "",
            ]
        args_text = " ".join(entry["args"])
        env_text = "".join(f" --env {k}={v}" for k, v in env.items())
        lines.append(
            "# Claude Code, from a shell: claude mcp add --scope user"
            f"{env_text} {a.name} -- {entry['command']} {args_text}"
        )
        return Result(data, text=redact("\n".join(lines)))
    target: installers.Client = a.target
    path = (
        Path(a.config).expanduser()
        if a.config
        else installers.config_path(target, project=a.project, scope=a.scope)
    )
    entry = installers.server_entry(launcher=a.launcher, env=env)
    plan = installers.plan_install(target, path, entry, name=a.name, force=a.force)
    title = installers.CLIENT_TITLES[target]
    if target == "claude-desktop" and not a.config and not path.parent.exists():
        plan.warnings.append(
            f"{path.parent} does not exist: Claude Desktop may not be installed. The file is "
            "created anyway."
        )
    if target == "claude-code" and not plan.unchanged:
        plan.warnings.append(
            "A running Claude Code rewrites this file; if the entry does not show up in "
            "`claude mcp list`, quit Claude Code and run this again, or use: claude mcp add "
            f"--scope {a.scope} {a.name} -- {entry['command']} {' '.join(entry['args'])}"
        )
    diff = plan.diff()
    if a.dry_run:
        info = plan.to_dict() | {"dry_run": True, "diff": diff}
        head = "No change needed." if plan.unchanged else f"Would change {path}:"
        text = "\n".join([head, diff.rstrip()] if diff else [head])
        return Result(info, text=redact("\n".join([text, *plan.warnings])))
    installers.apply_install(plan)
    if plan.unchanged:
        summary = f"{title} already has this entry in {path}; nothing to do."
    else:
        verb = "Replaced" if plan.replaced else "Added"
        summary = f"{verb} {a.name!r} in {title}'s configuration ({path})."
        if plan.backup:
            summary += f" Backup of the old file: {plan.backup}."
        summary += f" Restart {title} to load it."
    info = plan.to_dict() | {"summary": summary}
    return Result(
        info, text=redact("\n".join([summary, *[f"warning: {w}" for w in plan.warnings]]))
    )


async def cmd_skill(ctx: Ctx) -> Result:
    from nemo_mcp.manifest import all_manifests
    from nemo_mcp.setup import skills

    a = ctx.args
    if getattr(a, "skill_action", None) != "build":
        raise InvalidInputError("Say what to do: `nemo-mcp skill build <manifest>`.")
    if a.all:
        manifests = list(all_manifests().values())
    elif a.manifest:
        manifests = [skills.resolve_manifest(a.manifest)]
    else:
        raise InvalidInputError(
            "Name a manifest, or pass --all.",
            hint="e.g. `nemo-mcp skill build ai-music-video-clip-generator --out skills`.",
        )
    out = Path(a.out).expanduser()
    built = []
    for m in manifests:
        folder = skills.build_skill(m, out)
        built.append({"name": m.name, "version": m.version, "path": str(folder / "SKILL.md")})
    summary = f"Built {len(built)} skill folder(s) in {out}."
    text = "\n".join([*(f"{b['name']} {b['version']}: {b['path']}" for b in built), summary])
    return Result({"built": built, "summary": summary}, text=text)
