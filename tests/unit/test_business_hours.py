"""Business hours as pure functions of a fixed clock: open or not, when a person is back and how
the customer is told, wait estimates that count only open hours, and settings that say how to
write them when they are wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import RELAY, STORE
from handoff.auth import hash_password
from handoff.business_hours import in_words, parse
from handoff.contract import HandoffPayload
from handoff.settings import HubSettings, SettingsError
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, receive_until, sign_in, start_conversation

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = parse("mon-fri 09:00-17:30; sat 10:00-14:00", "Europe/Berlin", ["2026-12-25", "2026-12-28"])


def at(text: str) -> datetime:
    """A local time in Berlin (2026-12-01 is a Tuesday)."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("now", "is_open", "back"),
    [
        ("2026-12-01 08:59", False, "today at 9:00"),
        ("2026-12-01 09:00", True, "today at 9:00"),
        ("2026-12-01 17:29", True, "today at 17:29"),
        ("2026-12-01 17:30", False, "tomorrow at 9:00"),  # the end of a span is closed
        ("2026-12-01 23:50", False, "tomorrow at 9:00"),
        ("2026-12-04 18:00", False, "tomorrow at 10:00"),  # Friday evening: Saturday's short hours
        ("2026-12-05 14:00", False, "on Monday at 9:00"),  # Saturday afternoon: closed on Sunday
        ("2026-12-24 18:00", False, "on Saturday at 10:00"),  # the 25th is a holiday
        ("2026-12-26 15:00", False, "on Tuesday at 9:00"),  # Sunday, then Monday the 28th is a holiday too
    ],
)
def test_open_or_not_and_when_a_person_is_back(now: str, is_open: bool, back: str) -> None:
    moment = at(now)
    assert HOURS.is_open(moment) is is_open
    opening = HOURS.next_open(moment)
    assert opening is not None
    assert in_words(moment, opening, BERLIN) == back


def test_more_than_a_week_away_names_the_date() -> None:
    hours = parse("mon 09:00-10:00", "Europe/Berlin", ["2026-12-07"])
    now = at("2026-12-01 12:00")
    assert in_words(now, hours.next_open(now), BERLIN) == "on 14 December at 9:00"


