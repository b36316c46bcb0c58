#!/usr/bin/env python
"""`make bench`: the end-to-end benchmark of the support stack, measured side by side.

1. End to end: simulated customers (WebSocket clients speaking the wire contract) run scripted
   conversations (a help-center question, the "did that help?" button, another question) through
   the hub against the real Rasa server and action server, at 1, 10 and 50 concurrent
   conversations; the same messages go straight to Rasa's REST channel (plain-Rasa baseline).
2. Turn anatomy of a knowledge-base answer: hub, Rasa NLU + policies, action server, query
   embedding, index search.
3. Hub capacity: 2,000 idle customer connections on one hub process (resident memory per
   connection), and agent-to-customer relay latency with 200 active conversations.
4. Scale-out: Rasa's SQL tracker store on PostgreSQL with the Redis lock store, two Rasa processes
   behind the hub (RASA_URLS=a,b) versus one: the throughput ratio, and replies keep their order.

It starts its own stack (tests/integration/stack.py: free ports, its own SQLite files) unless
--hub-url names a running one. Prints tables; writes JSON to var/bench/.

    .venv/bin/python scripts/bench_e2e.py            # the full run (about 6 minutes on 2 cores)
    .venv/bin/python scripts/bench_e2e.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import resource
import secrets
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import aiohttp

from handoff.relay import WAIT_NOTICE
from scripts.cluster_databases import EVENTS_DDL
from tests.integration.customer import Customer
from tests.integration.stack import Stack
from tests.integration.stack_runs import (
    create_agent,
    require_running,
    scratch_workdir,
    sign_in_agent,
    start_stack,
)

#: Help-center questions in our own words (not BANKING77's), each answered with an article.
QUESTIONS = [
    "How long will it take for my new card to be delivered?",
    "what are the fees for exchanging currency?",
    "how do I top up with a bank transfer?",
    "Can I get my money back if I cancel a transfer?",
    "How do I change my PIN?",
    "Which currencies can I hold in my account?",
    "How old do I have to be to open an account?",
    "Why was my card declined at a shop?",
    "How do I verify my identity?",
    "Is there a fee for withdrawing cash at an ATM?",
    "How do I set up automatic top-ups?",
    "Can I use my card abroad?",
]
HELPFUL = {"title": "Yes, thanks", "payload": "/feedback_helpful"}
#: the parts of a run (--parts): end to end and turn anatomy; bot_unavailable handoffs under
#: overload; idle connections and the agent relay; the queue drain; two Rasa processes
PARTS = ("e2e", "overload", "capacity", "drain", "scale-out")
SECOND_QUESTION_OFFSET = 5
TURN_TIMEOUT_SECONDS = 60.0

# ------------------------------------------------------------------------------------------------
# small helpers


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (pastes into the README as it is)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |" for r in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


_T0 = time.perf_counter()


def say(text: str = "") -> None:
    print(text, flush=True)


def took(section: str) -> None:
    """A progress line: how long the run has taken so far."""
    print(f"  [{section} done at {time.perf_counter() - _T0:.0f} s]", flush=True)


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def pid_listening_on(port: int) -> int | None:
    """The process listening on 127.0.0.1:`port` (for --hub-url), from /proc."""
    inodes = set()
    for table_file in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table_file).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(parts[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
    return None


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem_gib = round(kib / 1024 / 1024, 1)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
    }


# ------------------------------------------------------------------------------------------------
# the scripted conversation, and what its replies look like


SCRIPTS = len(QUESTIONS)  # distinct scripts in use (--quick: fewer, so calibrating is quick)


def script(index: int) -> list[tuple[str, Any]]:
    """Conversation `index`: a question, "did that help? yes", another question."""
    index %= SCRIPTS
    first = QUESTIONS[index]
    second = QUESTIONS[(index + SECOND_QUESTION_OFFSET) % len(QUESTIONS)]
    return [("message", first), ("button", HELPFUL), ("message", second)]


def rasa_text(kind: str, value: Any) -> str:
    """What the hub posts to Rasa for this customer frame."""
    return value["payload"] if kind == "button" else value


Signature = list[tuple[str | None, bool]]  # per customer-visible message: (cited article, has buttons)


def rest_signature(items: list[dict[str, Any]]) -> Signature:
    """The messages a customer would see for one Rasa REST reply (as handoff.rasa_client parses it)."""
    out: list[list[Any]] = []
    for item in items:
        custom = item.get("custom")
        if isinstance(custom, dict):
            if isinstance(custom.get("article"), dict) and out and out[-1][0] is None:
                out[-1][0] = custom["article"].get("id")
            continue
        if isinstance(item.get("text"), str) and item["text"].strip():
            out.append([None, bool(item.get("buttons"))])
    return [(a, b) for a, b in out]


def frame_signature(frames: list[dict[str, Any]]) -> Signature:
    return [((f.get("article") or {}).get("id"), bool(f.get("buttons"))) for f in frames]


class TimedCustomer(Customer):
    """tests/integration/customer.Customer that also notes when each frame arrived."""

    def __init__(self, session: aiohttp.ClientSession, hub_url: str) -> None:
        super().__init__(session, hub_url)
        self.times: list[float] = []

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.times.append(time.perf_counter())
                self.frames.append(message.json())
                self._arrived.set()

    async def send(self, kind: str, value: Any) -> tuple[int, float]:
        """Send one customer frame; return (index of the first frame after it, time sent)."""
        assert self._ws is not None
        mark = len(self.frames)
        if kind == "button":
            frame = {
                "type": "button",
                "client_id": uuid.uuid4().hex,
                "title": value["title"],
                "payload": value["payload"],
            }
        else:
            frame = {"type": "message", "client_id": uuid.uuid4().hex, "text": value}
        sent = time.perf_counter()
        await self._ws.send_json(frame)
        return mark, sent

    def milestones(self, since: int, sent: float) -> tuple[float | None, float | None, float | None]:
        """ms from `sent` to the ack, the typing frame and the first bot message after `since`."""
        found: dict[str, float] = {}
        for i in range(since, len(self.frames)):
            frame = self.frames[i]
            key = frame["type"] if frame["type"] != "message" else "message" if frame.get("sender") == "bot" else "echo"
            if key in ("ack", "typing", "message") and key not in found:
                found[key] = 1000 * (self.times[i] - sent)
        return found.get("ack"), found.get("typing"), found.get("message")

    async def bot_messages(
        self, since: int, count: int, timeout: float = TURN_TIMEOUT_SECONDS
    ) -> tuple[list[dict[str, Any]], float]:
        """Wait for `count` bot messages after `since`; return them and when the last one came."""
        deadline = time.perf_counter() + timeout
        while True:
            found = []
            for i in range(since, len(self.frames)):
                frame = self.frames[i]
                if frame["type"] == "error":
                    raise RuntimeError(f"the hub refused a message: {frame}")
                if frame["type"] == "state" and frame["state"] == "queued":
                    # e.g. bot_unavailable: Rasa took longer than HUB_RASA_TIMEOUT_SECONDS
                    raise RuntimeError(
                        f"handed to a person ({frame.get('reason')}) after "
                        f"{time.perf_counter() - deadline + timeout:.1f} s"
                    )
                if frame["type"] == "message" and frame["sender"] == "bot":
                    found.append(i)
                    if len(found) == count:
                        return [self.frames[j] for j in found], self.times[i]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{len(found)} of {count} bot messages after {timeout:.0f}s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 1.0))

    async def frame_matching(self, since: int, predicate: Any, timeout: float = 30.0) -> float:
        """Wait for a frame after `since` that matches; return when it arrived."""
        deadline = time.perf_counter() + timeout
        while True:
            for i in range(since, len(self.frames)):
                if predicate(self.frames[i]):
                    return self.times[i]
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("no matching frame")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 1.0))


# ------------------------------------------------------------------------------------------------
# runs


@dataclass
class TurnSample:
    conversation: int
    turn: int
    kind: str  # "question" | "button"
    ms: float
    ok: bool  # the reply looks as the calibration says (same messages, same articles)
    #: hub only, ms after sending: the ack (stored), the typing frame (the relay is about to post
    #: to Rasa), the first bot message
    ack_ms: float | None = None
    typing_ms: float | None = None
    first_ms: float | None = None


@dataclass
class LevelResult:
    target: str  # "hub" | "rasa"
    concurrency: int
    conversations: int
    samples: list[TurnSample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    connect_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        all_ms = [s.ms for s in self.samples]
        questions = [s.ms for s in self.samples if s.kind == "question"]
        buttons = [s.ms for s in self.samples if s.kind == "button"]
        return {
            "target": self.target,
            "concurrency": self.concurrency,
            "conversations": self.conversations,
            "turns": len(self.samples),
            "errors": len(self.errors),
            "error_examples": self.errors[:3],
            "unexpected_replies": sum(1 for s in self.samples if not s.ok),
            "p50_ms": pct(all_ms, 50),
            "p95_ms": pct(all_ms, 95),
            "question_p50_ms": pct(questions, 50),
            "question_p95_ms": pct(questions, 95),
            "button_p50_ms": pct(buttons, 50),
            "msgs_per_s": len(self.samples) / self.wall_s if self.wall_s else None,
            "turns_over_20s": sum(1 for s in self.samples if s.ms > 20000),
            "wall_s": round(self.wall_s, 2),
            "connect_p50_ms": pct(self.connect_ms, 50),
            "milestones_ms": {
                name: {"p50": pct(values, 50), "p95": pct(values, 95)}
                for name, values in (
                    ("ack", [s.ack_ms for s in self.samples if s.ack_ms is not None]),
                    ("typing", [s.typing_ms for s in self.samples if s.typing_ms is not None]),
                    ("first_bot_message", [s.first_ms for s in self.samples if s.first_ms is not None]),
                    ("last_bot_message", all_ms),
                )
                if values
            },
        }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = secrets.token_hex(3)
        self.calibration: dict[int, list[Signature]] = {}  # script index → signature per turn
        self.results: dict[str, Any] = {}

    # --- calibration: what each scripted conversation's replies look like --------------------

    async def calibrate(self, session: aiohttp.ClientSession, rasa_urls: list[str]) -> None:
        """Run every distinct script once per Rasa process through the REST channel (also warms
        them up), and remember each turn's messages: the hub must deliver the same."""
        for url in rasa_urls:
            for index in range(min(len(QUESTIONS), self.args.scripts)):
                sender = f"bench-{self.run_id}-calibrate-{url.rsplit(':', 1)[-1]}-{index}"
                signatures = []
                for kind, value in script(index):
                    async with session.post(
                        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": rasa_text(kind, value)}
                    ) as response:
                        if response.status != 200:
                            raise RuntimeError(f"Rasa at {url} answered HTTP {response.status}")
                        signatures.append(rest_signature(await response.json(content_type=None)))
                if index in self.calibration and self.calibration[index] != signatures:
                    raise RuntimeError(
                        f"Rasa processes disagree on script {index}: {self.calibration[index]} vs {signatures}"
                    )
                self.calibration[index] = signatures
                if not signatures[0] or signatures[0][0][0] is None:
                    raise RuntimeError(f"the bench question {QUESTIONS[index]!r} got no cited answer: {signatures[0]}")

    def expected(self, index: int) -> list[Signature]:
        return self.calibration[index % len(self.calibration)]

    # --- end to end: through the hub ---------------------------------------------------------

    async def connect_customers(
        self,
        session: aiohttp.ClientSession,
        hub_url: str,
        count: int,
        parallel: int = 50,
        result: LevelResult | None = None,
    ) -> list[TimedCustomer]:
        semaphore = asyncio.Semaphore(parallel)

        async def one() -> TimedCustomer:
            async with semaphore:
                started = time.perf_counter()
                customer = TimedCustomer(session, hub_url)
                try:
                    await customer.start()
                except AssertionError as exc:
                    if "rate_limited" in str(exc):
                        raise SystemExit(
                            "the hub refused new conversations (rate_limited): start it with "
                            "HUB_ADDRESS_CONVERSATIONS_PER_HOUR=100000 HUB_ADDRESS_MESSAGES_PER_MINUTE=100000 "
                            "HUB_SOCKET_OPENS_PER_MINUTE=100000, "
                            "or leave out --hub-url so the bench starts its own stack"
                        ) from None
                    raise
                if result is not None:
                    result.connect_ms.append(1000 * (time.perf_counter() - started))
                return customer

        return list(await asyncio.gather(*[one() for _ in range(count)]))

    async def hub_level(
        self,
        session: aiohttp.ClientSession,
        hub_url: str,
        concurrency: int,
        conversations: int,
        offset: int = 0,
        pipelined: bool = False,
    ) -> tuple[LevelResult, list[TimedCustomer]]:
        result = LevelResult("hub", concurrency, conversations)
        customers = await self.connect_customers(session, hub_url, conversations, result=result)

        async def conversation(i: int) -> None:
            customer, index = customers[i], offset + i
            try:
                if pipelined:
                    await self._hub_pipelined(customer, index, result)
                else:
                    await self._hub_conversation(customer, index, result)
            except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
                result.errors.append(f"conversation {i}: {exc}")

        result.wall_s = await run_with_workers(conversations, concurrency, conversation)
        return result, customers

    async def _hub_conversation(self, customer: TimedCustomer, index: int, result: LevelResult) -> None:
        for turn, ((kind, value), expected) in enumerate(zip(script(index), self.expected(index), strict=False)):
            mark, sent = await customer.send(kind, value)
            frames, arrived = await customer.bot_messages(mark, len(expected))
            result.samples.append(
                TurnSample(
                    index,
                    turn,
                    "button" if kind == "button" else "question",
                    1000 * (arrived - sent),
                    frame_signature(frames) == expected,
                    *customer.milestones(mark, sent),
                )
            )

    async def _hub_pipelined(self, customer: TimedCustomer, index: int, result: LevelResult) -> None:
        """Send all three frames at once; the replies must still come turn by turn, in order."""
        expected = self.expected(index)
        mark = len(customer.frames)
        sent = time.perf_counter()
        for kind, value in script(index):
            await customer.send(kind, value)
        frames, arrived = await customer.bot_messages(mark, sum(len(e) for e in expected))
        flat = [m for turn in expected for m in turn]
        result.samples.append(
            TurnSample(index, 0, "pipelined", 1000 * (arrived - sent), frame_signature(frames) == flat)
        )

    # --- end to end: plain Rasa ----------------------------------------------------------------

    async def rasa_level(
        self,
        session: aiohttp.ClientSession,
        rasa_urls: list[str],
        concurrency: int,
        conversations: int,
        offset: int = 0,
        label: str = "",
    ) -> LevelResult:
        result = LevelResult("rasa", concurrency, conversations)

        async def conversation(i: int) -> None:
            index = offset + i
            sender = f"bench-{self.run_id}-rest{label}-c{concurrency}-{i}"
            url = rasa_urls[int(hashlib.sha1(sender.encode()).hexdigest(), 16) % len(rasa_urls)]
            try:
                for turn, ((kind, value), expected) in enumerate(
                    zip(script(index), self.expected(index), strict=False)
                ):
                    sent = time.perf_counter()
                    async with session.post(
                        f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": rasa_text(kind, value)}
                    ) as response:
                        items = await response.json(content_type=None)
                    result.samples.append(
                        TurnSample(
                            index,
                            turn,
                            "button" if kind == "button" else "question",
                            1000 * (time.perf_counter() - sent),
                            rest_signature(items) == expected,
                        )
                    )
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                result.errors.append(f"conversation {i}: {exc!r}")

        result.wall_s = await run_with_workers(conversations, concurrency, conversation)
        return result

    async def end_to_end(self, hub_url: str, rasa_url: str) -> dict[str, Any]:
        say(f"\n## End to end: hub ({hub_url}) versus plain Rasa ({rasa_url})")
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await self.calibrate(session, [rasa_url])
            took("calibration")
            warm, customers = await self.hub_level(session, hub_url, 2, 2)  # untimed warm-up
            for customer in customers:
                await customer.close()
            if warm.errors:
                raise RuntimeError(f"warm-up through the hub failed: {warm.errors}")
            levels = []
            for concurrency, conversations in self.args.levels:
                hub, customers = await self.hub_level(session, hub_url, concurrency, conversations)
                for customer in customers:
                    await customer.close()
                rasa = await self.rasa_level(session, [rasa_url], concurrency, conversations)
                levels.append(
                    {
                        "hub": hub.summary(),
                        "rasa": rasa.summary(),
                        "p50_ratio": ratio(hub.summary()["p50_ms"], rasa.summary()["p50_ms"]),
                        "throughput_ratio": ratio(hub.summary()["msgs_per_s"], rasa.summary()["msgs_per_s"]),
                        "_hub": hub,
                        "_rasa": rasa,
                    }
                )
                say(
                    f"  {concurrency} concurrent: hub p50 {ms(hub.summary()['p50_ms'])} ms, "
                    f"{hub.summary()['msgs_per_s']:.1f} msg/s; Rasa p50 {ms(rasa.summary()['p50_ms'])} ms, "
                    f"{rasa.summary()['msgs_per_s']:.1f} msg/s"
                )
            paired = await self.paired(session, hub_url, rasa_url, self.args.paired) if self.args.paired else None
        rows = []
        for level in levels:
            h, r = level["hub"], level["rasa"]
            rows.append(
                [
                    h["concurrency"],
                    h["conversations"],
                    h["turns"],
                    ms(h["p50_ms"]),
                    ms(h["p95_ms"]),
                    f"{h['msgs_per_s']:.1f}",
                    ms(r["p50_ms"]),
                    ms(r["p95_ms"]),
                    f"{r['msgs_per_s']:.1f}",
                    fmt_ratio(level["p50_ratio"]),
                    fmt_ratio(level["throughput_ratio"]),
                    f"{h['errors']}+{h['unexpected_replies']} / {r['errors']}+{r['unexpected_replies']}",
                    r["turns_over_20s"],
                ]
            )
        say()
        say(
            table(
                [
                    "concurrent",
                    "conversations",
                    "bot turns",
                    "hub p50 ms",
                    "hub p95 ms",
                    "hub msg/s",
                    "Rasa p50 ms",
                    "Rasa p95 ms",
                    "Rasa msg/s",
                    "hub/Rasa p50",
                    "hub/Rasa msg/s",
                    "errors+unexpected hub / Rasa",
                    "Rasa turns > 20 s",
                ],
                rows,
            )
        )
        say(
            "  (a bot turn: from sending a message or button to receiving the bot's last message of "
            "that turn; msg/s: customer messages answered per second; Aim: p50 ratio ≤ 1.10, msg/s ratio ≥ 0.90;\n"
            "   a hub error is mostly a turn Rasa took over HUB_RASA_TIMEOUT_SECONDS=20 for: the hub then hands "
            "the conversation to a person)"
        )
        say("\nWhere a turn's time goes in the hub, as the customer sees it (ms after sending, p50 / p95):")
        rows = []
        for level in levels:
            m = level["hub"]["milestones_ms"]
            rows.append(
                [level["hub"]["concurrency"]]
                + [
                    f"{ms(m[k]['p50'])} / {ms(m[k]['p95'])}" if k in m else "–"
                    for k in ("ack", "typing", "first_bot_message", "last_bot_message")
                ]
                + [f"{ms(level['rasa']['p50_ms'])} / {ms(level['rasa']['p95_ms'])}"]
            )
        say(
            table(
                [
                    "concurrent",
                    "ack (stored)",
                    "typing (posting to Rasa)",
                    "first bot message",
                    "last bot message",
                    "plain Rasa turn",
                ],
                rows,
            )
        )
        if paired is not None:
            say(
                f"\nHub added, paired (each scripted conversation through the hub and straight to Rasa, one after "
                f"the other, 1 at a time): p50 {ms(paired['hub_added_p50_ms'])} ms, p95 "
                f"{ms(paired['hub_added_p95_ms'])} ms over {paired['turns']} turns; hub/Rasa p50 "
                f"{fmt_ratio(paired['p50_ratio'])} ({ms(paired['hub_p50_ms'])} / {ms(paired['rasa_p50_ms'])} ms)"
            )
        return {"levels": levels, "paired": paired}

    async def paired(
        self, session: aiohttp.ClientSession, hub_url: str, rasa_url: str, conversations: int
    ) -> dict[str, Any]:
        """The hub's share of a turn, robust to a machine whose load drifts: each scripted
        conversation runs through the hub and straight to Rasa back to back (alternating which
        goes first), and the hub's share is the median of the per-turn differences."""
        hub_ms: list[float] = []
        rasa_ms: list[float] = []
        diffs: list[float] = []
        for i in range(conversations):
            order = ("hub", "rasa") if i % 2 == 0 else ("rasa", "hub")
            got: dict[str, LevelResult] = {}
            for target in order:
                if target == "hub":
                    got["hub"], customers = await self.hub_level(session, hub_url, 1, 1, offset=i)
                    for customer in customers:
                        await customer.close()
                else:
                    got["rasa"] = await self.rasa_level(session, [rasa_url], 1, 1, offset=i, label=f"paired{i}")
            if got["hub"].errors or got["rasa"].errors:
                continue
            for h, r in zip(got["hub"].samples, got["rasa"].samples, strict=False):
                hub_ms.append(h.ms)
                rasa_ms.append(r.ms)
                diffs.append(h.ms - r.ms)
        return {
            "conversations": conversations,
            "turns": len(diffs),
            "hub_added_p50_ms": statistics.median(diffs) if diffs else None,
            "hub_added_p95_ms": pct(diffs, 95),
            "hub_p50_ms": pct(hub_ms, 50),
            "rasa_p50_ms": pct(rasa_ms, 50),
            "p50_ratio": ratio(pct(hub_ms, 50), pct(rasa_ms, 50)),
        }

    # --- turn anatomy --------------------------------------------------------------------------

    async def anatomy(
        self, e2e: dict[str, Any], actions_url: str, tracker_db: Path | None, index_dir: Path
    ) -> dict[str, Any]:
        say("\n## Turn anatomy of a knowledge-base answer (1 conversation at a time)")
        first = e2e["levels"][0]
        hub_q = [s.ms for s in first["_hub"].samples if s.kind == "question"]
        rasa_q = [s.ms for s in first["_rasa"].samples if s.kind == "question"]
        searcher = await asyncio.to_thread(load_searcher, index_dir)
        kb: dict[str, list[float]] = {"embed": [], "search": [], "total_search": []}
        action_ms, tracker_source = await self.action_calls(actions_url, tracker_db, searcher, kb)
        hub_p50, rasa_p50, action_p50 = pct(hub_q, 50), pct(rasa_q, 50), pct(action_ms, 50)
        embed, search, total_search = pct(kb["embed"], 50), pct(kb["search"], 50), pct(kb["total_search"], 50)
        parts = {
            "hub_ms": None if hub_p50 is None or rasa_p50 is None else hub_p50 - rasa_p50,
            "rasa_nlu_policies_ms": None if rasa_p50 is None or action_p50 is None else rasa_p50 - action_p50,
            "action_server_ms": action_p50,
            "embed_ms": embed,
            "search_ms": total_search,
            "action_rest_ms": None if action_p50 is None or embed is None else action_p50 - embed - (total_search or 0),
            "total_through_hub_ms": hub_p50,
            "rasa_rest_ms": rasa_p50,
            "dense_and_bm25_candidates_ms": search,
        }
        rows = [
            [
                "hub: store, ack, relay, store and push each reply",
                ms(parts["hub_ms"]),
                "hub p50 − Rasa REST p50 (same questions, 1 at a time)",
            ],
            [
                "Rasa: NLU, policies, tracker store (SQLite), REST channel",
                ms(parts["rasa_nlu_policies_ms"]),
                "Rasa REST p50 − action call p50",
            ],
            [
                "action server call (HTTP, rasa-sdk, action_answer_from_kb)",
                ms(action_p50),
                f"POST /webhook with the tracker {tracker_source}, p50 of {len(action_ms)}",
            ],
            [
                "  of which query embedding (MiniLM)",
                ms(embed),
                "knowledge_base.search timings_ms['embed'], same questions in process, after each call",
            ],
            [
                "  of which index search (FAISS + BM25 + fusion)",
                ms(total_search),
                "timings_ms['total_search'], likewise",
            ],
            [
                "  of which the rest (HTTP, rasa-sdk, sentiment, reply)",
                ms(parts["action_rest_ms"]),
                "call − embed − search",
            ],
            ["total, customer to customer through the hub", ms(hub_p50), f"p50 of {len(hub_q)} question turns"],
        ]
        say(table(["part of a KB answer turn", "p50 ms", "how measured"], rows))
        return {
            "parts_p50": parts,
            "samples": {"hub": len(hub_q), "rasa": len(rasa_q), "action": len(action_ms), "search": len(kb["embed"])},
            "tracker_source": tracker_source,
        }

    async def action_calls(
        self, actions_url: str, tracker_db: Path | None, searcher: Any, kb: dict[str, list[float]], repeats: int = 5
    ) -> tuple[list[float], str]:
        """Time POST /webhook for action_answer_from_kb with the tracker Rasa sent (rebuilt from
        Rasa's SQLite tracker store: the events up to the question), or an equivalent one. After
        each call, the same question is searched in process (knowledge_base.search timings), so
        both see the machine in the same state."""
        import yaml

        domain = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text())
        initial = {name: spec.get("initial_value") for name, spec in (domain.get("slots") or {}).items()}
        requests, source = [], "built from Rasa's tracker store (events up to the question)"
        if tracker_db is not None and tracker_db.exists():
            with sqlite3.connect(tracker_db) as db:
                prefix = f"bench-{self.run_id}-rest-c1-%"
                senders = [
                    r[0]
                    for r in db.execute(
                        "SELECT DISTINCT sender_id FROM events WHERE sender_id LIKE ? ORDER BY sender_id", (prefix,)
                    )
                ]
                for sender in senders[:10]:
                    events = []
                    for (data,) in db.execute("SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)):
                        event = json.loads(data)
                        events.append(event)
                        if event.get("event") == "user_featurization":
                            break
                    requests.append(self._action_request(sender, events, initial, domain))
        if not requests:
            source = "equivalent to Rasa's (no tracker store file given)"
            for i, question in enumerate(QUESTIONS[:10]):
                now = time.time()
                parse = {
                    "intent": {"name": "ask_question", "confidence": 0.99},
                    "entities": [],
                    "text": question,
                    "message_id": uuid.uuid4().hex,
                    "metadata": {},
                    "intent_ranking": [],
                }
                events = [
                    {"event": "action", "timestamp": now, "name": "action_session_start"},
                    {"event": "session_started", "timestamp": now},
                    {"event": "action", "timestamp": now, "name": "action_listen"},
                    {
                        "event": "user",
                        "timestamp": now,
                        "text": question,
                        "parse_data": parse,
                        "input_channel": "rest",
                        "metadata": {},
                    },
                ]
                requests.append(self._action_request(f"bench-{self.run_id}-synthetic-{i}", events, initial, domain))
        timings = []
        async with aiohttp.ClientSession() as session:
            for body in requests:
                question = body["tracker"]["latest_message"].get("text") or ""
                for attempt in range(repeats + 1):
                    sent = time.perf_counter()
                    async with session.post(actions_url, json=body) as response:
                        reply = await response.json()
                        if response.status != 200:
                            raise RuntimeError(f"the action server answered {response.status}: {reply}")
                    elapsed = 1000 * (time.perf_counter() - sent)
                    found = searcher.search(question).timings_ms
                    if attempt:  # the first call of each warms caches
                        timings.append(elapsed)
                        for key, values in kb.items():
                            values.append(float(found[key]))
        return timings, source

    @staticmethod
    def _action_request(
        sender: str, events: list[dict[str, Any]], initial: dict[str, Any], domain: dict[str, Any]
    ) -> dict[str, Any]:
        slots = dict(initial)
        latest: dict[str, Any] = {}
        for event in events:
            if event.get("event") == "slot":
                slots[event["name"]] = event.get("value")
            if event.get("event") == "user":
                latest = event.get("parse_data") or {}
        tracker = {
            "sender_id": sender,
            "slots": slots,
            "latest_message": latest,
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_event_time": events[-1].get("timestamp"),
            "latest_input_channel": "rest",
        }
        return {
            "next_action": "action_answer_from_kb",
            "sender_id": sender,
            "tracker": tracker,
            "domain": domain,
            "version": "3.6.21",
        }

    # --- hub capacity --------------------------------------------------------------------------

    async def idle_connections(self, hub_url: str, hub_pid: int | None, count: int) -> dict[str, Any]:
        say(f"\n## Hub capacity: {count} idle customer connections on one hub process")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        hub_limit = None
        if hub_pid:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{hub_pid}/limits").read_text().splitlines():
                    if line.startswith("Max open files"):
                        hub_limit = int(line.split()[3])
        if hub_limit is not None and hub_limit < count + 200:
            raise SystemExit(f"the hub may open only {hub_limit} files (ulimit -n); raise it above {count + 200}")
        await asyncio.sleep(1.0)
        before = vm_rss_kib(hub_pid) if hub_pid else None
        fds_before = open_fds(hub_pid) if hub_pid else None
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.perf_counter()
            customers = await self.connect_customers(session, hub_url, count, parallel=100)
            opened_s = time.perf_counter() - started
            await asyncio.sleep(3.0)
            after = vm_rss_kib(hub_pid) if hub_pid else None
            fds_after = open_fds(hub_pid) if hub_pid else None
            # A bot turn while they are all connected.
            busy, busy_customers = await self.hub_level(session, hub_url, 1, min(4, self.args.scripts))
            for customer in busy_customers:
                await customer.close()
            alive = sum(1 for c in customers if c._ws is not None and not c._ws.closed)
            for customer in customers:
                await customer.close()
        per_connection = None if before is None or after is None else (after - before) / count
        out = {
            "connections": count,
            "alive_at_end": alive,
            "open_seconds": round(opened_s, 1),
            "rss_before_kib": before,
            "rss_after_kib": after,
            "rss_per_connection_kib": per_connection,
            "hub_open_files_before": fds_before,
            "hub_open_files_after": fds_after,
            "hub_max_open_files": hub_limit,
            "bench_ulimit_n": [soft, hard],
            "bot_turn_while_connected": busy.summary(),
        }
        say(
            table(
                [
                    "idle connections",
                    "opened in s",
                    "still open",
                    "hub RSS before MiB",
                    "hub RSS after MiB",
                    "RSS per connection KiB",
                    "hub open files",
                    "bot turn p50 ms meanwhile",
                ],
                [
                    [
                        count,
                        f"{opened_s:.1f}",
                        alive,
                        "–" if before is None else f"{before / 1024:.0f}",
                        "–" if after is None else f"{after / 1024:.0f}",
                        "–" if per_connection is None else f"{per_connection:.1f}",
                        f"{fds_before} → {fds_after}",
                        ms(busy.summary()["p50_ms"]),
                    ]
                ],
            )
        )
        say(
            f"  (VmRSS from /proc/<hub pid>/status; each connection is a new conversation (POST) and an "
            f"open WebSocket after hello; ulimit -n here {soft}, hub {hub_limit})"
        )
        return out

    async def relay(
        self,
        hub_url: str,
        tokens: list[tuple[str, str]],
        agent_env: dict[str, str],
        agents: int,
        rounds: int,
        rate: float,
        relay_too: bool = True,
    ) -> dict[str, Any]:
        """The queue drain (`queue_drain`), then, with `relay_too`, agents' messages to the
        customers they claimed."""
        password = secrets.token_urlsafe(18)
        emails = [f"bench-agent-{self.run_id}-{k}@kestrel.example" for k in range(agents)]
        await asyncio.gather(
            *[
                asyncio.to_thread(create_agent, agent_env, email, f"Bench Agent {k}", password)
                for k, email in enumerate(emails)
            ]
        )
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            customers = []
            for conversation_id, token in tokens:
                customer = TimedCustomer(session, hub_url)
                customer.conversation_id, customer.token = conversation_id, token
                customers.append(customer)
            semaphore = asyncio.Semaphore(50)

            async def connect(customer: TimedCustomer) -> None:
                async with semaphore:
                    await customer.connect()

            await asyncio.gather(*[connect(c) for c in customers])
            agent_sessions, sockets, readers = [], [], []
            for email in emails:
                agent_session = aiohttp.ClientSession(
                    cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0)
                )
                await sign_in_agent(agent_session, hub_url, email, password, agent_env, "bench")
                ws = await agent_session.ws_connect(f"{hub_url}/api/agent/ws", origin=hub_url)
                readers.append(asyncio.create_task(drain(ws)))
                agent_sessions.append(agent_session)
                sockets.append(ws)
            owner = {c.conversation_id: agent_sessions[i % agents] for i, c in enumerate(customers)}

            drained = await self.queue_drain(hub_url, customers, owner)

            async def relay_one(
                customer: TimedCustomer, label: str, relay_ms: list[float], post_ms: list[float], errors: list[str]
            ) -> None:
                text = f"Hello from the team, {label} ({customer.conversation_id[:8]})"
                mark = len(customer.frames)
                sent = time.perf_counter()
                async with owner[customer.conversation_id].post(
                    f"{hub_url}/api/agent/conversations/{customer.conversation_id}/messages", json={"text": text}
                ) as response:
                    if response.status != 201:
                        errors.append(f"{response.status} {await response.text()}")
                        return
                post_ms.append(1000 * (time.perf_counter() - sent))
                try:
                    arrived = await customer.frame_matching(
                        mark, lambda f: f["type"] == "message" and f["sender"] == "agent" and f["text"] == text
                    )
                except TimeoutError:
                    errors.append("no frame at the customer")
                    return
                relay_ms.append(1000 * (arrived - sent))

            # Paced: agents typing at a steady rate across all conversations (open loop).
            paced: dict[str, list[Any]] = {"relay": [], "post": [], "errors": []}
            tasks = []
            started = time.perf_counter()
            for n in range(rounds * len(customers) if relay_too else 0):
                due = started + n / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                customer = customers[n % len(customers)]
                tasks.append(
                    asyncio.create_task(
                        relay_one(customer, f"paced {n}", paced["relay"], paced["post"], paced["errors"])
                    )
                )
            await asyncio.gather(*tasks)
            paced_wall = time.perf_counter() - started

            # Saturated: one message to every conversation, 50 in flight.
            burst: dict[str, list[Any]] = {"relay": [], "post": [], "errors": []}

            async def bounded_relay(customer: TimedCustomer) -> None:
                async with semaphore:
                    await relay_one(customer, "burst", burst["relay"], burst["post"], burst["errors"])

            started = time.perf_counter()
            await asyncio.gather(*[bounded_relay(c) for c in (customers if relay_too else [])])
            burst_wall = time.perf_counter() - started
            for ws in sockets:
                await ws.close()
            for reader in readers:
                reader.cancel()
            for agent_session in agent_sessions:
                await agent_session.close()
            for customer in customers:
                await customer.close()

        def summary(run: dict[str, list[Any]], wall: float) -> dict[str, Any]:
            return {
                "messages": len(run["relay"]),
                "errors": len(run["errors"]),
                "error_examples": run["errors"][:3],
                "relay_p50_ms": pct(run["relay"], 50),
                "relay_p95_ms": pct(run["relay"], 95),
                "post_p50_ms": pct(run["post"], 50),
                "messages_per_s": len(run["relay"]) / wall if wall else None,
            }

        out = {
            "conversations": len(tokens),
            "agents": agents,
            "paced_rate_per_s": rate,
            "paced": summary(paced, paced_wall),
            "saturated_50_in_flight": summary(burst, burst_wall),
            "queue_drain": drained,
        }
        if not relay_too:
            return out
        say(f"\n## Agent-to-customer relay with {len(tokens)} active conversations ({agents} agents)")
        rows = []
        for label, run in (
            (f"paced, {rate:g} messages/s", out["paced"]),
            ("saturated, 50 in flight", out["saturated_50_in_flight"]),
        ):
            rows.append(
                [
                    len(tokens),
                    label,
                    run["messages"],
                    ms(run["relay_p50_ms"]),
                    ms(run["relay_p95_ms"]),
                    ms(run["post_p50_ms"]),
                    "–" if run["messages_per_s"] is None else f"{run['messages_per_s']:.0f}",
                    run["errors"],
                ]
            )
        say(
            table(
                [
                    "active conversations",
                    "agents sending",
                    "messages",
                    "relay p50 ms",
                    "relay p95 ms",
                    "POST p50 ms",
                    "delivered/s",
                    "errors",
                ],
                rows,
            )
        )
        say(
            f"  (relay: POST /api/agent/conversations/{{id}}/messages sent → the customer's WebSocket frame "
            f"arrived; {agents} agents, each with the inbox WebSocket open)"
        )
        return out

    async def queue_drain(
        self, hub_url: str, customers: list[TimedCustomer], owner: dict[str, aiohttp.ClientSession]
    ) -> dict[str, Any]:
        """Every queued conversation claimed through the agent API, 50 claims in flight, while
        every waiting customer has the widget open (each claim moves everyone behind it up one)."""
        say(f"\n## Queue drain: {len(customers)} queued conversations claimed through the agent API")
        semaphore = asyncio.Semaphore(50)
        claim_ms: list[float] = []
        frames_before = sum(len(c.frames) for c in customers)

        async def claim(customer: TimedCustomer) -> None:
            async with semaphore:
                sent = time.perf_counter()
                async with owner[customer.conversation_id].post(
                    f"{hub_url}/api/agent/conversations/{customer.conversation_id}/claim"
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(f"claim failed: {response.status} {await response.text()}")
                claim_ms.append(1000 * (time.perf_counter() - sent))

        started = time.perf_counter()
        await asyncio.gather(*[claim(c) for c in customers])
        # Drained when every customer has been told a person has their conversation.
        await asyncio.gather(
            *[c.frame_matching(0, lambda f: f["type"] == "state" and f["state"] == "agent", 120) for c in customers]
        )
        drained_s = time.perf_counter() - started
        place_frames = sum(
            1 for c in customers for f in c.frames if f["type"] == "state" and f["state"] == "queued"
        ) - len(customers)  # each customer's first one came with hello
        out = {
            "conversations": len(customers),
            "drained_s": round(drained_s, 2),
            "claim_p50_ms": pct(claim_ms, 50),
            "claim_p95_ms": pct(claim_ms, 95),
            "place_frames": place_frames,
            "frames_to_customers": sum(len(c.frames) for c in customers) - frames_before,
        }
        say(
            table(
                [
                    "queued conversations (widgets open)",
                    "drained in s",
                    "claim p50 ms",
                    "claim p95 ms",
                    "place updates sent",
                ],
                [
                    [
                        len(customers),
                        f"{drained_s:.2f}",
                        ms(out["claim_p50_ms"]),
                        ms(out["claim_p95_ms"]),
                        place_frames,
                    ]
                ],
            )
        )
        say(
            "  (50 claims in flight, spread over the agents; drained: from the first claim until every customer "
            "has been told a person has their conversation. Aim: under 5 s for 200)"
        )
        return out

    # --- overload: bot_unavailable handoffs ----------------------------------------------------

    async def overload(self, hub_url: str, rasa_url: str, stack: Stack | None) -> dict[str, Any]:
        """`--overload-concurrency` conversations at once on one Rasa process: how many are handed
        to a person as bot_unavailable (aim 0), once per in-flight limit of `--in-flight` (each a
        fresh hub with HUB_RASA_MAX_IN_FLIGHT set; default: the hub as configured)."""
        concurrency, conversations = self.args.overload_concurrency, self.args.overload_conversations
        say(f"\n## Overload: {concurrency} concurrent conversations ({conversations} in all) on one Rasa process")
        limits: list[int | None] = list(self.args.in_flight) or [None]
        if limits != [None] and stack is None:
            raise SystemExit("--in-flight restarts the hub: leave out --hub-url so the bench starts its own stack")
        runs = []
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            if not self.calibration:
                await self.calibrate(session, [rasa_url])
            for limit in limits:
                if stack is not None and limit is not None:
                    stack.stop_hub()
                    stack.restart_hub({"HUB_RASA_MAX_IN_FLIGHT": str(limit)})
                    _, warm = await self.hub_level(session, hub_url, 2, 2)
                    for customer in warm:
                        await customer.close()
                result, customers = await self.hub_level(session, hub_url, concurrency, conversations)
                handed = sum(
                    1
                    for c in customers
                    if any(f["type"] == "state" and f.get("reason") == "bot_unavailable" for f in c.frames)
                )
                waited = sum(
                    1
                    for c in customers
                    if any(
                        f["type"] == "message" and f.get("sender") == "system" and WAIT_NOTICE in f["text"]
                        for f in c.frames
                    )
                )
                for customer in customers:
                    await customer.close()
                summary = result.summary()
                runs.append({"in_flight": limit, "bot_unavailable": handed, "told_to_wait": waited, **summary})
        if stack is not None and limits != [None]:
            stack.stop_hub()
            stack.restart_hub()
        rows = [
            [
                "as configured" if r["in_flight"] is None else ("unlimited" if r["in_flight"] == 0 else r["in_flight"]),
                r["bot_unavailable"],
                r["told_to_wait"],
                f"{r['msgs_per_s']:.1f}",
                ms(r["p50_ms"]),
                ms(r["p95_ms"]),
                r["errors"] - r["bot_unavailable"],
            ]
            for r in runs
        ]
        say(
            table(
                [
                    "HUB_RASA_MAX_IN_FLIGHT",
                    f"bot_unavailable handoffs (of {conversations})",
                    "told to wait",
                    "msg/s",
                    "p50 ms",
                    "p95 ms",
                    "other errors",
                ],
                rows,
            )
        )
        say(
            f"  ({concurrency} simulated customers at a time, 3 bot turns each, through the hub to one Rasa process; "
            "told to wait: got the hub's 'taking longer than usual' message. Aim: 0 handoffs)"
        )
        return {"concurrency": concurrency, "conversations": conversations, "runs": runs}

    # --- scale-out -----------------------------------------------------------------------------

    async def scale_out(self, workdir: Path) -> dict[str, Any]:
        say("\n## Scale-out: PostgreSQL tracker store + Redis lock store, 2 Rasa processes versus 1")
        database = f"rasa_bench_{secrets.token_hex(4)}"
        await create_tracker_database(database)
        stack = Stack(
            workdir,
            extra_env={
                "RASA_TRACKER_DIALECT": "postgresql",
                "RASA_TRACKER_HOST": "127.0.0.1",
                "RASA_TRACKER_PORT": "5432",
                "RASA_TRACKER_DB": database,
                "RASA_TRACKER_USER": "postgres",
                "RASA_TRACKER_PASSWORD": "",
                "RASA_LOCK_REDIS_HOST": "127.0.0.1",
                "RASA_LOCK_REDIS_PORT": "6379",
            },
        )
        try:
            started = time.perf_counter()
            say(f"  starting the action server, 2 Rasa processes (database {database}) and the hub…")
            stack.start_scale_out(rasa_processes=2, hub_rasa_processes=1)
            say(f"  up in {time.perf_counter() - started:.0f} s")
            concurrency, conversations = self.args.scale_concurrency, self.args.scale_conversations
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                await self.calibrate(session, stack.rasa_urls)
                _, customers = await self.hub_level(session, stack.hub_url, 2, 4)
                for customer in customers:
                    await customer.close()
                rasa_one = await self.rasa_level(session, stack.rasa_urls[:1], concurrency, conversations, label="pg1")
                rasa_two = await self.rasa_level(session, stack.rasa_urls, concurrency, conversations, label="pg2")
                hub_one, customers = await self.hub_level(session, stack.hub_url, concurrency, conversations)
                for customer in customers:
                    await customer.close()
                stack.stop_hub()
                stack.restart_hub(stack.hub_rasa_env(2))
                _, customers = await self.hub_level(session, stack.hub_url, 2, 4)
                for customer in customers:
                    await customer.close()
                hub_two, customers = await self.hub_level(session, stack.hub_url, concurrency, conversations)
                ids_two = [c.conversation_id for c in customers]
                for customer in customers:
                    await customer.close()
                piped, customers = await self.hub_level(session, stack.hub_url, 10, 20, pipelined=True)
                ids_piped = [c.conversation_id for c in customers]
                for customer in customers:
                    await customer.close()
            order = await tracker_order_check(
                database,
                ids_two + ids_piped,
                {cid: [rasa_text(k, v) for k, v in script(i)] for i, cid in enumerate(ids_two)}
                | {cid: [rasa_text(k, v) for k, v in script(i)] for i, cid in enumerate(ids_piped)},
            )
            per_process = [0, 0]
            for cid in ids_two:
                per_process[int(hashlib.sha1(cid.encode()).hexdigest(), 16) % 2] += 1
        finally:
            stack.stop()
            await drop_database(database)
        h1, h2, r1, r2, p = (
            hub_one.summary(),
            hub_two.summary(),
            rasa_one.summary(),
            rasa_two.summary(),
            piped.summary(),
        )
        out = {
            "database": database,
            "concurrency": concurrency,
            "conversations": conversations,
            "hub_one_rasa": h1,
            "hub_two_rasa": h2,
            "rasa_rest_one": r1,
            "rasa_rest_two": r2,
            "pipelined": p,
            "hub_throughput_ratio": ratio(h2["msgs_per_s"], h1["msgs_per_s"]),
            "rasa_throughput_ratio": ratio(r2["msgs_per_s"], r1["msgs_per_s"]),
            "conversations_per_process": per_process,
            "order": order,
        }
        rows = [
            [
                label,
                f"{r['msgs_per_s']:.1f}",
                ms(r["p50_ms"]),
                ms(r["p95_ms"]),
                r["errors"],
                r["turns_over_20s"],
                r["unexpected_replies"],
            ]
            for label, r in (
                ("hub → 1 Rasa", h1),
                ("hub → 2 Rasa (RASA_URLS=a,b)", h2),
                ("Rasa REST, 1 process", r1),
                ("Rasa REST, 2 processes", r2),
            )
        ]
        say(
            table(
                [
                    f"{concurrency} concurrent, {conversations} conversations",
                    "msg/s",
                    "p50 ms",
                    "p95 ms",
                    "errors",
                    "turns > 20 s",
                    "out of order / unexpected",
                ],
                rows,
            )
        )
        say(
            f"  throughput 2 Rasa / 1 Rasa: through the hub {fmt_ratio(out['hub_throughput_ratio'])}, "
            f"plain REST {fmt_ratio(out['rasa_throughput_ratio'])} (aim ≥ 1.6×; {os.cpu_count()} cores shared by "
            f"both Rasa processes, the action server, the hub, PostgreSQL and the load generator)"
        )
        say(f"  conversations per Rasa process (hash of the id): {per_process}")
        say(
            f"  order: {p['conversations']} conversations sending all 3 messages at once: "
            f"{p['turns'] - p['unexpected_replies']}/{p['turns']} got every reply in order; "
            f"tracker store: {order['in_order']}/{order['checked']} conversations have the customer's "
            f"messages in the order sent"
        )
        return out

    # --- the whole run -------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        args = self.args
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": machine(),
            "args": {k: v for k, v in vars(args).items()},
        }
        parts = args.parts
        with scratch_workdir(ROOT / "var" / "bench", "bench-", args.keep) as workdir:
            stack: Stack | None = None
            try:
                if args.hub_url:
                    hub_url, rasa_url = args.hub_url.rstrip("/"), args.rasa_url.rstrip("/")
                    require_running({"hub": f"{hub_url}/health", "Rasa": f"{rasa_url}/"}, "bench")
                    actions_url = args.actions_url
                    hub_pid = args.hub_pid or pid_listening_on(int(hub_url.rsplit(":", 1)[1]))
                    tracker_db = Path(args.rasa_tracker_db) if args.rasa_tracker_db else None
                    agent_env = dict(os.environ)
                elif parts & {"e2e", "capacity", "overload"}:
                    stack = start_stack(workdir, say)
                    hub_url, rasa_url = stack.hub_url, stack.rasa_url
                    actions_url = f"http://127.0.0.1:{stack.actions_port}/webhook"
                    hub_pid = stack.processes["hub"].pid
                    tracker_db = stack.workdir / "rasa-tracker.sqlite3"
                    agent_env = stack.env()
                elif "drain" in parts:  # the queue drain alone needs only a hub
                    stack = Stack(workdir / "stack")
                    stack.workdir.mkdir(parents=True)
                    stack.restart_hub()
                    hub_url, agent_env = stack.hub_url, stack.env()
                if "e2e" in parts:
                    e2e = await self.end_to_end(hub_url, rasa_url)
                    took("end to end")
                    anatomy = await self.anatomy(e2e, actions_url, tracker_db, ROOT / "var" / "kb-index")
                    took("anatomy")
                    out["end_to_end"] = {
                        "levels": [
                            {k: v for k, v in level.items() if not k.startswith("_")} for level in e2e["levels"]
                        ],
                        "paired": e2e["paired"],
                    }
                    out["anatomy"] = anatomy
                if "overload" in parts:
                    out["overload"] = await self.overload(hub_url, rasa_url, stack)
                    took("overload")

                if parts & {"capacity", "drain"}:
                    # Hub capacity. Own stack: seed the relay's queue straight into the hub's SQLite
                    # file while the hub is stopped, then start a fresh hub process (a clean RSS baseline).
                    if stack is not None:
                        stack.stop_hub()
                        tokens = await seed_queue(stack.workdir / "hub.sqlite3", args.relay)
                        stack.restart_hub()
                        hub_pid = stack.processes["hub"].pid
                        if "capacity" in parts:
                            out["idle"] = await self.idle_connections(hub_url, hub_pid, args.idle)
                    else:
                        if "capacity" in parts:
                            out["idle"] = await self.idle_connections(hub_url, hub_pid, args.idle)
                        tokens = await self.seed_queue_through_bot(hub_url, args.relay)
                    took("idle connections")
                    out["relay"] = await self.relay(
                        hub_url,
                        tokens,
                        agent_env,
                        args.agents,
                        args.relay_rounds,
                        args.relay_rate,
                        relay_too="capacity" in parts,
                    )
                    took("queue drain and relay")

                if stack is not None:
                    stack.stop()
                    stack = None
                if "scale-out" not in parts:
                    say("\n(scale-out part skipped)")
                else:
                    out["scale_out"] = await self.scale_out(workdir / "scale-out")
                    took("scale-out")
            finally:
                if stack is not None:
                    stack.stop()
        out["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        return out

    async def seed_queue_through_bot(self, hub_url: str, count: int) -> list[tuple[str, str]]:
        """A running stack: queue conversations the real way (ask for a person, then end the form)."""
        say(f"\n(queueing {count} conversations through the bot for the relay benchmark…)")
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            customers = await self.connect_customers(session, hub_url, count, parallel=20)
            semaphore = asyncio.Semaphore(20)

            async def queue(customer: TimedCustomer) -> None:
                async with semaphore:
                    mark, _ = await customer.send("message", "I want to talk to a person")
                    await customer.frame_matching(
                        mark,
                        lambda f: f["type"] == "message" and f["sender"] == "bot" and "name" in f["text"].lower(),
                        timeout=60,
                    )
                    mark, _ = await customer.send("message", "just get me a person")
                    await customer.frame_matching(
                        mark, lambda f: f["type"] == "state" and f["state"] == "queued", timeout=120
                    )

            await asyncio.gather(*[queue(c) for c in customers])
            for customer in customers:
                await customer.close()
        return [(c.conversation_id, c.token) for c in customers]


def load_searcher(index_dir: Path) -> Any:
    """knowledge_base.search.Searcher on the index the action server serves, loaded and warm."""
    from knowledge_base.search import Searcher
    from knowledge_base.settings import KBSettings, read_environment

    env = read_environment()
    env["KB_INDEX_DIR"] = str(index_dir)
    searcher = Searcher(KBSettings.from_env(env))
    searcher.reload_if_changed()
    for question in QUESTIONS[:3]:
        searcher.search(question)
    return searcher


async def run_with_workers(count: int, concurrency: int, handle: Callable[[int], Awaitable[None]]) -> float:
    """`handle(0)` … `handle(count - 1)` on `concurrency` workers, each taking the next index as it
    finishes one (a fixed number of conversations in flight); returns the wall time in seconds."""
    pending = iter(range(count))

    async def worker() -> None:
        for i in pending:
            await handle(i)

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - started


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def seed_queue(db_path: Path, count: int) -> list[tuple[str, str]]:
    """Queue `count` conversations straight in the (stopped) hub's store: waiting for a person."""
    from handoff.settings import sqlite_url
    from handoff.store import Store

    store = await Store.open(sqlite_url(db_path))
    tokens = []
    try:
        for i in range(count):
            details = {"customer_name": f"Bench Customer {i}", "customer_email": f"bench.customer{i}@example.com"}
            conversation, token = await store.create_conversation(
                {"name": details["customer_name"], "email": details["customer_email"]}
            )
            await store.enqueue_handoff(
                conversation.id,
                reason="customer_request",
                priority="normal",
                headline=f"Customer asked for a person: relay benchmark {i}",
                summary="Seeded by scripts/bench_e2e.py for the relay benchmark.",
                details=details,
            )
            tokens.append((conversation.id, token))
    finally:
        await store.close()
    return tokens


# --- PostgreSQL for the scale-out part --------------------------------------------------------


async def create_tracker_database(name: str) -> None:
    """A fresh database with Rasa's `events` table already made, so that two Rasa processes
    starting at once do not race to create it."""
    import asyncpg

    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=name)
    try:
        await conn.execute(EVENTS_DDL)
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def tracker_order_check(database: str, conversation_ids: list[str], sent: dict[str, list[str]]) -> dict[str, Any]:
    """In the shared tracker store, each conversation's user messages are in the order sent."""
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database=database)
    try:
        rows = await conn.fetch(
            "SELECT sender_id, data FROM events WHERE type_name = 'user' AND sender_id = ANY($1::text[]) ORDER BY id",
            conversation_ids,
        )
    finally:
        await conn.close()
    seen: dict[str, list[str]] = {cid: [] for cid in conversation_ids}
    for row in rows:
        seen[row["sender_id"]].append(json.loads(row["data"]).get("text"))
    bad = [cid for cid in conversation_ids if seen[cid] != sent[cid]]
    return {"checked": len(conversation_ids), "in_order": len(conversation_ids) - len(bad), "examples": bad[:3]}


