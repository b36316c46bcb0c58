"""How long a flood of sign-ins stalls the hub's event loop (every customer's socket waits on it).

Runs the real hub app on a local port (real SQLite, Rasa not needed), fires N wrong sign-ins at
once, and measures the event loop's longest stall with a 5 ms ticker. The baseline, in the same
run: the same N argon2 checks made on the event loop, as the hub did before they moved to a worker
thread. Prints both and their ratio; writes var/bench/sign-in.json. Speed is measured, not asserted.

    .venv/bin/python scripts/bench_sign_in.py [--attempts 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.auth import hash_password, verify_password
from handoff.settings import HubSettings, sqlite_url

TICK_SECONDS = 0.005


class StallMeter:
    """The longest gap between ticks of a coroutine that asks to wake every 5 ms."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._running = True

    async def run(self) -> None:
        last = time.perf_counter()
        while self._running:
            await asyncio.sleep(TICK_SECONDS)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - TICK_SECONDS)
            last = now

    def stop(self) -> None:
        self._running = False


async def measure(work: object) -> float:
    meter = StallMeter()
    ticker = asyncio.create_task(meter.run())
    await asyncio.sleep(0.05)
    await work  # type: ignore[misc]
    meter.stop()
    await ticker
    return meter.longest


async def main(attempts: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as folder:
        settings = replace(
            HubSettings(),
            database_url=sqlite_url(Path(folder) / "hub.sqlite3"),
            port=0,
            login_attempts_per_address=10**6,
            login_failures_per_account=10**6,
        )
        app = create_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        password_hash = hash_password("the right password")
        await app[STORE].create_agent("bench@kestrel.example", "Bench", password_hash)
        try:
            async with aiohttp.ClientSession() as session:

                async def wrong_sign_in() -> int:
                    async with session.post(
                        f"http://127.0.0.1:{port}/api/agent/login",
                        json={"email": "bench@kestrel.example", "password": "wrong"},
                    ) as reply:
                        return reply.status

                async def flood() -> None:
                    statuses = await asyncio.gather(*(wrong_sign_in() for _ in range(attempts)))
                    assert set(statuses) == {401}, statuses

                async def on_the_loop() -> None:  # the baseline: what the hub did before
                    for _ in range(attempts):
                        verify_password(password_hash, "wrong")

                started = time.perf_counter()
                hub_stall = await measure(flood())
                hub_seconds = time.perf_counter() - started
                baseline_stall = await measure(on_the_loop())
        finally:
            await runner.cleanup()
    return {
        "attempts": attempts,
        "hub_longest_stall_ms": round(hub_stall * 1000, 1),
        "hub_flood_seconds": round(hub_seconds, 2),
        "on_loop_longest_stall_ms": round(baseline_stall * 1000, 1),
        "stall_ratio": round(baseline_stall / max(hub_stall, 1e-6), 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(main(args.attempts))
    print(f"{result['attempts']} wrong sign-ins at once:")
    print(
        f"  hub (argon2 in worker threads): longest event-loop stall {result['hub_longest_stall_ms']} ms "
        f"(all answered in {result['hub_flood_seconds']} s)"
    )
    print(f"  baseline (argon2 on the loop, as before): longest stall {result['on_loop_longest_stall_ms']} ms")
    print(f"  the loop stalls {result['stall_ratio']}× less")
    out = ROOT / "var" / "bench" / "sign-in.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {out.relative_to(ROOT)}")
