"""Wait until Rasa, the action server and the hub answer their health checks, then print where
everything is. Stays alive afterwards (honcho stops the stack when any process exits)."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.settings import ActionSettings
from handoff.mail.sender import SmtpServer
from handoff.settings import HubSettings

TIMEOUT_SECONDS = 300


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def mail_destination(hub: HubSettings) -> str:
    """Where the hub's emails go (README, "Email out"): .eml files unless SMTP_URL is set."""
    if not hub.smtp_url:
        return f"written as .eml files to {hub.mail_dir}/ (set SMTP_URL to send)"
    server = SmtpServer.from_url(str(hub.smtp_url))
    return f"sent through {server.host}:{server.port}"


def main() -> int:
    hub = HubSettings.from_env()
    actions = ActionSettings.from_env()
    checks = {
        "Rasa server": [f"{url}/" for url in hub.rasa_urls],
        "action server + knowledge base": [f"http://{actions.host}:{actions.port}/kb/health"],
        "hub": [f"http://{hub.host}:{hub.port}/health"],
    }
    started = time.monotonic()
    pending = dict(checks)
    last_report = 0.0
    while pending:
        for name, urls in list(pending.items()):
            if all(answers(u) for u in urls):
                print(f"[ready] {name} is up ({time.monotonic() - started:.0f}s)", flush=True)
                pending.pop(name)
        if not pending:
            break
        if time.monotonic() - started > TIMEOUT_SECONDS:
            print(
                f"[ready] still waiting for: {', '.join(pending)} after {TIMEOUT_SECONDS}s; "
                "look at its log lines above",
                flush=True,
            )
            break
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            print(f"[ready] waiting for: {', '.join(pending)}…", flush=True)
        time.sleep(1)
    env = dotenv_values(ROOT / ".env")
    print(
        f"""
[ready] ─────────────────────────────────────────────────────────────
[ready]  Demo site with the chat widget:  {hub.public_url}/
[ready]  Agent inbox:                     {hub.public_url}/inbox
[ready]    sign in as {env.get("DEMO_AGENT_EMAIL") or "agent@kestrel.example"}
[ready]    password   {env.get("DEMO_AGENT_PASSWORD", "(see DEMO_AGENT_PASSWORD in .env)")}
[ready]  API description:                 {hub.public_url}/api/openapi.json
[ready]  Outgoing email:                  {mail_destination(hub)}
[ready]  Press Ctrl-C to stop everything.
[ready] ─────────────────────────────────────────────────────────────""",
        flush=True,
    )
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
