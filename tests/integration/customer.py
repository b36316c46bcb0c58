"""A customer as the widget is: the wire contract over a real WebSocket to the real hub."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

Frame = dict[str, Any]


class Customer:
    def __init__(self, session: aiohttp.ClientSession, hub_url: str) -> None:
        self.session = session
        self.hub_url = hub_url
        self.frames: list[Frame] = []
        self.token = ""
        self.conversation_id = ""
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def start(self, metadata: dict[str, str] | None = None) -> Customer:
        async with self.session.post(
            f"{self.hub_url}/api/conversations", json={"metadata": metadata or {}}
        ) as response:
            assert response.status == 201, await response.text()
            body = await response.json()
        self.token, self.conversation_id = body["token"], body["conversation_id"]
        await self.connect()
        return self

    async def connect(self, after_seq: int = 0) -> None:
        self._ws = await self.session.ws_connect(f"{self.hub_url}/ws", origin=self.hub_url)
        await self._ws.send_json({"type": "hello", "token": self.token, "after_seq": after_seq})
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(lambda f: f["type"] == "state", since=len(self.frames))

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.json())
                self._arrived.set()

    async def say(self, text: str, client_id: str | None = None) -> int:
        """Send a message; return the index of the first frame after it."""
        assert self._ws is not None
        mark = len(self.frames)
        await self._ws.send_json({"type": "message", "client_id": client_id or uuid.uuid4().hex, "text": text})
        return mark

    async def press(self, title: str, payload: str) -> int:
        assert self._ws is not None
        mark = len(self.frames)
        await self._ws.send_json({"type": "button", "client_id": uuid.uuid4().hex, "title": title, "payload": payload})
        return mark

    async def wait_for(self, predicate: Callable[[Frame], bool], since: int = 0, timeout: float = 60) -> Frame:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for frame in self.frames[since:]:
                if predicate(frame):
                    return frame
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no matching frame; got {self.frames[since:]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 1))

    async def bot_reply(self, since: int, timeout: float = 60) -> list[Frame]:
        """The bot's messages after `since`, once the last one (buttons or a state) has come."""
        await self.wait_for(lambda f: f["type"] == "message" and f["sender"] == "bot", since, timeout)
        await asyncio.sleep(0.3)
        return [f for f in self.frames[since:] if f["type"] == "message" and f["sender"] in ("bot", "system")]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
