"""Refuse to start when a port the stack needs is taken, naming the port and the setting."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.settings import ActionSettings
from handoff.settings import HubSettings
from knowledge_base.settings import read_environment


def in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def main() -> int:
    env = read_environment()
    hub, actions = HubSettings.from_env(env), ActionSettings.from_env(env)
    wanted = [
        ("hub", hub.host, hub.port, "HUB_PORT"),
        ("action server", actions.host, actions.port, "ACTION_SERVER_PORT"),
        ("Rasa server", env.get("RASA_HOST", "127.0.0.1"), int(env.get("RASA_PORT", "5005")), "RASA_PORT"),
    ]
    if hub.inbound_smtp_port:
        wanted.append(("hub's SMTP receiver", hub.inbound_smtp_host, hub.inbound_smtp_port, "HUB_INBOUND_SMTP_PORT"))
    busy = [(name, host, port, setting) for name, host, port, setting in wanted if in_use(host, port)]
    for name, host, port, setting in busy:
        print(
            f"error: port {port} on {host}, needed by the {name}, is already in use. "
            f"Stop what runs there (is the stack already running?) or set {setting} in .env.",
            file=sys.stderr,
        )
    return 1 if busy else 0


if __name__ == "__main__":
    sys.exit(main())
