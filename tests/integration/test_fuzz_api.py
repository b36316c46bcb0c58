"""A schema-driven run of the hub's HTTP API from its own OpenAPI document (schemathesis), against
the real hub process signed in as an admin: no 5xx, no hang, and no unhandled exception in the
hub's log. Rasa is not started (the gateway's Rasa calls fail fast, as when it is down)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from handoff.openapi import openapi_document
from tests.integration.stack import answers, free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fuzzing-admin-password"
schema = schemathesis.openapi.from_dict(openapi_document())


class FuzzHub:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        articles = workdir / "articles"
        shutil.copytree(ROOT / "data" / "articles", articles)
        self.env = {
            **os.environ,
            "HUB_PORT": str(self.port),
            "HUB_PUBLIC_URL": self.url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'hub.sqlite3'}",
            "RASA_URLS": f"http://127.0.0.1:{free_port()}",
            "HUB_RASA_TIMEOUT_SECONDS": "2",
            "KB_ARTICLES_DIR": str(articles),
            "KB_INDEX_DIR": str(workdir / "index"),
            "HUB_ADDRESS_CONVERSATIONS_PER_HOUR": "1000000",
            "HUB_ADDRESS_MESSAGES_PER_MINUTE": "1000000",
            "HUB_LOGIN_ATTEMPTS_PER_ADDRESS": "1000000",
            "HUB_LOGIN_FAILURES_PER_ACCOUNT": "1000000",
        }
        self.log_path = workdir / "hub.out"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "handoff.agents_cli",
                "add",
                "fuzz@kestrel.example",
                "Fuzz",
                "--role",
                "admin",
                "--password-env",
                "FUZZ_PASSWORD",
            ],
            env={**self.env, "FUZZ_PASSWORD": PASSWORD},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handoff"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.session = requests.Session()

    def wait(self) -> None:
        for _ in range(120):
            if answers(f"{self.url}/health"):
                return
            assert self.process.poll() is None, self.log_path.read_text()
            subprocess.run(["sleep", "0.5"], check=False)
        raise AssertionError(f"the hub did not start:\n{self.log_path.read_text()}")

    def signed_in(self) -> requests.Session:
        """The admin's session, signed in again when a fuzzed logout ended it."""
        if self.session.get(f"{self.url}/api/agent/me", timeout=10).status_code != 200:
            response = self.session.post(
                f"{self.url}/api/agent/login", timeout=10, json={"email": "fuzz@kestrel.example", "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
        return self.session

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    hub = FuzzHub(tmp_path_factory.mktemp("fuzz"))
    try:
        hub.wait()
        yield hub
    finally:
        hub.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case, fuzz_hub: FuzzHub) -> None:
    response = case.call(base_url=fuzz_hub.url, session=fuzz_hub.signed_in(), timeout=15)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )


def test_the_hub_logged_no_unhandled_exception(fuzz_hub: FuzzHub) -> None:
    log = fuzz_hub.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]
