"""Typed application state (aiohttp AppKeys)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from handoff.fanout import Fanout
from handoff.mail.outbox import Mailer
from handoff.rasa_client import RasaClient
from handoff.rate_limit import Limiter
from handoff.relay import Relay, RelayObserver
from handoff.settings import HubSettings
from handoff.store import Store

SETTINGS = web.AppKey("settings", HubSettings)
STORE = web.AppKey("store", Store)
RASA = web.AppKey("rasa", RasaClient)
FANOUT = web.AppKey("fanout", Fanout)
RELAY = web.AppKey("relay", Relay)
RATE_LIMITER: web.AppKey[Limiter] = web.AppKey("rate_limiter")
ADDRESS_CONVERSATION_LIMITER: web.AppKey[Limiter] = web.AppKey("address_conversation_limiter")
ADDRESS_MESSAGE_LIMITER: web.AppKey[Limiter] = web.AppKey("address_message_limiter")
ADDRESS_SOCKET_LIMITER: web.AppKey[Limiter] = web.AppKey("address_socket_limiter")
RELAY_OBSERVERS = web.AppKey("relay_observers", list[RelayObserver])
MAILER = web.AppKey("mailer", Mailer)
#: the time business hours are judged by (time.time; a fixed clock in tests)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
