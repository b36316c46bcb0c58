"""Posting customer messages to Rasa's REST channel and reading its replies.

With several Rasa processes (RASA_URLS), each conversation always goes to the same one (a
hash of its id): Rasa 3.6's Redis lock store is not atomic across servers (RasaHQ/rasa#9213),
so one process per conversation keeps replies in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from handoff.contract import HandoffPayload


class BotUnavailable(Exception):
    """Rasa is down, too slow, or answered with an error; `code` says which."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


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
                for b in item.get("buttons") or []
                if isinstance(b, dict)
            ]
            turn.messages.append(BotMessage(text=text, buttons=buttons))
    return turn


class RasaClient:
    def __init__(self, urls: tuple[str, ...], timeout_seconds: float) -> None:
        self.urls = urls
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def url_for(self, conversation_id: str) -> str:
        index = int(hashlib.sha1(conversation_id.encode()).hexdigest(), 16) % len(self.urls)
        return self.urls[index]

    async def send(self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None) -> BotTurn:
        assert self._session is not None, "RasaClient.start() was not awaited"
        url = f"{self.url_for(conversation_id)}/webhooks/rest/webhook"
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        try:
            async with self._session.post(url, json=body) as response:
                if response.status != 200:
                    raise BotUnavailable("rasa_error", f"Rasa answered HTTP {response.status}")
                items = await response.json(content_type=None)
        except TimeoutError:
            raise BotUnavailable("rasa_timeout", f"Rasa did not answer within {self.timeout.total}s") from None
        except aiohttp.ClientError as exc:
            raise BotUnavailable("rasa_unreachable", f"{type(exc).__name__} at {url}") from None
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
