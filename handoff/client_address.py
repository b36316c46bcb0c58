"""The address a request really comes from, for per-address limits.

Behind a reverse proxy every request comes from the proxy, so one customer's flood would limit
everyone and a forged X-Forwarded-For would dodge the limit. X-Forwarded-For is read only when
the request comes from an address in HUB_TRUSTED_PROXIES, and then the rightmost address in it
that is not itself a trusted proxy is the client (the leftmost ones are whatever the client sent).
"""

from __future__ import annotations

from aiohttp import web

from handoff.app_keys import SETTINGS


def client_address(request: web.Request) -> str:
    peer = request.remote or "unknown"
    trusted = request.app[SETTINGS].trusted_proxies
    if peer not in trusted:
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for part in header.split(",")
        if part.strip()
    ]
    for address in reversed(forwarded):
        if address not in trusted:
            return address[:64]
    return peer
