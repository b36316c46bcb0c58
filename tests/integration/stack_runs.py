"""What scripts/bench_e2e.py and scripts/eval_bot.py both do around a stack: a scratch folder
that is cleaned up (or kept for its logs), starting their own stack or checking a running one,
and an agent account made and signed in the documented way."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp

from tests.integration.stack import ROOT, Stack, answers


@contextlib.contextmanager
def scratch_workdir(parent: Path, prefix: str, keep: bool) -> Iterator[Path]:
    """A fresh folder under `parent`; removed afterwards unless `keep`, or unless the run failed
    and left something there (the stack's logs), whose place is then printed."""
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    ok = False
    try:
        yield workdir
        ok = True
    finally:
        if keep or (not ok and any(workdir.iterdir())):
            if not ok:
                print(f"(the stack's logs are in {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def start_stack(workdir: Path, say: Callable[[str], None]) -> Stack:
    say(f"starting the stack (Rasa server, action server, hub) in {workdir}…")
    started = time.perf_counter()
    stack = Stack(workdir / "stack").start()
    say(f"  up in {time.perf_counter() - started:.0f} s")
    return stack


def require_running(urls: dict[str, str], what: str) -> None:
    """Stop with a message when a part of a stack given on the command line does not answer."""
    for name, url in urls.items():
        if not answers(url):
            raise SystemExit(
                f"no {name} answers at {url}: start the stack with `make run`, "
                f"or leave out --hub-url to let the {what} start its own"
            )


def create_agent(env: dict[str, str], email: str, name: str, password: str) -> None:
    """An agent account, created the documented way (supportbot-agent add … --password-env)."""
    completed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "supportbot-agent"), "add", email, name, "--password-env", "NEW_AGENT_PASSWORD"],
        env={**env, "NEW_AGENT_PASSWORD": password},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"supportbot-agent add failed: {completed.stderr or completed.stdout}")


async def sign_in_agent(
    session: aiohttp.ClientSession, hub_url: str, email: str, password: str, agent_env: dict[str, str], what: str
) -> None:
    """Sign `session` in; a refusal most likely means the agent was made in another database."""
    async with session.post(f"{hub_url}/api/agent/login", json={"email": email, "password": password}) as response:
        if response.status != 200:
            raise SystemExit(
                f"the {what}'s agent could not sign in at {hub_url} ({response.status}): it was created in "
                f"DATABASE_URL={agent_env.get('DATABASE_URL') or 'the default var/hub.sqlite3'}; run "
                f"the {what} with the running stack's environment (its .env)"
            )
