"""Prometheus metrics of the hub, served at GET /metrics in the text format (prometheus-client).

- supportbot_http_request_duration_seconds{method, route}: latency of every HTTP request by route
  template (an aiohttp middleware; WebSocket sessions are left out, they last as long as the chat),
  and supportbot_http_requests_total{method, route, status}.
- supportbot_queue_length, supportbot_active_conversations{state}, supportbot_agents_online,
  supportbot_customer_connections: gauges computed when scraped.
- supportbot_handoffs_total{reason}, supportbot_rasa_errors_total{code}: counters kept by the relay
  (per process; they start at zero when the hub starts, which Prometheus' rate() handles).

/metrics needs no session but answers only requests from the loopback address that were not
forwarded by a proxy, unless HUB_METRICS_PUBLIC=true.
"""

from __future__ import annotations

import ipaddress
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from handoff.app_keys import FANOUT, RASA, SETTINGS, STORE
from handoff.contract import REASONS
from handoff.errors import error_response

#: a conversation in the bot's hands counts as active for this long after its last message
ACTIVE_SECONDS = 30 * 60
#: the reasons the bot and the hub send (handoff/contract.py); anything else is "other"
KNOWN_REASONS = tuple(REASONS)
RASA_ERROR_CODES = ("rasa_error", "rasa_timeout", "rasa_unreachable", "rasa_busy")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
routes = web.RouteTableDef()


class HubMetrics:
    """One registry per app (tests create many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.request_seconds = Histogram(
            "supportbot_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "supportbot_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.queue_length = Gauge("supportbot_queue_length", "Handoffs waiting in the queue for an agent", registry=r)
        self.active_conversations = Gauge(
            "supportbot_active_conversations",
            "Conversations queued or with an agent, or with a message in the last 30 minutes, by state",
            ["state"],
            registry=r,
        )
        self.agents_online = Gauge("supportbot_agents_online", "Agents with the inbox open", registry=r)
        self.customer_connections = Gauge("supportbot_customer_connections", "Open customer WebSockets", registry=r)
        self.rasa_in_flight = Gauge(
            "supportbot_rasa_turns_in_flight", "Turns sent to a Rasa process and not yet answered", ["rasa"], registry=r
        )
        self.rasa_waiting = Gauge(
            "supportbot_rasa_turns_waiting",
            "Turns waiting in the hub for one of a Rasa process's HUB_RASA_MAX_IN_FLIGHT slots",
            ["rasa"],
            registry=r,
        )
        self.handoffs = Counter(
            "supportbot_handoffs", "Conversations handed to the agent queue, by reason", ["reason"], registry=r
        )
        self.rasa_errors = Counter(
            "supportbot_rasa_errors", "Rasa down, too slow or answering an error, by kind", ["code"], registry=r
        )
        for reason in (*KNOWN_REASONS, "other"):
            self.handoffs.labels(reason=reason)
        for code in RASA_ERROR_CODES:
            self.rasa_errors.labels(code=code)

    def handoff_queued(self, reason: str) -> None:
        self.handoffs.labels(reason=reason if reason in KNOWN_REASONS else "other").inc()

    def rasa_error(self, code: str) -> None:
        self.rasa_errors.labels(code=code if code in RASA_ERROR_CODES else "rasa_error").inc()


PROMETHEUS = web.AppKey("prometheus", HubMetrics)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app.get(PROMETHEUS)
    if metrics is None:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            route = _route(request)
            metrics.request_seconds.labels(method=request.method, route=route).observe(time.perf_counter() - started)
            metrics.requests.labels(method=request.method, route=route, status=str(status)).inc()


def scrape_allowed(request: web.Request) -> bool:
    """Loopback only, and not forwarded by a proxy on this machine, unless HUB_METRICS_PUBLIC=true."""
    if request.app[SETTINGS].metrics_public:
        return True
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers or "X-Real-IP" in request.headers:
        return False
    try:
        address = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
    return address.is_loopback


@routes.get("/metrics")
async def metrics_endpoint(request: web.Request) -> web.StreamResponse:
    if not scrape_allowed(request):
        return error_response(
            403, "forbidden", "/metrics answers only the loopback address; set HUB_METRICS_PUBLIC=true to expose it."
        )
    metrics = request.app[PROMETHEUS]
    live = await request.app[STORE].live_counts(time.time() - ACTIVE_SECONDS)
    metrics.queue_length.set(live["queue_length"])
    for state in ("bot", "queued", "agent", "resolved"):
        metrics.active_conversations.labels(state=state).set(live["active_conversations"].get(state, 0))
    metrics.agents_online.set(request.app[FANOUT].agents_online())
    metrics.customer_connections.set(request.app[FANOUT].customer_connections())
    load = request.app[RASA].limiter.load()
    for url in request.app[SETTINGS].rasa_urls:
        metrics.rasa_in_flight.labels(rasa=url).set(load.get(url, {}).get("in_flight", 0))
        metrics.rasa_waiting.labels(rasa=url).set(load.get(url, {}).get("waiting", 0))
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
