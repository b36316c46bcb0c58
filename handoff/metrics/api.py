"""The CX metrics API for signed-in agents (definitions in handoff/metrics/figures.py and the README).

GET /api/metrics?from=YYYY-MM-DD&to=YYYY-MM-DD[&gaps=1]   every figure, and a row per day
GET /api/metrics.csv?from=...&to=...                       one row per day (spreadsheet export)
GET /api/metrics/gaps?from=...&to=...                      unanswered questions clustered by meaning

Days are UTC and both ends are included; without dates, the last 30 days. Gaps load the
embedding model on the first request (seconds), so they are computed only when asked.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from handoff import auth
from handoff.app_keys import SETTINGS, STORE
from handoff.errors import error_response
from handoff.metrics import figures as metrics

routes = web.RouteTableDef()
GAPS = web.AppKey("gap_clusterer", metrics.GapClusterer)


def wants_gaps(request: web.Request) -> bool:
    return request.query.get("gaps", "").lower() in ("1", "true", "yes", "on")


def period_of(request: web.Request) -> metrics.Period:
    """Raises metrics.BadPeriod with a message for the person who typed the dates."""
    return metrics.parse_period(request.query.get("from"), request.query.get("to"))


async def period_report(request: web.Request, period: metrics.Period, gaps: bool = False) -> dict[str, Any]:
    now = time.time()
    rows = await metrics.load(request.app[STORE], period, now)
    settings = request.app[SETTINGS]
    report = metrics.report(rows, settings.fcr_window_hours, now, settings.sla_targets)
    if gaps:
        report["gaps"] = await request.app[GAPS].clusters(metrics.unanswered_questions(rows))
    return report


PeriodHandler = Callable[[web.Request, metrics.Period], Awaitable[web.StreamResponse]]


def with_period(handler: PeriodHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Parse `from`/`to` once for every metrics route; a bad date is a 400 that says what to fix."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            period = period_of(request)
        except metrics.BadPeriod as exc:
            return error_response(400, "bad_date", str(exc))
        return await handler(request, period)

    return wrapper


@routes.get("/api/metrics")
@auth.role_required("admin")
@with_period
async def metrics_json(request: web.Request, period: metrics.Period) -> web.StreamResponse:
    return web.json_response(await period_report(request, period, gaps=wants_gaps(request)))


def csv_text(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=metrics.DAILY_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in report["daily"]:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return out.getvalue()


@routes.get("/api/metrics.csv")
@auth.role_required("admin")
@with_period
async def metrics_csv(request: web.Request, period: metrics.Period) -> web.StreamResponse:
    report = await period_report(request, period)
    filename = f"kestrel-metrics-{period.first.isoformat()}-to-{period.last.isoformat()}.csv"
    return web.Response(
        text=csv_text(report),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@routes.get("/api/metrics/gaps")
@auth.role_required("editor")
@with_period
async def metrics_gaps(request: web.Request, period: metrics.Period) -> web.StreamResponse:
    rows = await metrics.load(request.app[STORE], period, time.time())
    questions = metrics.unanswered_questions(rows)
    return web.json_response(
        {
            "period": period.to_json(),
            "unanswered_questions": len(questions),
            "gaps": await request.app[GAPS].clusters(questions),
        }
    )
