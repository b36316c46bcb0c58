"""Several hubs for tests, the soak and the benchmarks: hubs on one fresh PostgreSQL database and
one Redis (a prefix of their own), Rasa on PostgreSQL with the Redis lock store, the action
server, and HAProxy in front with deploy/haproxy.cfg (README, "Several hubs"). Like `Stack`, on
free ports; hubs can be killed with -9 and started again one by one."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.integration.stack import ROOT, Stack, free_port
from tests.unit.db_fixtures import PG_ADMIN_DSN, create_pg_database, drop_pg_database

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

#: help-center questions the cluster's soak and bench ask (each answered from an article)
CLUSTER_QUESTIONS = [
    "How long does card delivery take?",
    "How do I top up with a bank transfer?",
    "What exchange rate do you use?",
    "How do I order a second card?",
    "Is there a fee for ATM withdrawals?",
    "How do I verify my identity?",
]


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("HAProxy is not installed: apt-get install -y haproxy (.ci/run does it)")
    return found


@dataclass
class ClusterStack(Stack):
    hubs: int = 2
    rasa_processes: int = 1
    lb_port: int = field(default_factory=free_port)
    hub_ports: list[int] = field(default_factory=list)
    redis_prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:10]}")
    hub_database: str = ""
    rasa_database: str = ""
    #: ports of further HAProxy front ends (start_balancer), allowed as origins by the hubs
    balancer_ports: list[int] = field(default_factory=list)
    #: settings of one hub only, by index (e.g. its own RASA_URLS)
    hub_env: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def hub_url_of(self, index: int) -> str:
        return f"http://127.0.0.1:{self.hub_ports[index]}"

    @property
    def hub_url(self) -> str:  # what every client uses unless it picks a hub: HAProxy
        return self.lb_url

    def env(self) -> dict[str, str]:
        env = super().env()
        pg = PG_ADMIN_DSN.rsplit("/", 1)[0]
        hubs = ",".join(f"127.0.0.1:{port}" for port in self.hub_ports)
        env.update(
            {
                "DATABASE_URL": f"{pg}/{self.hub_database}",
                "REDIS_URL": REDIS_URL,
                "HUB_REDIS_PREFIX": self.redis_prefix,
                "RASA_TRACKER_DIALECT": "postgresql",
                "RASA_TRACKER_DB": self.rasa_database,
                "RASA_URLS": ",".join(self.rasa_urls[: self.rasa_processes]),
                "HUB_PUBLIC_URL": self.lb_url,
                "HUB_ALLOWED_ORIGINS": ",".join(
                    [
                        self.lb_url,
                        *(f"http://127.0.0.1:{port}" for port in self.hub_ports + self.balancer_ports),
                    ]
                ),
                "HUB_TRUSTED_PROXIES": "127.0.0.1",
                "KESTREL_LB_BIND": f"127.0.0.1:{self.lb_port}",
                "KESTREL_HUBS": hubs,
            }
        )
        for index, port in enumerate(self.hub_ports):
            env[f"KESTREL_HUB{index + 1}"] = f"127.0.0.1:{port}"
        env.update(self.extra_env)
        return env

    def start(self) -> ClusterStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hub_database = asyncio.run(create_pg_database())
        self.rasa_database = asyncio.run(create_pg_database())
        env = self.env()
        subprocess.run(  # Rasa's events table made once, as `make run-cluster` does
            [
                str(ROOT / ".venv" / "bin" / "python"),
                str(ROOT / "scripts" / "cluster_databases.py"),
                "--hub",
                env["DATABASE_URL"],
                "--rasa",
                f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{self.rasa_database}",
            ],
            check=True,
            capture_output=True,
        )
        while len(self.hub_ports) < self.hubs:
            self.hub_ports.append(free_port())
        while len(self.extra_rasa_ports) < self.rasa_processes - 1:
            self.extra_rasa_ports.append(free_port())
        checks = {"actions": f"http://127.0.0.1:{self.actions_port}/kb/health"}
        for index in range(self.rasa_processes):
            self.start_rasa(index)
            checks[self.rasa_name(index)] = f"{self.rasa_urls[index]}/"
        self._spawn("actions", [str(ROOT / ".venv" / "bin" / "python"), "-m", "actions.server"])
        self.wait(checks)  # Rasa first: the hubs resume nothing against a Rasa still loading
        for index in range(self.hubs):
            self.start_hub_number(index)
        self.wait({self.hub_name(i): f"{self.hub_url_of(i)}/health" for i in range(self.hubs)})
        self.start_balancer("haproxy", self.lb_port, list(range(self.hubs)))
        return self

    def start_balancer(self, name: str, port: int, hubs: list[int]) -> str:
        """HAProxy (deploy/haproxy.cfg) on `port` in front of the hubs numbered `hubs`; its URL."""
        text = (ROOT / "deploy" / "haproxy.cfg").read_text()
        servers = "\n".join(f'    server hub{i + 1} "${{KESTREL_HUB{i + 1}}}" check' for i in hubs)
        lines = [line for line in text.splitlines() if not line.strip().startswith("server hub")]
        path = self.workdir / f"{name}.cfg"
        path.write_text("\n".join(lines) + "\n" + servers + "\n")
        self._spawn(name, [haproxy_binary(), "-db", "-f", str(path)], {"KESTREL_LB_BIND": f"127.0.0.1:{port}"})
        self.wait({name: f"http://127.0.0.1:{port}/health/hub"})
        return f"http://127.0.0.1:{port}"

    @staticmethod
    def hub_name(index: int) -> str:
        return f"hub{index + 1}"

    def start_hub_number(self, index: int) -> None:
        name = self.hub_name(index)
        env = {"HUB_PORT": str(self.hub_ports[index]), **self.hub_env.get(index, {})}
        self._spawn(name, [str(ROOT / ".venv" / "bin" / "python"), "-m", "handoff"], env)

    def kill_hub_number(self, index: int) -> None:
        """kill -9: no shutdown handler runs, its turn locks stay until their lease runs out."""
        process = self.processes[self.hub_name(index)]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def restart_hub_number(self, index: int) -> None:
        self.start_hub_number(index)
        self.wait({self.hub_name(index): f"{self.hub_url_of(index)}/health"})

    def stop(self) -> None:
        super().stop()
        for name in (self.hub_database, self.rasa_database):
            if name:
                asyncio.run(drop_pg_database(name))
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
