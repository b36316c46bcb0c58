"""`supportbot-agent add EMAIL NAME` (asks for the password) and `supportbot-agent list`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from handoff.auth import hash_password
from handoff.settings import HubSettings
from handoff.store import Store
from knowledge_base.settings import SettingsError

MIN_PASSWORD = 10


async def _set_agent(email: str, name: str, password: str) -> None:
    store = await Store.open(str(HubSettings.from_env().database_url))
    try:
        agent = await store.set_agent_password(email, name, hash_password(password))
        print(f"agent {agent.email} ({agent.name}) is ready")
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supportbot-agent", description="Manage agent accounts")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an agent, or reset an existing agent's password")
    add.add_argument("email")
    add.add_argument("name")
    add.add_argument("--password-env", metavar="VAR",
                     help="read the password from this environment variable instead of asking")
    args = parser.parse_args(argv)
    if args.password_env:
        password = os.environ.get(args.password_env, "")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("error: the two passwords differ", file=sys.stderr)
            return 2
    if len(password) < MIN_PASSWORD:
        print(f"error: the password must have at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 2
    if "@" not in args.email:
        print("error: the first argument must be the agent's email", file=sys.stderr)
        return 2
    try:
        asyncio.run(_set_agent(args.email, args.name, password))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
