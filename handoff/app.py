"""The hub's app factory: `create_app(settings) -> web.Application`."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import WSCloseCode, web

from handoff import (
    agent_sessions,
    articles_api,
    assignment,
    cluster,
    gateway,
    help_center,
    inbox_api,
    metrics,
    pages,
    replies_api,
    search_api,
    studio,
    suggestions_api,
    teams_api,
)
from handoff.app_keys import (
    ADDRESS_CONVERSATION_LIMITER,
    ADDRESS_MESSAGE_LIMITER,
    ADDRESS_SOCKET_LIMITER,
    CLOCK,
    FANOUT,
    MAILER,
    RASA,
    RATE_LIMITER,
    RELAY,
    RELAY_OBSERVERS,
    SETTINGS,
    STORE,
)
from handoff.kb_access import LIVE_SEARCH, LiveSearch
from handoff.mail import api as mail_api
from handoff.mail import outbox, receiver
from handoff.openapi import openapi_document
from handoff.privacy import api as privacy_api
from handoff.rasa_client import RasaClient
from handoff.rate_limit import limiter
from handoff.relay import Relay
from handoff.security_headers import add_security_headers
from handoff.settings import HubSettings
from handoff.store import Store

log = logging.getLogger(__name__)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = await Store.open(str(app[SETTINGS].database_url))
    app[STORE] = store
    yield
    await store.close()


async def _mail_ctx(app: web.Application) -> AsyncIterator[None]:
    """The mailer and its outbox sender (handoff/mail/outbox.py), before the relay that uses it."""
    settings = app[SETTINGS]
    mailer = outbox.Mailer(settings, app[STORE], app[FANOUT])
    app[MAILER] = mailer
    if not mailer.customer_mail_enabled:
        log.warning(
            "mail: HUB_LINK_SECRET is not set, so customers get no email (replies, transcripts) and replies by "
            "email are refused; set it in .env (make run generates one) to turn customer email on"
        )
    async with outbox.running(mailer):
        yield


async def _rasa_ctx(app: web.Application) -> AsyncIterator[None]:
    rasa = app[RASA]
    await rasa.start()
    app[RELAY] = Relay(
        app[SETTINGS],
        app[STORE],
        rasa,
        app[FANOUT],
        app[RELAY_OBSERVERS],
        app[MAILER],
        app[CLOCK],
        locks=cluster.conversation_locks(app[SETTINGS], app[cluster.REDIS]),
    )
    await app[RELAY].resume_bot_turns()  # customer messages a killed hub stored but never answered
    yield
    await app[RELAY].close()
    await rasa.close()


async def _assignment_ctx(app: web.Application) -> AsyncIterator[None]:
    """Auto-assignment (HUB_AUTO_ASSIGN), after the relay it claims through."""
    if not app[SETTINGS].auto_assign:
        yield
        return
    assigner = assignment.Assigner(app[SETTINGS], app[STORE], app[FANOUT], app[RELAY])
    async with assignment.running(app, assigner):
        yield


async def _inbound_smtp_ctx(app: web.Application) -> AsyncIterator[None]:
    """The embedded SMTP receiver for replies (HUB_INBOUND_SMTP_PORT), after the relay it delivers to."""
    settings = app[SETTINGS]
    if not settings.inbound_smtp_port:
        yield
        return
    if not settings.link_secret:
        log.warning("mail: HUB_INBOUND_SMTP_PORT is set but HUB_LINK_SECRET is not; the SMTP receiver stays off")
        yield
        return
    async with receiver.listening(app, settings.inbound_smtp_host, settings.inbound_smtp_port):
        yield


async def _close_sockets(app: web.Application) -> None:
    for ws in list(app[FANOUT].all_sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def health(request: web.Request) -> web.StreamResponse:
    """Liveness of the hub and what it depends on (used by `make run`, HAProxy and tests);
    `bus`: whether this hub hears the others (null with one hub)."""
    rasa = await request.app[RASA].health()
    return web.json_response(
        {
            "status": "ok",
            "rasa": rasa,
            # per Rasa process: turns sent and not yet answered, and turns waiting in the hub for a slot
            "rasa_load": request.app[RASA].limiter.load(),
            "agents_online": request.app[FANOUT].agents_online(),
            "customer_connections": request.app[FANOUT].customer_connections(),
            "bus": cluster.bus_up(request.app),
        }
    )


async def health_of_hub(request: web.Request) -> web.StreamResponse:
    """The hub alone, for a load balancer's frequent checks (HAProxy: deploy/haproxy.cfg): it
    answers, and `bus` says whether it hears the other hubs. Unlike /health it asks Rasa nothing,
    so a slow Rasa never takes every hub out of the balancer."""
    return web.json_response({"status": "ok", "bus": cluster.bus_up(request.app)})


async def openapi(_request: web.Request) -> web.StreamResponse:
    return web.json_response(openapi_document())


def create_app(
    settings: HubSettings,
    rasa: RasaClient | None = None,
    rebuilds: articles_api.IndexRebuilds | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """`clock`: the time business hours are judged by (tests pass a fixed one)."""
    app = web.Application(client_max_size=64 * 1024)
    app.on_response_prepare.append(add_security_headers)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[RELAY_OBSERVERS] = []
    cluster.setup(app, settings)
    redis, prefix = app[cluster.REDIS], settings.redis_prefix
    app[FANOUT] = cluster.fanout(settings, redis, app[cluster.HUB_ID])
    app[RASA] = rasa or RasaClient(
        settings.rasa_urls, settings.rasa_timeout_seconds, settings.rasa_max_in_flight, settings.rasa_wait_seconds
    )
    app[RATE_LIMITER] = limiter(
        redis, prefix, "conversation-messages", settings.rate_limit_messages, settings.rate_limit_window_seconds
    )
    app[ADDRESS_CONVERSATION_LIMITER] = limiter(
        redis, prefix, "address-conversations", settings.address_conversations_per_hour, 3600
    )
    app[ADDRESS_MESSAGE_LIMITER] = limiter(redis, prefix, "address-messages", settings.address_messages_per_minute, 60)
    app[ADDRESS_SOCKET_LIMITER] = limiter(redis, prefix, "address-sockets", settings.socket_opens_per_minute, 60)
    app.cleanup_ctx.append(cluster.joined)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_mail_ctx)
    app.cleanup_ctx.append(_rasa_ctx)
    app.cleanup_ctx.append(_assignment_ctx)
    app.cleanup_ctx.append(cluster.sweeping)
    app.cleanup_ctx.append(_inbound_smtp_ctx)
    app.cleanup_ctx.append(agent_sessions.watch_sessions)
    app[agent_sessions.LOGIN_GUARD] = agent_sessions.LoginGuard.create(
        settings.login_attempts_per_address, settings.login_failures_per_account, redis, prefix
    )
    app.on_shutdown.append(_close_sockets)
    app.router.add_routes(gateway.routes)
    app.router.add_routes(inbox_api.routes)
    app.router.add_routes(replies_api.routes)
    app.router.add_routes(teams_api.routes)
    app.router.add_routes(search_api.routes)
    app.router.add_routes(pages.routes)
    app[pages.ARTICLE_PATHS] = pages.ArticlePaths()
    app[articles_api.REBUILDS] = rebuilds or articles_api.IndexRebuilds()
    app.router.add_routes(articles_api.routes)
    app.router.add_routes(mail_api.routes)
    app[LIVE_SEARCH] = LiveSearch(lambda: app[articles_api.REBUILDS].kb_settings)
    studio.setup(app)
    app.router.add_routes(suggestions_api.routes)  # after studio.setup: it uses the studio's catalog
    app.router.add_routes(help_center.routes)
    metrics.setup(app)
    privacy_api.setup(app)
    app.router.add_get("/health", health)
    app.router.add_get("/health/hub", health_of_hub)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_static("/static/", pages.STATIC_DIR, follow_symlinks=False)
    return app
