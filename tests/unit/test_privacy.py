"""Privacy across every store: erasure, export and retention on SQLite and PostgreSQL with Rasa's
real tracker store (written by Rasa's own SQLTrackerStore), checked by direct queries of each
store; secrets hidden at intake; the audit log; the admin and customer routes; the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.auth import hash_password
from handoff.metrics import figures
from handoff.privacy.api import ERASED_CLOSE_CODE
from handoff.privacy.intake import hidden_notice, take_in
from handoff.privacy.rasa_tracker import RasaTrackerStore, TrackerStoreUnavailable
from handoff.privacy.retention import DAY, Retention
from handoff.privacy.service import Actor, BadSubject, Privacy, Subject
from handoff.settings import HubSettings, SettingsError, sqlite_url
from handoff.store import Store, schema
from tests.unit.db_fixtures import database_url, store
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub, hub_settings, receive_until, sign_in, start_conversation
from tests.unit.rasa_trackers import events_of, tracker_store_for, write_with_rasa

T = schema
ROOT = Path(__file__).resolve().parents[2]
CARD = "4111 1111 1111 1111"  # Luhn-valid test card
CONVERSATION_TABLES = ("messages", "handoffs", "ratings", "article_feedback", "kb_queries")


# --- secrets hidden at intake ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kept", "kinds"),
    [
        (f"my card is {CARD} thanks", "my card is [card ending 1111] thanks", ("card",)),
        ("the cvv is 123", "cvv [masked]", ("cvv",)),
        ("my password is hunter2!", "my password is [masked]", ("password",)),
        ("pin: 4921", "pin: [masked]", ("pin",)),
        (f"{CARD}, cvc 999", "[card ending 1111], cvc [masked]", ("card", "cvv")),
    ],
)
def test_each_secret_is_hidden_and_named(typed: str, kept: str, kinds: tuple[str, ...]) -> None:
    intake = take_in(typed, None, False, redact=True)
    assert kept in intake.text and intake.hidden == kinds
    assert "1111 1111" not in intake.text and "hunter2" not in intake.text


def test_ordinary_numbers_and_ibans_are_kept() -> None:
    for text in ("order 1234567890123", "call me on +44 20 7946 0958", "IBAN GB82 WEST 1234 5698 7654 32"):
        assert take_in(text, None, False, redact=True).text == text


def test_what_rasa_gets_is_hidden_too_but_a_button_payload_is_the_bots_own() -> None:
    typed = take_in(f"/{CARD}", CARD, False, redact=True)
    assert typed.bot_text == "[card ending 1111]"
    button = take_in("Yes", "/affirm", True, redact=True)
    assert button.bot_text == "/affirm" and button.hidden == ()


def test_redaction_can_be_turned_off() -> None:
    assert take_in(f"card {CARD}", None, False, redact=False).text == f"card {CARD}"


def test_the_notice_names_what_was_hidden() -> None:
    assert "hidden a card number and a password" in hidden_notice(("card", "password"))


async def test_a_card_number_is_never_stored_sent_or_shown(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")
    await ws.send_json(
        {"type": "message", "client_id": "c1", "text": f"card {CARD} cvv 321 password is s3cret! pin 4921"}
    )
    frames = await receive_until(ws, lambda f: f["type"] == "message" and f["sender"] == "system")
    echoed = next(f for f in frames if f["type"] == "message" and f["sender"] == "customer")
    assert echoed["text"] == "card [card ending 1111] cvv [masked] password is [masked] pin [masked]"
    assert "I've hidden a card number, a security code, a password and a PIN" in frames[-1]["text"]
    async with hub.app[STORE].read() as conn:
        stored = (await conn.execute(sa.select(T.messages.c.text, T.messages.c.bot_text))).all()
    flat = " ".join(f"{row.text} {row.bot_text}" for row in stored)
    assert "4111" not in flat and "321" not in flat and "s3cret" not in flat and "4921" not in flat
    await sign_in(hub)
    detail = await (await hub.get(f"/api/agent/conversations/{conversation['conversation_id']}")).json()
    assert "4111 1111" not in str(detail["messages"])
    await ws.close()


# --- erasure and export across every store -----------------------------------------------------


async def _customer_with_history(store: Store, email: str, conversations: int = 2) -> list[str]:
    """Conversations of one customer with every kind of row: messages, a handoff (resolved, so
    it can be rated), a rating, article feedback and a knowledge-base question."""
    agent = await store.create_agent(f"agent-{email}", "Agent", hash_password(AGENT_PASSWORD))
    ids = []
    for n in range(conversations):
        conversation, _token = await store.create_conversation({"name": "Ana", "email": email})
        await store.append_message(conversation.id, "customer", f"where is my card {n}?", client_id=f"c{n}")
        await store.add_kb_query(conversation.id, f"where is my card {n}?", "none", None, None)
        await store.add_article_feedback(conversation.id, "card-delivery", False)
        await store.enqueue_handoff(
            conversation.id, "customer_request", "normal", "Card", "Ana wants a card", {"customer_email": email}
        )
        await store.claim(conversation.id, agent.id)
        await store.resolve(conversation.id, agent.id)
        await store.add_rating(conversation.id, 4, "quick, thanks Ana here", None)
        ids.append(conversation.id)
    return ids


async def _rows_of(store: Store, ids: list[str]) -> dict[str, int]:
    counts = {}
    async with store.read() as conn:
        for name in CONVERSATION_TABLES:
            table = T.metadata.tables[name]
            query = sa.select(sa.func.count()).select_from(table).where(table.c.conversation_id.in_(ids))
            counts[name] = int((await conn.execute(query)).scalar_one())
        query = sa.select(sa.func.count()).select_from(T.conversations).where(T.conversations.c.id.in_(ids))
        counts["conversations"] = int((await conn.execute(query)).scalar_one())
    return counts


async def test_erasure_and_export_reach_every_store(store: Store, database_url: str, tmp_path: Path) -> None:
    ana = await _customer_with_history(store, "Ana@Example.com")
    bob = await _customer_with_history(store, "bob@example.com", conversations=1)
    tracker_url, rasa_store = tracker_store_for(database_url, tmp_path)
    write_with_rasa(rasa_store, {cid: ["where is my card?"] for cid in ana + bob}, "ana@example.com")
    privacy = Privacy(store, RasaTrackerStore(tracker_url))
    try:
        document = await privacy.export(Subject.parse(email="ana@example.com"), Actor("test"))
        assert sorted(c["id"] for c in document["conversations"]) == sorted(ana)
        first = document["conversations"][0]
        assert first["customer_email"] == "Ana@Example.com" and first["messages"][0]["text"].startswith("where")
        assert first["handoffs"][0]["summary"] == "Ana wants a card" and first["ratings"][0]["score"] == 4
        assert first["article_feedback"][0]["helpful"] is False and first["knowledge_base_questions"]
        assert {"type": "slot", "slot": "customer_email", "value": "ana@example.com"}.items() <= next(
            e for e in first["bot_memory"] if e["type"] == "slot"
        ).items()
        assert "token_hash" not in first

        report = await privacy.erase(Subject.parse(email="ana@example.com"), Actor("test"))
        assert sorted(report.conversations) == sorted(ana)
        assert report.removed["conversations"] == 2 and report.removed["rasa_events"] > 0
        # Nothing of Ana is left, by a direct query of each store; Bob is untouched.
        assert set((await _rows_of(store, ana)).values()) == {0}
        assert await events_of(tracker_url, ana) == []
        assert (await _rows_of(store, bob))["messages"] == 1 and await events_of(tracker_url, bob)
        # Safe to re-run: nothing more to remove, and it says so.
        again = await privacy.erase(Subject.parse(email="ana@example.com"), Actor("test"))
        assert again.conversations == [] and set(again.removed.values()) <= {0}
        # Audited, without the email itself.
        entries = await store.audit_entries("erase")
        assert entries[-1].detail["subject"] == "a***@example.com"
        assert "ana@example.com" not in str([entry.to_json() for entry in entries]).lower()
        assert [entry.action for entry in await store.audit_entries()][:3] == ["erase", "erase", "export"]
    finally:
        await privacy.tracker.close()


async def test_erasing_one_conversation_reaches_rasa_even_when_the_hub_has_no_row_left(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    (conversation_id,) = await _customer_with_history(store, "cy@example.com", conversations=1)
    tracker_url, rasa_store = tracker_store_for(database_url, tmp_path)
    write_with_rasa(rasa_store, {conversation_id: ["hello"]}, "cy@example.com")
    await store.erase_conversations([conversation_id])  # as if an earlier erasure stopped half-way
    tracker = RasaTrackerStore(tracker_url)
    try:
        report = await Privacy(store, tracker).erase(Subject(conversation_id=conversation_id), Actor("test"))
        assert report.removed["rasa_events"] > 0 and await events_of(tracker_url, [conversation_id]) == []
    finally:
        await tracker.close()


async def test_an_unreachable_tracker_store_deletes_nothing(store: Store) -> None:
    ids = await _customer_with_history(store, "dee@example.com", conversations=1)
    tracker = RasaTrackerStore("postgresql+asyncpg://postgres@127.0.0.1:1/rasa")
    with pytest.raises(TrackerStoreUnavailable, match="RASA_TRACKER"):
        await Privacy(store, tracker).erase(Subject(email="dee@example.com"), Actor("test"))
    assert (await _rows_of(store, ids))["messages"] == 1
    await tracker.close()


def test_a_subject_is_an_email_or_a_conversation() -> None:
    for bad in (
        {},
        {"email": "a@b.co", "conversation_id": "x"},
        {"email": "not-an-email"},
        {"conversation_id": "../x"},
    ):
        with pytest.raises(BadSubject):
            Subject.parse(**bad)


# --- retention ---------------------------------------------------------------------------------


async def test_retention_empties_old_conversations_everywhere_and_keeps_the_daily_figures(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    # Eve's first handoff is resolved, and she comes back in a second conversation: first-contact
    # resolution counts one return, found by her email.
    old = await _customer_with_history(store, "eve@example.com", conversations=2)
    waiting, _ = await store.create_conversation({"email": "fay@example.com"})
    await store.append_message(waiting.id, "customer", "a person please", client_id="w1")
    await store.enqueue_handoff(waiting.id, "customer_request", "normal", "x", "y", {})
    tracker_url, rasa_store = tracker_store_for(database_url, tmp_path)
    write_with_rasa(rasa_store, {cid: ["where is my card?"] for cid in [*old, waiting.id]}, "eve@example.com")

    later = time.time() + 400 * DAY  # a fixed clock, 400 days on
    settings = replace(HubSettings(), retention_days=365, retention_batch=1, audit_retention_days=0)
    period = figures.parse_period(None, None, today=figures.day_of(time.time()))
    before = figures.report(await figures.load(store, period, later), settings.fcr_window_hours, later)
    assert before["first_contact_resolution"]["returned"] == 1

    tracker = RasaTrackerStore(tracker_url)
    try:
        report = await Retention(store, tracker, settings, clock=lambda: later, pause_seconds=0).run_once()
    finally:
        await tracker.close()
    assert report.anonymised == 2  # in batches of one; the queued conversation waits for its person
    async with store.read() as conn:
        texts = (await conn.execute(sa.select(T.messages.c.text).where(T.messages.c.conversation_id.in_(old)))).all()
        people = (
            await conn.execute(
                sa.select(T.conversations.c.customer_email, T.conversations.c.customer_name).where(
                    T.conversations.c.id.in_(old)
                )
            )
        ).all()
        summaries = (
            await conn.execute(sa.select(T.handoffs.c.summary).where(T.handoffs.c.conversation_id.in_(old)))
        ).all()
        comments = (
            await conn.execute(sa.select(T.ratings.c.comment).where(T.ratings.c.conversation_id.in_(old)))
        ).all()
    assert {row.text for row in texts} == {""} and set(people) == {(None, None)}
    assert {row.summary for row in summaries} == {""} and {row.comment for row in comments} == {""}
    assert await events_of(tracker_url, old) == []
    assert await events_of(tracker_url, [waiting.id])  # someone is still working on it
    assert (await store.get_conversation(waiting.id)).customer_email == "fay@example.com"
    assert await store.unanswered_questions() == []  # emptied questions leave the gap report

    after = figures.report(await figures.load(store, period, later), settings.fcr_window_hours, later)
    assert after["daily"] == before["daily"]
    assert after["first_contact_resolution"] == before["first_contact_resolution"]
    # Idempotent: nothing left to do.
    tracker = RasaTrackerStore(tracker_url)
    try:
        assert (await Retention(store, tracker, settings, clock=lambda: later).run_once()).anonymised == 0
    finally:
        await tracker.close()
    assert (await store.audit_entries("retention"))[0].detail["anonymised"] == 2


async def test_retention_keeps_recent_conversations_and_zero_keeps_everything(store: Store, tmp_path: Path) -> None:
    ids = await _customer_with_history(store, "gil@example.com", conversations=1)
    tracker = RasaTrackerStore(sqlite_url(tmp_path / "none.sqlite3"))
    soon = time.time() + 10 * DAY
    for days in (365, 0):
        settings = replace(HubSettings(), retention_days=days, audit_retention_days=0)
        assert (await Retention(store, tracker, settings, clock=lambda: soon).run_once()).anonymised == 0
    assert (await store.get_conversation(ids[0])).customer_email == "gil@example.com"
    assert not (tmp_path / "none.sqlite3").exists()  # a tracker store Rasa never made is not created


async def test_the_audit_log_has_its_own_retention(store: Store) -> None:
    await store.audit("test", "read", "c1")
    settings = replace(HubSettings(), retention_days=0, audit_retention_days=30)
    tracker = RasaTrackerStore("sqlite+aiosqlite:///nowhere.sqlite3")
    report = await Retention(store, tracker, settings, clock=lambda: time.time() + 31 * DAY).run_once()
    assert report.audit_entries_deleted == 1 and await store.audit_entries() == []


# --- the routes ----------------------------------------------------------------------------------


async def test_only_admins_erase_export_and_read_the_audit_log(hub: TestClient) -> None:
    await sign_in(hub, "bea@kestrel.example")  # an agent
    for path in ("/api/admin/privacy/erase", "/api/admin/privacy/export"):
        assert (await hub.post(path, json={"email": "x@example.com"})).status == 403
    assert (await hub.get("/api/admin/audit")).status == 403


async def test_an_admin_erasure_closes_the_customers_socket_and_is_audited(hub: TestClient) -> None:
    conversation = await start_conversation(hub, {"name": "Ana", "email": "ana@example.com"})
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")
    await sign_in(hub)  # alex, an admin
    assert (await hub.get(f"/api/agent/conversations/{conversation['conversation_id']}")).status == 200
    bad = await hub.post("/api/admin/privacy/erase", json={"email": "nope"})
    assert bad.status == 400 and "email" in (await bad.json())["error"]["message"]
    exported = await hub.post("/api/admin/privacy/export", json={"email": "ana@example.com"})
    assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert (await exported.json())["conversations"][0]["id"] == conversation["conversation_id"]
    erased = await hub.post("/api/admin/privacy/erase", json={"email": "ANA@example.com"})
    assert erased.status == 200 and (await erased.json())["removed"]["conversations"] == 1
    message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == ERASED_CLOSE_CODE
    audit = (await (await hub.get("/api/admin/audit")).json())["entries"]
    assert [entry["action"] for entry in audit] == ["erase", "export", "read"]
    assert audit[0]["actor"] == "admin 1 <alex@kestrel.example>" and audit[0]["agent_id"] == 1
    only_reads = (await (await hub.get("/api/admin/audit?action=read")).json())["entries"]
    assert [entry["action"] for entry in only_reads] == ["read"]
    assert (await hub.get("/api/admin/audit?action=drop")).status == 400


async def test_a_customer_deletes_their_conversation_but_not_while_a_person_is_on_it(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    cid, token = conversation["conversation_id"], conversation["token"]
    await hub.app[STORE].append_message(cid, "customer", "hi", client_id="c1")
    await hub.app[STORE].enqueue_handoff(cid, "customer_request", "normal", "x", "y", {})
    refused = await hub.post("/api/conversations/delete", json={"token": token})
    assert refused.status == 409 and "once it has ended" in (await refused.json())["error"]["message"]
    await sign_in(hub)
    await hub.post(f"/api/agent/conversations/{cid}/claim")
    await hub.post(f"/api/agent/conversations/{cid}/resolve")
    deleted = await hub.post("/api/conversations/delete", json={"token": token})
    assert deleted.status == 200 and (await deleted.json())["removed"]["messages"] >= 1
    assert (await hub.post("/api/conversations/delete", json={"token": token})).status == 404
    assert (await hub.post("/api/conversations/delete", json={"token": "made-up"})).status == 404
    assert (await hub.post("/api/conversations/delete", data=b"not json")).status == 400
    audit = (await (await hub.get("/api/admin/audit?action=erase")).json())["entries"]
    assert audit[0]["actor"] == "customer" and audit[0]["conversation_id"] == cid
    actions = [
        entry["action"]
        for entry in (await (await hub.get(f"/api/admin/audit?conversation_id={cid}")).json())["entries"]
    ]
    assert actions == ["erase", "resolve", "claim"]


async def test_the_privacy_page_says_what_is_kept_and_for_how_long(hub: TestClient) -> None:
    page = await hub.get("/privacy")
    assert page.status == 200 and "365 days" in await page.text() and "Delete this conversation" in await page.text()


# --- the command line --------------------------------------------------------------------------


def supportbot_privacy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_url(tmp_path / "hub.sqlite3"),
        "RASA_TRACKER_DIALECT": "sqlite",
        "RASA_TRACKER_DB": str(tmp_path / "rasa-tracker.sqlite3"),
    }
    return subprocess.run(
        [sys.executable, "-m", "handoff.privacy_cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_the_cli_exports_and_erases_and_the_hub_closes_the_chat(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, agent_session_check_seconds=0.2)))
    conversation = await start_conversation(client, {"email": "hal@example.com"})
    write_with_rasa(
        {"dialect": "sqlite", "db": str(tmp_path / "rasa-tracker.sqlite3")},
        {conversation["conversation_id"]: ["hello"]},
        "hal@example.com",
    )
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await receive_until(ws, lambda f: f["type"] == "state")

    out = tmp_path / "hal.json"
    exported = supportbot_privacy(tmp_path, "export", "--email", "hal@example.com", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert conversation["conversation_id"] in out.read_text() and '"bot_memory"' in out.read_text()
    erased = supportbot_privacy(tmp_path, "erase", "--email", "hal@example.com")
    assert erased.returncode == 0, erased.stderr
    assert "erased 1 conversation(s) of h***@example.com" in erased.stdout and "rasa_events" in erased.stdout
    message = await ws.receive(timeout=15)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == ERASED_CLOSE_CODE
    audit = supportbot_privacy(tmp_path, "audit")
    assert "erase" in audit.stdout and "cli (" in audit.stdout
    wrong = supportbot_privacy(tmp_path, "erase", "--email", "not an email")
    assert wrong.returncode == 2 and "not an email address" in wrong.stderr


# --- settings ----------------------------------------------------------------------------------


def test_retention_settings_and_where_rasa_keeps_its_trackers() -> None:
    assert HubSettings.from_env({}).retention_days == 365
    with pytest.raises(SettingsError, match="HUB_RETENTION_DAYS"):
        HubSettings.from_env({"HUB_RETENTION_DAYS": "-1"})
    relative = HubSettings.from_env({"RASA_TRACKER_DB": "trackers.db"})
    assert str(relative.rasa_tracker_url).endswith("/bot/trackers.db")
    pg = HubSettings.from_env(
        {"RASA_TRACKER_DIALECT": "postgresql", "RASA_TRACKER_DB": "rasa", "RASA_TRACKER_PASSWORD": "p@ss"}
    )
    assert str(pg.rasa_tracker_url) == "postgresql+asyncpg://postgres:p%40ss@127.0.0.1:5432/rasa"
    assert "p@ss" not in repr(pg)
