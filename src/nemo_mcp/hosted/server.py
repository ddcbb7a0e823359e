"""The hosted worker: the MCP server with bearer authentication in front, one studio per user,
operations endpoints, JSON logs, and a graceful shutdown that hands render leases back.

    /mcp                          streamable HTTP (stateless, SSE answers); a Bearer required
    /.well-known/oauth-protected-resource/mcp   RFC 9728 metadata (the SDK's)
    /healthz /readyz /metrics     liveness, readiness (the database answers), Prometheus
    /link                         (jwt mode) link the caller's NemoVideo account once

Any number of workers run side by side behind a load balancer: they share only the database
(and Redis, when set). Stopping one (SIGTERM, SIGINT) stops taking requests, lets those in
flight finish, then closes every studio: each hands its render leases back, and another worker
resumes those renders at its next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nemo_mcp.config import Settings
from nemo_mcp.errors import NemoError
from nemo_mcp.hosted.auth import IdentityProviderTokens, NemoVideoTokens
from nemo_mcp.hosted.metrics import Metrics
from nemo_mcp.hosted.options import HostedOptions
from nemo_mcp.hosted.studios import HostedStudios
from nemo_mcp.hosted.uploads import UploadLinks, add_upload_links
from nemo_mcp.mcp.server import build_server
from nemo_mcp.store import open_store

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 20  # requests in flight get this long to finish on shutdown


class _Holder:
    """The worker's studios, once the app's lifespan has opened them."""

    studios: HostedStudios | None = None


def build_hosted(settings: Settings, options: HostedOptions) -> tuple[MCPServer, Any]:
    """The MCP server for hosted mode and its token verifier."""
    settings = settings.with_(hosted=True)
    holder = _Holder()
    metrics = Metrics()

    class Verifier:
        """Chooses the configured way to check bearers once the studios are open."""

        impl: NemoVideoTokens | IdentityProviderTokens | None = None

        async def verify_token(self, token: str) -> Any:
            if self.impl is None:
                if holder.studios is None:
                    return None
                kind = NemoVideoTokens if options.auth == "nemovideo" else IdentityProviderTokens
                self.impl = kind(holder.studios, options)
            try:
                return await self.impl.verify_token(token)
            except NemoError as err:
                metrics.upstream_error(err.kind)
                log.warning("checking a bearer token failed: %s", err.kind)
                return None

    verifier = Verifier()
    bus = None
    background = []
    if settings.redis_url:
        from nemo_mcp.hosted.events import RedisSubscriptionBus

        bus = RedisSubscriptionBus(settings.redis_url)
        background.append(bus.run)

    @asynccontextmanager
    async def studios_factory(_settings: Settings) -> AsyncIterator[Any]:
        store = open_store(settings)
        try:
            async with HostedStudios.open(settings, options, store, background) as studios:
                studios.job_feed = bus
                holder.studios = studios
                try:
                    yield studios
                finally:
                    holder.studios = None
                    log.info("shutting down: closing studios, handing render leases back")
        finally:
            store.close()

    auth = AuthSettings(
        issuer_url=options.issuer_url,  # type: ignore[arg-type]
        resource_server_url=options.public_url,  # type: ignore[arg-type]
        validate_token_resource=False,  # the verifiers check audience themselves
    )
    mcp = build_server(
        settings,
        studio_factory=studios_factory,
        bus=bus,
        studio_at_start=True,  # readiness, upload links and metrics read the studios
        save_tool_list=False,  # nothing on the server's disk
        auth=auth,
        token_verifier=verifier,
    )
    assert settings.token_key is not None  # HostedOptions.from_env insists on one
    links = UploadLinks(settings.token_key, options.public_url.rsplit("/", 1)[0])
    add_upload_links(mcp, links, lambda: holder.studios)
    metrics.instrument(mcp, lambda: holder.studios)

    @mcp.custom_route("/healthz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @mcp.custom_route("/readyz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def readyz(_request: Request) -> Response:
        studios = holder.studios
        ping = getattr(studios.database, "ping", None) if studios is not None else None
        ready = studios is not None and (ping is None or ping())
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @mcp.custom_route("/metrics", methods=["GET"])  # type: ignore[untyped-decorator]
    async def metrics_route(_request: Request) -> Response:
        body, content_type = metrics.render(holder.studios)
        return Response(body, media_type=content_type)

    @mcp.custom_route("/link", methods=["POST"])  # type: ignore[untyped-decorator]
    async def link(request: Request) -> Response:
        impl = verifier.impl
        if not isinstance(impl, IdentityProviderTokens):
            return JSONResponse({"error": "linking is for NEMO_MCP_AUTH=jwt"}, status_code=404)
        bearer = request.headers.get("authorization", "")
        if not bearer.lower().startswith("bearer "):
            return JSONResponse({"error": "send your access token as a Bearer"}, 401)
        try:
            body = await request.json()
            nemo_token = str(body["nemovideo_token"])
            await impl.link_account(bearer[7:].strip(), nemo_token)
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": 'send {"nemovideo_token": "..."}'}, status_code=400)
        except NemoError as err:
            return JSONResponse(err.to_dict(), status_code=err.status or 502)
        return JSONResponse({"linked": True})

    return mcp, verifier


def hosted_app(
    settings: Settings,
    options: HostedOptions,
    host: str,
    port: int,
    allowed_hosts: Sequence[str] = (),
) -> Starlette:
    from urllib.parse import urlsplit

    from nemo_mcp.mcp.hostrules import security_settings

    mcp, _ = build_hosted(settings, options)
    public = urlsplit(options.public_url).netloc
    security = security_settings(host, port, [*allowed_hosts, public])
    return mcp.streamable_http_app(
        stateless_http=True, json_response=False, transport_security=security, host=host
    )


def serve_hosted(
    *,
    host: str,
    port: int,
    settings: Settings,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Run one hosted worker until SIGTERM or SIGINT (see the module docstring)."""
    import uvicorn

    from nemo_mcp.hosted.logs import json_logging

    json_logging(settings.log_level)
    options = HostedOptions.from_env(settings, host, port)
    app = hosted_app(settings, options, host, port, allowed_hosts)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        lifespan="on",
    )
    uvicorn.Server(config).run()
