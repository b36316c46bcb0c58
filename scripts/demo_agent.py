"""Create (or refresh) the demo agent. Its password is generated once into `.env`; there is no
default password anywhere in the code. The secret that signs the links and reply addresses in
customer emails (HUB_LINK_SECRET) is generated the same way, so email works with no set-up."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

from dotenv import dotenv_values, set_key

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handoff.auth import hash_password, verify_password
from handoff.settings import HubSettings
from handoff.store import Store

ENV_FILE = ROOT / ".env"


def generated_secret(name: str) -> None:
    """Write a random secret for `name` into .env unless one is set (in .env or the environment)."""
    values = dotenv_values(ENV_FILE) if ENV_FILE.exists() else {}
    if values.get(name) or os.environ.get(name):
        return
    ENV_FILE.touch()
    set_key(str(ENV_FILE), name, secrets.token_urlsafe(32), quote_mode="never")
    print(f"[setup] generated {name} into .env")


def demo_credentials() -> tuple[str, str, str]:
    values = dotenv_values(ENV_FILE) if ENV_FILE.exists() else {}
    email = values.get("DEMO_AGENT_EMAIL") or "agent@kestrel.example"
    name = values.get("DEMO_AGENT_NAME") or "Alex"
    password = values.get("DEMO_AGENT_PASSWORD") or ""
    if not password:
        password = secrets.token_urlsafe(12)
        ENV_FILE.touch()
        set_key(str(ENV_FILE), "DEMO_AGENT_PASSWORD", password, quote_mode="never")
    return email, name, password


async def main() -> None:
    generated_secret("HUB_LINK_SECRET")
    email, name, password = demo_credentials()
    store = await Store.open(str(HubSettings.from_env().database_url))
    try:
        existing = await store.agent_by_email(email)
        # Only a new or changed password is set: a reset would sign the demo agent out everywhere.
        if existing is None or existing.name != name or not verify_password(existing.password_hash, password):
            await store.set_agent_password(email, name, hash_password(password), role="admin")
    finally:
        await store.close()
    print(f"[setup] demo agent ready: {email} (password in .env, DEMO_AGENT_PASSWORD)")


if __name__ == "__main__":
    asyncio.run(main())