def test_the_time_zone_and_daylight_saving_follow_the_wall_clock() -> None:
    """9:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer."""
    assert HOURS.is_open(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    assert not HOURS.is_open(datetime(2026, 12, 1, 7, 59, tzinfo=UTC))
    assert HOURS.is_open(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("now", "open_seconds", "wall_seconds"),
    [
        ("2026-12-01 10:00", 600, 600),  # open: the estimate as it is
        ("2026-12-01 17:25", 600, 5 * 60 + 15.5 * 3600 + 5 * 60),  # 5 min today, the rest tomorrow at 9:00
        ("2026-12-01 20:00", 120, 13 * 3600 + 120),  # closed: from tomorrow's opening
        ("2026-12-05 13:00", 7200, 45 * 3600),  # Saturday 13:00: one hour, then Monday 9:00-10:00
    ],
)
def test_a_wait_estimate_counts_only_open_hours(now: str, open_seconds: float, wall_seconds: float) -> None:
    assert HOURS.wall_seconds_for(at(now), open_seconds) == pytest.approx(wall_seconds)


def test_no_hours_means_always_open() -> None:
    always = parse("", "UTC", [])
    now = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert always.always_open and always.is_open(now) and always.next_open(now) == now
    assert always.wall_seconds_for(now, 300) == 300


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("HUB_BUSINESS_HOURS", "weekdays 9-5", "mon-fri 09:00-17:30"),
        ("HUB_BUSINESS_HOURS", "mon-fri 17:00-09:00", "24-hour clock"),
        ("HUB_BUSINESS_HOURS", "fri-mon 09:00-17:00", "days mon..sun"),
        ("HUB_TIME_ZONE", "Mars/Olympus", "IANA name"),
        ("HUB_HOLIDAYS", "25.12.2026", "YYYY-MM-DD"),
        ("SMTP_URL", "mail.example.com:587", "smtp://user:password@host:587"),
        ("SMTP_URL", "smtp://mail.example.com:port", "not a number"),
    ],
)
def test_a_malformed_setting_says_how_to_write_it(key: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as refused:
        HubSettings.from_env({key: value})
    assert key in str(refused.value) and words in str(refused.value)


# --- the hub, with a fixed clock ---------------------------------------------------------------

SATURDAY_AFTERNOON = at("2026-12-05 15:00").timestamp()
TUESDAY_MORNING = at("2026-12-01 10:00").timestamp()


async def hub_at(aiohttp_client: Any, tmp_path: Path, moment: float) -> TestClient:
    settings = hub_settings(
        tmp_path,
        business_hours="mon-fri 09:00-17:30; sat 10:00-14:00",
        time_zone="Europe/Berlin",
        holidays=("2026-12-25",),
    )
    return await aiohttp_client(create_app(settings, clock=lambda: moment))


async def handed_off(client: TestClient, metadata: dict[str, str], payload: HandoffPayload | None = None) -> list[Any]:
    """A customer hands off (Rasa is down: bot_unavailable), or the relay queues `payload`; the frames they got."""
    conversation = await start_conversation(client, metadata)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    await receive_until(ws, lambda f: f["type"] == "state")
    if payload is None:
        await ws.send_json({"type": "message", "client_id": "m1", "text": "my card has not come"})
    else:
        await client.app[RELAY].enqueue(conversation["conversation_id"], payload)
    frames = await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await ws.close()
    return frames


async def test_outside_hours_the_customer_is_told_when_a_person_is_back_and_the_wait_counts_open_hours(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await hub_at(aiohttp_client, tmp_path, SATURDAY_AFTERNOON)
    frames = await handed_off(client, {"email": "ana@example.com"})
    notices = [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "system"]
    assert (
        "Our team is away right now and back on Monday at 9:00. A person will answer you then, here or by email "
        "at ana@example.com if you have left."
    ) in notices
    state = frames[-1]
    assert state["opens"] == "on Monday at 9:00"
    # Saturday 15:00 to Monday 9:00 is closed; then the default estimate (120 s, one customer, no agent).
    assert state["eta_seconds"] == (24 + 18) * 3600 + 120


async def test_a_security_case_is_answered_around_the_clock_with_its_own_message(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await hub_at(aiohttp_client, tmp_path, SATURDAY_AFTERNOON)
    payload = HandoffPayload("sensitive_topic", "high", "Card stolen", "The customer's card was stolen.")
    frames = await handed_off(client, {"email": "ana@example.com"}, payload)
    notices = [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "system"]
    assert any(text.startswith("Security matters are handled around the clock") for text in notices), notices
    assert not any("back on Monday" in text for text in notices)
    assert "opens" not in frames[-1] and frames[-1]["eta_seconds"] == 120


async def test_within_hours_nothing_changes(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await hub_at(aiohttp_client, tmp_path, TUESDAY_MORNING)
    frames = await handed_off(client, {})
    notices = [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "system"]
    assert (
        "No one from our team is online right now. A person will follow up by email once you leave your address here."
        in notices
    )
    assert "opens" not in frames[-1] and frames[-1]["eta_seconds"] == 120


async def test_an_agent_signed_in_outside_hours_answers_now(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await hub_at(aiohttp_client, tmp_path, SATURDAY_AFTERNOON)
    await client.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD))
    await sign_in(client)
    inbox = await client.ws_connect("/api/agent/ws")
    await receive_until(inbox, lambda f: f["type"] == "agents_online" and f["count"] == 1)
    frames = await handed_off(client, {"email": "ana@example.com"})
    notices = [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "system"]
    assert not any("away" in text for text in notices), notices
    assert "opens" not in frames[-1] and frames[-1]["eta_seconds"] == 120
    await inbox.close()
