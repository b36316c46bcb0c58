"""What every browser test shares: Debian's Chromium, its flags, and agents made through the CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def add_agent(stack, email: str, name: str, password: str, role: str = "agent") -> None:
    """Through the real command line an operator uses."""
    env = {**stack.env(), "TEST_AGENT_PASSWORD": password}
    done = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "supportbot-agent"),
            "add",
            email,
            name,
            "--role",
            role,
            "--password-env",
            "TEST_AGENT_PASSWORD",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield launched
        launched.close()
