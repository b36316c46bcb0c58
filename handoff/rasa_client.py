"""Posting customer messages to Rasa's REST channel and reading its replies.

With several Rasa processes (RASA_URLS), each conversation always goes to the same one (a
hash of its id): Rasa 3.6's Redis lock store is not atomic across servers (RasaHQ/rasa#9213),
so one process per conversation keeps replies in order.

A turn (`RasaClient.answer`) waits for one of its Rasa's in-flight slots (handoff/rasa_limiter.py)
and, while Rasa cannot be reached at all (loading its model, restarting), tries again with
backoff; both within `HUB_RASA_WAIT_SECONDS`. Once sent, Rasa has `HUB_RASA_TIMEOUT_SECONDS` to
answer. A request that reached Rasa is never sent twice (Rasa may have acted on it), so an error
answer, a malformed body or a timeout ends the turn at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from handoff.contract import HandoffPayload
from handoff.rasa_limiter import InFlightLimiter, SlotTimeout

#: statuses that say Rasa did not take the request: a proxy in front with no Rasa up (HAProxy's 503).
#: Not 502 or 504: a proxy says those after forwarding, and Rasa may have acted on the message.
NOT_TAKEN_STATUSES = frozenset({503})
#: backoff between tries while Rasa cannot be reached: the first wait, doubled up to the last
RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0


class BotUnavailable(Exception):
    """Rasa is down, too slow, busy past the hub's bound, or answered with an error; `code` says
    which. `retryable`: the request never reached Rasa, so sending it again is safe."""

    def __init__(self, code: str, detail: str, retryable: bool = False) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.retryable = retryable


@dataclass
class BotMessage:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    article: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any] | None:
        payload: dict[str, Any] = {}
        if self.buttons:
            payload["buttons"] = self.buttons
        if self.article:
            payload["article"] = self.article
        return payload or None


@dataclass
class BotTurn:
    """One Rasa reply, split into what the customer sees and what the hub acts on."""

    messages: list[BotMessage] = field(default_factory=list)
    handoff: HandoffPayload | None = None
    feedback: list[dict[str, Any]] = field(default_factory=list)
    kb_results: list[dict[str, Any]] = field(default_factory=list)


def _safe_article(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    url = str(value.get("url") or "")
    if not (url.startswith("/") or url.startswith("https://") or url.startswith("http://")):
        url = ""
    return {"id": str(value.get("id") or ""), "title": str(value.get("title") or ""), "url": url}


def parse_reply(items: list[dict[str, Any]]) -> BotTurn:
    """Rasa REST output → BotTurn. A `{"custom": {"article": ...}}` right after a text is that
    text's citation; `{"custom": {"handoff": ...}}` asks for a person; `feedback` is recorded."""
    turn = BotTurn()
    for item in items:
        custom = item.get("custom")
        if isinstance(custom, dict):
            if "article" in custom and turn.messages and turn.messages[-1].article is None:
                turn.messages[-1].article = _safe_article(custom["article"])
            if isinstance(custom.get("handoff"), dict):
                turn.handoff = HandoffPayload.from_json(custom["handoff"])
            if isinstance(custom.get("feedback"), dict):
                turn.feedback.append(custom["feedback"])
            if isinstance(custom.get("kb_result"), dict):
                turn.kb_results.append(custom["kb_result"])
            continue
        text = item.get("text")
        if isinstance(text, str) and text.strip():
            buttons = [
                {"title": str(b.get("title", ""))[:80], "payload": str(b.get("payload", ""))[:200]}
                for b in (item["buttons"] if isinstance(item.get("buttons"), list) else [])
                if isinstance(b, dict)
            ]
            turn.messages.append(BotMessage(text=text, buttons=buttons))
    return turn


class RasaClient:
    def __init__(
        self,
        urls: tuple[str, ...],
        timeout_seconds: float,
        max_in_flight: int = 0,
        wait_seconds: float = 0.0,
    ) -> None:
        self.urls = urls
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        #: the longest a turn waits for a slot or for Rasa to come up, before it goes to a person
        self.wait_seconds = wait_seconds
        self.limiter = InFlightLimiter(max_in_flight)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # No connection cap of its own: the limiter decides how many requests each Rasa gets.
        self._session = aiohttp.ClientSession(timeout=self.timeout, connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url_for(self, conversation_id: str) -> str:
        index = int(hashlib.sha1(conversation_id.encode()).hexdigest(), 16) % len(self.urls)
        return self.urls[index]

    async def answer(self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None) -> BotTurn:
        """One bot turn, waiting (for a slot, or for an unreachable Rasa) at most `wait_seconds`;
        BotUnavailable when Rasa errs, does not answer in time once sent, or the wait runs out."""
        url = self.url_for(conversation_id)
        deadline = time.monotonic() + self.wait_seconds
        backoff = RETRY_FIRST_SECONDS
        while True:
            try:
                async with self.limiter.slot(url, deadline - time.monotonic()):
                    return await self.send(conversation_id, text, metadata)
            except SlotTimeout:
                raise BotUnavailable(
                    "rasa_busy", f"no turn slot at {url} within HUB_RASA_WAIT_SECONDS={self.wait_seconds:g}"
                ) from None
            except BotUnavailable as exc:
                remaining = deadline - time.monotonic()
                if not exc.retryable or remaining <= 0:
                    raise
            await asyncio.sleep(min(backoff, remaining))
            backoff = min(2 * backoff, RETRY_MAX_SECONDS)

    async def send(self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None) -> BotTurn:
        """One request to the conversation's Rasa, now (no slot, no retry)."""
        assert self._session is not None, "RasaClient.start() was not awaited"
        url = f"{self.url_for(conversation_id)}/webhooks/rest/webhook"
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        try:
            async with self._session.post(url, json=body) as response:
                if response.status in NOT_TAKEN_STATUSES:
                    raise BotUnavailable("rasa_unreachable", f"HTTP {response.status} at {url}", retryable=True)
                if response.status != 200:
                    raise BotUnavailable("rasa_error", f"Rasa answered HTTP {response.status}")
                items = await response.json(content_type=None)
        except TimeoutError:
            raise BotUnavailable("rasa_timeout", f"Rasa did not answer within {self.timeout.total}s") from None
        except aiohttp.ClientConnectorError as exc:  # nothing listens (yet): the request never reached Rasa
            raise BotUnavailable("rasa_unreachable", f"{type(exc).__name__} at {url}", retryable=True) from None
        except aiohttp.ClientError as exc:  # it did reach Rasa (a dropped connection, a broken body)
            raise BotUnavailable("rasa_error", f"{type(exc).__name__} at {url}") from None
        except ValueError:
            raise BotUnavailable("rasa_error", "Rasa's reply is not JSON") from None
        if not isinstance(items, list):
            raise BotUnavailable("rasa_error", "Rasa's reply is not a list")
        return parse_reply([i for i in items if isinstance(i, dict)])

    async def health(self) -> dict[str, bool]:
        assert self._session is not None
        status = {}
        for url in self.urls:
            try:
                async with self._session.get(f"{url}/", timeout=aiohttp.ClientTimeout(total=2)) as response:
                    status[url] = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                status[url] = False
        return status
