"""The desk's first-response SLA (issue #15): the targets per priority from settings, each queue
item's time left through the hub's real queue API, and attainment per day and per team in the
metrics on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.auth import hash_password
from handoff.metrics import figures as metrics
from handoff.settings import HubSettings, SettingsError
from handoff.sla import SlaTargets, sla_status
from handoff.store import Store
from handoff.store import schema as T
from tests.unit.db_fixtures import database_url, store
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, sign_in

__all__ = ["database_url", "store"]  # fixtures


def test_targets_come_from_settings_and_zero_means_none() -> None:
    settings = HubSettings.from_env({"HUB_SLA_HIGH_SECONDS": "120", "HUB_SLA_LOW_SECONDS": "0"})
    targets = settings.sla_targets
    assert (targets.target("high"), targets.target("normal"), targets.target("low")) == (120, 1800, None)
    assert targets.target("unknown") == 1800  # like the queue, an unknown priority is normal
    with pytest.raises(SettingsError, match="HUB_SLA_NORMAL_SECONDS"):
        HubSettings.from_env({"HUB_SLA_NORMAL_SECONDS": "-5"})
    assert sla_status(targets, "low", 0.0, None, 10**9) is None


def test_the_clock_runs_from_the_handoff_to_the_first_reply() -> None:
    targets = SlaTargets(high=300)
    running = sla_status(targets, "high", 1000.0, None, 1200.0)
    assert running is not None and (running.state, running.seconds_left, running.due_at) == ("running", 100.0, 1300.0)
    breached = sla_status(targets, "high", 1000.0, None, 1301.0)
    assert breached is not None and (breached.state, breached.seconds_left) == ("breached", -1.0)
    met = sla_status(targets, "high", 1000.0, 1300.0, 5000.0)  # on the dot is in time
    assert met is not None and (met.state, met.responded_at) == ("met", 1300.0)
    late = sla_status(targets, "high", 1000.0, 1301.0, 5000.0)
    assert late is not None and late.state == "breached"


async def test_each_queue_item_says_where_it_stands(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, sla_high_seconds=60.0, sla_low_seconds=0.0)))
    db: Store = client.app[STORE]
    agent = await db.create_agent("sla@kestrel.example", "Sla", hash_password(AGENT_PASSWORD))
    ids = {}
    for name, priority in (("fresh", "high"), ("late", "high"), ("answered", "high"), ("no_target", "low")):
        conversation, _ = await db.create_conversation({})
        assert await db.enqueue_handoff(conversation.id, "customer_request", priority, name, "", {})
        ids[name] = conversation.id
    now = time.time()
    async with db.write() as conn:
        for name in ("late", "answered"):
            await conn.execute(
                T.handoffs.update().where(T.handoffs.c.conversation_id == ids[name]).values(queued_at=now - 600)
            )
    await db.claim(ids["answered"], agent.id)
    await db.note_agent_reply(ids["answered"], agent.id)  # ten minutes after the handoff: too late
    await sign_in(client, "sla@kestrel.example")
    items = {i["conversation_id"]: i["sla"] for i in (await (await client.get("/api/agent/queue")).json())["items"]}
    fresh, late, answered = items[ids["fresh"]], items[ids["late"]], items[ids["answered"]]
    assert fresh["state"] == "running" and 50 < fresh["seconds_left"] <= 60 and fresh["target_seconds"] == 60
    assert late["state"] == "breached" and -545 < late["seconds_left"] < -535 and late["responded_at"] is None
    assert answered["state"] == "breached" and answered["responded_at"] is not None
    assert items[ids["no_target"]] is None


async def _handoff(
    db: Store, created: float, priority: str, team_id: int | None, queued: float, replied: float | None
) -> None:
    conversation, _ = await db.create_conversation({})
    handoff = await db.enqueue_handoff(conversation.id, "customer_request", priority, "h", "", {}, team_id)
    assert handoff is not None
    async with db.write() as conn:
        await conn.execute(
            T.conversations.update().where(T.conversations.c.id == conversation.id).values(created_at=created)
        )
        await conn.execute(
            T.handoffs.update()
            .where(T.handoffs.c.id == handoff.id)
            .values(queued_at=queued, first_response_at=replied, claimed_at=replied)
        )


async def test_sla_attainment_per_day_and_per_team(store: Store) -> None:
    cards = await store.create_team("Cards")
    d1 = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    d2 = d1 + 86400
    now = d2 + 1000
    await _handoff(store, d1 + 10, "high", cards.id, d1 + 20, d1 + 20 + 299)  # met
    await _handoff(store, d1 + 30, "high", cards.id, d1 + 40, d1 + 40 + 301)  # breached, replied late
    await _handoff(store, d1 + 50, "normal", None, d1 + 60, None)  # breached: no reply in 30 min
    await _handoff(store, d2 + 10, "normal", None, d2 + 20, d2 + 100)  # met
    await _handoff(store, d2 + 200, "normal", cards.id, now - 60, None)  # running: 29 min left
    await _handoff(store, d2 + 300, "low", None, d2 + 310, None)  # no target for low
    await _handoff(store, d2 + 90000, "high", cards.id, d2 + 90000, None)  # another period
    period = metrics.Period(date(2026, 5, 1), date(2026, 5, 2))
    report = metrics.report(await metrics.load(store, period, now), 72.0, now, SlaTargets(high=300, normal=1800, low=0))
    assert report["sla"] == {
        "targets_seconds": {"high": 300, "normal": 1800, "low": 0},
        "met": 2,
        "breached": 2,
        "running": 1,
        "rate": 0.5,
        "daily": [
            {"date": "2026-05-01", "met": 1, "breached": 2, "running": 0, "rate": 0.3333},
            {"date": "2026-05-02", "met": 1, "breached": 0, "running": 1, "rate": 1.0},
        ],
        "by_team": [
            {"team": "Cards", "met": 1, "breached": 1, "running": 1, "rate": 0.5},
            {"team": "General queue", "met": 1, "breached": 1, "running": 0, "rate": 0.5},
        ],
    }


async def test_the_dashboard_shows_sla_attainment_per_team(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path)))
    db: Store = client.app[STORE]
    await db.create_agent("boss@kestrel.example", "Boss", hash_password(AGENT_PASSWORD), "admin")
    team = await db.create_team("Pay<ments>")
    now = time.time()
    await _handoff(db, now - 100, "high", team.id, now - 90, now - 80)
    await sign_in(client, "boss@kestrel.example")
    page = await (await client.get("/dashboard")).text()
    assert 'data-testid="kpi-sla"' in page and 'data-testid="chart-sla"' in page
    table = page.split('data-testid="table-sla-teams"', 1)[1].split("</table>", 1)[0]
    assert "Pay&lt;ments&gt;" in table and "<ments>" not in table  # escaped
    async with db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(T.handoffs))).scalar_one() == 1
    body = await (await client.get("/api/metrics")).json()
    assert body["sla"]["by_team"] == [{"team": "Pay<ments>", "met": 1, "breached": 0, "running": 0, "rate": 1.0}]
