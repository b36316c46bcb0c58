"""Start the real stack for tests: Rasa server, action server and hub, on free ports, with
their own SQLite files, and stop it afterwards. Used by the integration and browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Stack:
    workdir: Path
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: settings added to (and overriding) env() for every process, e.g. a PostgreSQL tracker store
    extra_env: dict[str, str] = field(default_factory=dict)
    #: ports of further Rasa processes (start_scale_out), in the order of RASA_URLS
    extra_rasa_ports: list[int] = field(default_factory=list)

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HF_HUB_OFFLINE": "1",
                "RASA_TELEMETRY_ENABLED": "false",
                "RASA_PORT": str(self.rasa_port),
                "RASA_URLS": self.rasa_url,
                "RASA_TRACKER_DIALECT": "sqlite",
                "RASA_TRACKER_DB": str(self.workdir / "rasa-tracker.sqlite3"),
                "RASA_LOG_FILE": str(self.workdir / "rasa.log"),
                "ACTION_SERVER_PORT": str(self.actions_port),
                "ACTION_SERVER_URL": f"http://127.0.0.1:{self.actions_port}/webhook",
                "HUB_PORT": str(self.hub_port),
                "HUB_PUBLIC_URL": self.hub_url,
                "HUB_ALLOWED_ORIGINS": f"{self.hub_url},http://localhost:{self.hub_port}",
                "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'hub.sqlite3'}",
                # Every test client comes from 127.0.0.1: the per-address limits are tested in unit tests.
                "HUB_ADDRESS_CONVERSATIONS_PER_HOUR": "100000",
                "HUB_ADDRESS_MESSAGES_PER_MINUTE": "100000",
                "HUB_SOCKET_OPENS_PER_MINUTE": "100000",
                "KB_INDEX_DIR": str(ROOT / "var" / "kb-index"),
                "KB_ARTICLES_DIR": str(ROOT / "data" / "articles"),
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / f"{name}.out", "wb")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn("rasa", [str(ROOT / "scripts" / "run_rasa.sh")])
        self.start_actions()
        self.start_hub()
        self.wait(
            {
                "rasa": f"{self.rasa_url}/",
                "actions": f"http://127.0.0.1:{self.actions_port}/kb/health",
                "hub": f"{self.hub_url}/health",
            }
        )
        return self

    def start_actions(self) -> None:
        self._spawn("actions", [str(ROOT / ".venv" / "bin" / "python"), "-m", "actions.server"])

    def start_hub(self, env: dict[str, str] | None = None) -> None:
        self._spawn("hub", [str(ROOT / ".venv" / "bin" / "python"), "-m", "handoff"], env)

    # --- scale-out and benchmarks (scripts/bench_e2e.py, scripts/eval_bot.py) ---------------

    @property
    def rasa_urls(self) -> list[str]:
        """Every Rasa process this stack starts: the first one, then start_scale_out's."""
        return [self.rasa_url] + [f"http://127.0.0.1:{port}" for port in self.extra_rasa_ports]

    @staticmethod
    def rasa_name(index: int) -> str:
        return "rasa" if index == 0 else f"rasa{index + 1}"

    def start_rasa(self, index: int) -> None:
        """Start Rasa process `index` (0 is the usual one) on its own port and log file."""
        port = self.rasa_port if index == 0 else self.extra_rasa_ports[index - 1]
        name = self.rasa_name(index)
        self._spawn(
            name,
            [str(ROOT / "scripts" / "run_rasa.sh")],
            {"RASA_PORT": str(port), "RASA_LOG_FILE": str(self.workdir / f"{name}.log")},
        )

    def start_scale_out(self, rasa_processes: int = 2, hub_rasa_processes: int | None = None) -> Stack:
        """Like start(), with `rasa_processes` Rasa processes (set a shared tracker store in
        extra_env, e.g. RASA_TRACKER_DIALECT=postgresql) and the hub routing to the first
        `hub_rasa_processes` of them (all by default)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        while len(self.extra_rasa_ports) < rasa_processes - 1:
            self.extra_rasa_ports.append(free_port())
        checks = {"actions": f"http://127.0.0.1:{self.actions_port}/kb/health", "hub": f"{self.hub_url}/health"}
        for index in range(rasa_processes):
            self.start_rasa(index)
            checks[self.rasa_name(index)] = f"{self.rasa_urls[index]}/"
        self.start_actions()
        self.start_hub(self.hub_rasa_env(hub_rasa_processes or rasa_processes))
        self.wait(checks)
        return self

    def hub_rasa_env(self, processes: int) -> dict[str, str]:
        return {"RASA_URLS": ",".join(self.rasa_urls[:processes])}

    def stop_hub(self) -> None:
        """SIGTERM: the hub shuts down cleanly (unlike kill_hub)."""
        process = self.processes["hub"]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def wait(self, checks: dict[str, str]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        pending = dict(checks)
        while pending:
            for name, url in list(pending.items()):
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with {self.processes[name].returncode}:\n{self.log_tail(name)}")
                if answers(url):
                    pending.pop(name)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not up after {START_TIMEOUT_SECONDS}s: {list(pending)}\n"
                    + "\n".join(self.log_tail(n) for n in pending)
                )
            time.sleep(0.5)

    def kill_hub(self) -> None:
        """kill -9: no shutdown handler runs."""
        process = self.processes["hub"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart_hub(self, env: dict[str, str] | None = None) -> None:
        self.start_hub(env)
        self.wait({"hub": f"{self.hub_url}/health"})

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
