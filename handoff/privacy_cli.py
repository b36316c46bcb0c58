"""`supportbot-privacy`: a customer's data across every store, from the command line.

    supportbot-privacy export --email x@y [--out FILE]     everything held about them, as JSON
    supportbot-privacy export --conversation ID
    supportbot-privacy erase --email x@y                   delete it from the hub and Rasa's tracker store
    supportbot-privacy erase --conversation ID
    supportbot-privacy retention                           run the retention job once, now
    supportbot-privacy audit [--action erase] [--conversation ID] [--limit N]

Every export and erasure is in the audit log under "cli (<your user name>)". A running hub closes
an erased conversation's open chat within HUB_AGENT_SESSION_CHECK_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from handoff.privacy.rasa_tracker import RasaTrackerStore, TrackerStoreUnavailable
from handoff.privacy.retention import Retention
from handoff.privacy.service import Actor, BadSubject, Privacy, Subject
from handoff.settings import HubSettings
from handoff.store import AUDIT_ACTIONS, Store
from knowledge_base.environment import SettingsError

Work = Callable[[Store, RasaTrackerStore, HubSettings], Awaitable[None]]


async def _with_stores(work: Work) -> None:
    settings = HubSettings.from_env()
    store = await Store.open(str(settings.database_url))
    tracker = RasaTrackerStore(str(settings.rasa_tracker_url))
    try:
        await work(store, tracker, settings)
    finally:
        await tracker.close()
        await store.close()


def _actor() -> Actor:
    return Actor(f"cli ({getpass.getuser()})")


def _export(subject: Subject, out: Path | None) -> Work:
    async def work(store: Store, tracker: RasaTrackerStore, _settings: HubSettings) -> None:
        document = await Privacy(store, tracker).export(subject, _actor())
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if out is None:
            print(text)
        else:
            out.write_text(text + "\n", encoding="utf-8")
            print(f"wrote {len(document['conversations'])} conversation(s) to {out}", file=sys.stderr)

    return work


def _erase(subject: Subject) -> Work:
    async def work(store: Store, tracker: RasaTrackerStore, _settings: HubSettings) -> None:
        report = await Privacy(store, tracker).erase(subject, _actor())
        print(f"erased {len(report.conversations)} conversation(s) of {report.subject}")
        for table, count in report.removed.items():
            print(f"  {table:<18} {count:>7} row(s) removed")
        if not report.conversations:
            print("  nothing was held (or it was erased before)")

    return work


async def _retention(store: Store, tracker: RasaTrackerStore, settings: HubSettings) -> None:
    if settings.retention_days == 0:
        print("HUB_RETENTION_DAYS is 0: conversations are kept; only the audit log is pruned")
    # An operator's run goes at full speed; the hub's own runs yield (HUB_RETENTION_DUTY).
    report = await Retention(store, tracker, settings, duty=1.0).run_once()
    print(
        f"anonymised {report.anonymised} conversation(s) older than {settings.retention_days} days; "
        f"{report.audit_entries_deleted} audit entr(y/ies) older than {settings.audit_retention_days} days deleted"
    )
    for table, count in report.removed.items():
        print(f"  {table:<18} {count:>7} row(s)")


def _audit(action: str | None, conversation_id: str | None, limit: int) -> Work:
    async def work(store: Store, _tracker: RasaTrackerStore, _settings: HubSettings) -> None:
        for entry in await store.audit_entries(action, None, conversation_id, None, limit):
            when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            target = entry.conversation_id or "-"
            print(f"{when}Z  {entry.action:<15} {target:<34} {entry.actor}  {json.dumps(entry.detail)}")

    return work


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot-privacy", description="A customer's data across every store")
    sub = parser.add_subparsers(dest="command", required=True)
    for command, what in (
        ("export", "print (or --out) everything held about a customer, as JSON"),
        ("erase", "delete a customer's conversations from the hub and Rasa's tracker store"),
    ):
        one = sub.add_parser(command, help=what)
        who = one.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="every conversation with this customer email")
        who.add_argument("--conversation", help="one conversation, by id")
        if command == "export":
            one.add_argument("--out", type=Path, help="write the JSON here instead of printing it")
    sub.add_parser("retention", help="anonymise conversations older than HUB_RETENTION_DAYS now")
    audit = sub.add_parser("audit", help="the audit log, newest first")
    audit.add_argument("--action", choices=AUDIT_ACTIONS)
    audit.add_argument("--conversation")
    audit.add_argument("--limit", type=int, default=50)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        work: Work
        if args.command in ("export", "erase"):
            subject = Subject.parse(args.email, args.conversation)
            work = _export(subject, args.out) if args.command == "export" else _erase(subject)
        elif args.command == "retention":
            work = _retention
        else:
            work = _audit(args.action, args.conversation, args.limit)
        asyncio.run(_with_stores(work))
    except (SettingsError, BadSubject) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrackerStoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
