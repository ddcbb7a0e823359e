"""Sessions: creating one, reading its state (the draft in the configured format), uploads."""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from nemo_mcp.addresses import is_loopback
from nemo_mcp.contract import account
from nemo_mcp.contract.uploads import PROBED, SOURCE_TYPE, URL_SOURCE, URLS, file_entry
from nemo_mcp.contract.uploads import answer as upload_answer
from nemo_mcp.emulator import draft as dr
from nemo_mcp.emulator import draft_shapes, uploads
from nemo_mcp.emulator.endpoint import Ctx
from nemo_mcp.emulator.envelope import Reject, ok
from nemo_mcp.emulator.records import Media, Session


async def h_create_session(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    body = await ctx.json()
    if body is not None and not isinstance(body, dict):
        raise Reject(400, "Body must be a JSON object")
    body = body or {}
    task_name = str(body.get(account.TASK_NAME) or "project")[:200]
    language = str(body.get(account.LANGUAGE) or "en")[:20]
    sess = ctx.state.create_session(user_id, task_name, language)
    return ok(account.session_answer(sess.task_id, sess.session_id, user_id))


def _state_payload(sess: Session, base: str, draft_format: str) -> dict[str, Any]:
    state = dr.absolutize(
        {
            "video_infos": sess.video_infos,
            "draft": sess.draft,
            "canvas_config": sess.canvas_config,
            "video_analyses": sess.video_analyses,
            "generated_media": sess.generated_media,
        },
        base,
    )
    return {
        "session_id": sess.session_id,
        "task_id": sess.task_id,
        "task_name": sess.task_name,
        "user_id": sess.user_id,
        "state": draft_shapes.present_delta(state, draft_format),
    }


async def h_state(ctx: Ctx) -> Response:
    sess = ctx.state.session_for(ctx.path_param("session_id"), ctx.user_id())
    with ctx.state.lock:
        payload = _state_payload(sess, ctx.base_url, ctx.config.draft_format)
    return ok(payload)


def _file_entry(item: Media, base: str) -> dict[str, Any]:
    entry = file_entry(
        media_id=item.media_id,
        filename=item.filename,
        file_type=item.file_type,
        cdn_url=item.cdn_path if item.rel_path else item.source_url,
        size=item.size,
        digest=item.hash,
        probed=item.info,
    )
    return dr.absolutize(entry, base)  # type: ignore[no-any-return]


async def h_upload(ctx: Ctx) -> Response:
    user_id = ctx.user_id()
    sess = ctx.state.session_for(ctx.path_param("session_id"), user_id)
    content_type = (ctx.header("content-type") or "").lower()
    limit = ctx.config.upload_limit_bytes
    items = []
    if content_type.startswith("multipart/"):
        saved = await uploads.receive_multipart(
            ctx.state, ctx.header("content-type") or "", ctx.request.stream(), limit
        )
        for s in saved:
            items.append(await uploads.to_media(ctx.state, sess.session_id, s))
    elif content_type.startswith("application/json"):
        body = await ctx.json()
        urls = body.get(URLS) if isinstance(body, dict) else None
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise Reject(400, 'Body must be {"urls": ["<url>", ...], "source_type": "url"}')
        if body.get(SOURCE_TYPE, URL_SOURCE) != URL_SOURCE:
            raise Reject(400, 'source_type must be "url"')
        for url in urls:  # refuse unsupported types before fetching anything
            name = uploads.url_filename(url)
            if "." in name or url.lower().startswith("file:"):
                uploads.check_extension(name)
        local = is_loopback(ctx.client_host())
        fetched: list[uploads.Saved | str] = []
        try:
            for url in urls:
                saved_url = await uploads.fetch_url(ctx.state, url, ctx.config, local_client=local)
                fetched.append(saved_url if saved_url is not None else url)
        except BaseException:
            for entry in fetched:
                if isinstance(entry, uploads.Saved):
                    ctx.state.discard_media_folder(entry.media_id)
            raise
        for entry in fetched:
            if isinstance(entry, uploads.Saved):
                items.append(await uploads.to_media(ctx.state, sess.session_id, entry))
            else:
                got = entry
                name, kind = uploads.guess_recorded(got)
                media_id, safe, _ = ctx.state.new_media_slot(name)
                ctx.state.discard_media_folder(media_id)
                item = Media(
                    media_id=media_id,
                    session_id=sess.session_id,
                    filename=safe,
                    file_type=kind,
                    rel_path="",
                    size=0,
                    hash="",
                    source_url=got,
                    created_at=time.time(),
                )
                ctx.state.add_media(item)
                items.append(item)
    else:
        raise Reject(400, "Upload as multipart/form-data (field 'files') or JSON with 'urls'")
    now = time.time()
    with ctx.state.changing():
        for item in items:
            info = {
                "media_id": item.media_id,
                "filename": item.filename,
                "file_type": item.file_type,
                "url": item.cdn_path if item.rel_path else item.source_url,
                "cdn_url": item.cdn_path if item.rel_path else item.source_url,
                "size": item.size,
                "hash": item.hash,
                "source": "url" if item.source_url else "upload",
                "uploaded_at": now,
                **{k: v for k, v in item.info.items() if k in PROBED},
            }
            if item.source_url:
                info["source_url"] = item.source_url
            sess.video_infos.append(info)
        sess.updated_at = now
    files = [_file_entry(item, ctx.base_url) for item in items]
    return ok(upload_answer(files))
