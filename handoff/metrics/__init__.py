"""The customer-experience metrics feature, registered with one call: `setup(app)`.

- `figures`: the CX figures computed from the store (definitions in the README, "Metrics");
- `api`: `/api/metrics`, `/api/metrics.csv`, `/api/metrics/gaps` (admins; gaps for editors too);
- `dashboard`: `/dashboard`, server-rendered charts;
- `prometheus`: `/metrics`, request latency, gauges, and counters fed by the relay as an observer.

The rest of the hub knows nothing of it beyond this function (handoff/app.py calls it).
"""

from __future__ import annotations

from aiohttp import web

from handoff.app_keys import RELAY_OBSERVERS
from handoff.metrics import api, dashboard, figures, prometheus


def setup(app: web.Application) -> None:
    """Routes, the latency middleware, the gap clusterer, and the Prometheus counters as an
    observer of the relay's handoffs and Rasa errors."""
    hub_metrics = prometheus.HubMetrics()
    app[prometheus.PROMETHEUS] = hub_metrics
    app[RELAY_OBSERVERS].append(hub_metrics)
    app[api.GAPS] = figures.GapClusterer()
    app.middlewares.append(prometheus.request_latency)
    app.router.add_routes(api.routes)
    app.router.add_routes(dashboard.routes)
    app.router.add_routes(prometheus.routes)
