"""`python -m handoff` / `supportbot-hub`: run the hub, with a clear message when the port is taken."""

from __future__ import annotations

import errno
import logging
import socket
import sys

from aiohttp import web

from handoff.app import create_app
from handoff.settings import HubSettings
from knowledge_base.settings import SettingsError


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        settings = HubSettings.from_env()
    except SettingsError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    if not port_is_free(settings.host, settings.port):
        print(
            f"hub: port {settings.port} on {settings.host} is already in use; stop what runs there "
            f"or set HUB_PORT in .env",
            file=sys.stderr,
        )
        return 2
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
