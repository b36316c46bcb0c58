"""`supportbot-agent`: manage agent accounts from the command line.

    supportbot-agent add EMAIL NAME [--role agent|editor|admin]   create, or reset the password
    supportbot-agent list                                         every agent, role, state, sessions
    supportbot-agent disable EMAIL / enable EMAIL                 lock an agent out, or let them back
    supportbot-agent team NAME [EMAIL ...]                        create a team, or set its members
    supportbot-agent teams                                        every team and its members
    supportbot-agent capacity EMAIL N|default                     open conversations auto-assignment gives them at once

A password reset and `disable` end every session of that agent; the running hub closes their
open inbox within HUB_AGENT_SESSION_CHECK_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import getpass
import os
import sys
from collections.abc import Awaitable, Callable

from handoff.auth import hash_password
from handoff.settings import HubSettings
from handoff.store import ROLES, NotFound, Store
from knowledge_base.settings import SettingsError

MIN_PASSWORD = 10


async def _with_store(work: Callable[[Store], Awaitable[None]]) -> None:
    store = await Store.open(str(HubSettings.from_env().database_url))
    try:
        await work(store)
    finally:
        await store.close()


async def _add(store: Store, email: str, name: str, password: str, role: str | None) -> None:
    agent = await store.set_agent_password(email, name, hash_password(password), role)
    print(f"agent {agent.email} ({agent.name}, {agent.role}) is ready; any earlier sessions are signed out")


async def _list(store: Store) -> None:
    rows = await store.agents()
    if not rows:
        print("no agents yet: supportbot-agent add EMAIL NAME")
        return
    width = max(len(agent.email) for agent, _ in rows)
    print(f"{'EMAIL':<{width}}  {'NAME':<20}  {'ROLE':<6}  {'STATE':<8}  SESSIONS")
    for agent, sessions in rows:
        state = "disabled" if agent.disabled else "active"
        print(f"{agent.email:<{width}}  {agent.name[:20]:<20}  {agent.role:<6}  {state:<8}  {sessions}")


async def _set_disabled(store: Store, email: str, disabled: bool) -> None:
    agent = await store.set_agent_disabled(email, disabled)
    print(f"agent {agent.email} is {'disabled; every session is signed out' if disabled else 'enabled'}")


async def _team(store: Store, name: str, emails: list[str]) -> None:
    """Create the team if it is new; with emails, they become its members (all of them)."""
    team = await store.team_by_name(name) or await store.create_team(name)
    if emails:
        agents = [await store.agent_by_email(email) for email in emails]
        missing = [email for email, agent in zip(emails, agents, strict=True) if agent is None]
        if missing:
            raise NotFound(f"no agent {', '.join(missing)}")
        team = await store.set_team_members(team.id, {agent.id for agent in agents if agent is not None})
    print(f"team {team.name} (id {team.id}) has {len(team.member_ids)} member(s)")


async def _capacity(store: Store, email: str, capacity: int | None) -> None:
    agent = await store.set_agent_capacity(email, capacity)
    what = f"{agent.capacity} open conversation(s)" if agent.capacity else "the default (HUB_AGENT_CAPACITY)"
    print(f"agent {agent.email} is given up to {what} at once by auto-assignment")


async def _teams(store: Store) -> None:
    names = {agent.id: agent.email for agent, _ in await store.agents()}
    teams = await store.teams()
    if not teams:
        print("no teams yet: supportbot-agent team NAME [EMAIL ...]")
    for team in teams:
        print(f"{team.id:>4}  {team.name:<20}  {', '.join(names.get(a, str(a)) for a in team.member_ids) or '-'}")


def _read_password(password_env: str | None) -> str | None:
    if password_env:
        return os.environ.get(password_env, "")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Again: "):
        print("error: the two passwords differ", file=sys.stderr)
        return None
    return password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supportbot-agent", description="Manage agent accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an agent, or reset an existing agent's password (signs them out)")
    add.add_argument("email")
    add.add_argument("name")
    add.add_argument(
        "--role",
        choices=ROLES,
        help="agent: the inbox; editor: also edits articles; admin: also reads metrics "
        "(default: agent for a new account, unchanged for an existing one)",
    )
    add.add_argument(
        "--password-env", metavar="VAR", help="read the password from this environment variable instead of asking"
    )
    sub.add_parser("list", help="every agent with their role, state and live sessions")
    for command, what in (
        ("disable", "lock an agent out and sign them out everywhere"),
        ("enable", "let a disabled agent sign in again"),
    ):
        sub.add_parser(command, help=what).add_argument("email")
    team = sub.add_parser("team", help="create a team; with emails, set its members (all of them)")
    team.add_argument("name")
    team.add_argument("emails", nargs="*", metavar="EMAIL")
    sub.add_parser("teams", help="every team and its members")
    capacity = sub.add_parser("capacity", help="open conversations auto-assignment gives an agent at once")
    capacity.add_argument("email")
    capacity.add_argument("capacity", help="1 to 100, or 'default' for HUB_AGENT_CAPACITY")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work: Callable[[Store], Awaitable[None]]
    if args.command == "add":
        if "@" not in args.email:
            print("error: the first argument must be the agent's email", file=sys.stderr)
            return 2
        password = _read_password(args.password_env)
        if password is None:
            return 2
        if len(password) < MIN_PASSWORD:
            print(f"error: the password must have at least {MIN_PASSWORD} characters", file=sys.stderr)
            return 2
        work = functools.partial(_add, email=args.email, name=args.name, password=password, role=args.role)
    elif args.command == "list":
        work = _list
    elif args.command == "team":
        if not args.name.strip() or len(args.name.strip()) > 60:
            print("error: a team's name is 1 to 60 characters", file=sys.stderr)
            return 2
        work = functools.partial(_team, name=args.name.strip(), emails=[e.lower() for e in args.emails])
    elif args.command == "teams":
        work = _teams
    elif args.command == "capacity":
        raw = args.capacity.strip().lower()
        if raw != "default" and not (raw.isascii() and raw.isdigit() and 1 <= int(raw[:4]) <= 100):
            print("error: the capacity is 1 to 100, or 'default'", file=sys.stderr)
            return 2
        work = functools.partial(_capacity, email=args.email.lower(), capacity=None if raw == "default" else int(raw))
    else:
        work = functools.partial(_set_disabled, email=args.email, disabled=args.command == "disable")
    try:
        asyncio.run(_with_store(work))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NotFound as exc:
        print(f"error: {exc}; see supportbot-agent list", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