# ------------------------------------------------------------------------------------------------


def parse_levels(text: str) -> list[tuple[int, int]]:
    levels = []
    for part in text.split(","):
        concurrency, _, conversations = part.partition(":")
        levels.append((int(concurrency), int(conversations or concurrency)))
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hub-url", help="use a running stack (e.g. http://127.0.0.1:8000) instead of starting one")
    parser.add_argument(
        "--rasa-url",
        default=f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}",
        help="with --hub-url: its Rasa server, for the plain-Rasa baseline",
    )
    parser.add_argument(
        "--actions-url",
        default=f"http://127.0.0.1:{os.environ.get('ACTION_SERVER_PORT', '5055')}/webhook",
        help="with --hub-url: its action server's webhook",
    )
    parser.add_argument("--hub-pid", type=int, help="with --hub-url: the hub's pid (found from its port otherwise)")
    parser.add_argument("--rasa-tracker-db", help="with --hub-url: Rasa's SQLite tracker store (for the anatomy)")
    parser.add_argument(
        "--levels",
        type=parse_levels,
        default=parse_levels("1:10,10:30,50:100"),
        help="concurrency:conversations,… (default 1:10,10:30,50:100)",
    )
    parser.add_argument("--idle", type=int, default=2000, help="idle customer connections (default 2000)")
    parser.add_argument("--relay", type=int, default=200, help="active conversations for the relay (default 200)")
    parser.add_argument("--relay-rounds", type=int, default=2, help="paced agent messages per conversation (default 2)")
    parser.add_argument(
        "--relay-rate",
        type=float,
        default=20.0,
        help="paced agent messages per second over all conversations (default 20)",
    )
    parser.add_argument("--agents", type=int, default=5, help="agents sharing the relay's conversations (default 5)")
    parser.add_argument("--scale-concurrency", type=int, default=50)
    parser.add_argument(
        "--paired",
        type=int,
        default=20,
        help="e2e part: conversations run through the hub and straight to Rasa back to back (default 20; 0: none)",
    )
    parser.add_argument("--overload-concurrency", type=int, default=50)
    parser.add_argument("--overload-conversations", type=int, default=100)
    parser.add_argument(
        "--in-flight",
        type=lambda text: [int(n) for n in text.split(",") if n.strip()],
        default=[],
        help="overload part: HUB_RASA_MAX_IN_FLIGHT values to compare, e.g. 2,4,8,0 (0: no limit); "
        "default: the hub as configured",
    )
    parser.add_argument("--scale-conversations", type=int, default=100)
    parser.add_argument(
        "--scripts",
        type=int,
        default=len(QUESTIONS),
        help=f"distinct scripted conversations (default {len(QUESTIONS)})",
    )
    parser.add_argument("--skip-scale-out", action="store_true", help="skip the PostgreSQL / two-Rasa part")
    parser.add_argument(
        "--parts",
        type=lambda text: set(text.split(",")),
        default=set(PARTS),
        help=f"which parts, comma-separated: {', '.join(PARTS)} (default all; drain alone starts only a hub)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 and 2 conversations, 20 idle connections, no two-Rasa part"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack's folder (logs, SQLite files) under var/bench/"
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "bench"), help="folder for the JSON (default var/bench)")
    args = parser.parse_args(argv)
    if args.parts - set(PARTS):
        parser.error(f"unknown parts {sorted(args.parts - set(PARTS))}; choose from {', '.join(PARTS)}")
    if args.skip_scale_out:
        args.parts.discard("scale-out")
    if args.quick:
        args.levels, args.idle, args.relay, args.relay_rounds, args.agents = [(1, 1), (2, 2)], 20, 5, 1, 1
        args.overload_concurrency, args.overload_conversations, args.paired = 2, 2, 2
        args.scripts = 2
        args.parts.discard("scale-out")
    global SCRIPTS
    SCRIPTS = args.scripts = max(1, min(args.scripts, len(QUESTIONS)))
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    started = time.perf_counter()
    try:
        result = asyncio.run(Bench(args).run())
    except KeyboardInterrupt:
        return 130
    result["duration_s"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"e2e-{stamp}{'-quick' if args.quick else ''}.json"
    text = json.dumps(result, indent=2, default=str)
    path.write_text(text)
    (out_dir / ("e2e-quick-latest.json" if args.quick else "e2e-latest.json")).write_text(text)
    say(
        f"\nmachine: {result['machine']['cores']} cores ({result['machine']['cpu']}), "
        f"{result['machine']['memory_gib']} GiB, load average {result['machine']['loadavg_at_start'][0]:.1f} at the "
        f"start and {result['machine']['loadavg_at_end'][0]:.1f} at the end; took {result['duration_s']:.0f} s; JSON: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
