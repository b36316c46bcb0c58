"""Teams over HTTP, for admins (`/api/admin/teams`): create, list, set members, delete; and their
names for every agent (`/api/agent/teams`). Handoffs are routed to teams by `HUB_TEAM_ROUTES`
(handoff/routing.py); every agent reads the queue."""

from __future__ import annotations

from aiohttp import web

from handoff import auth
from handoff.app_keys import STORE
from handoff.errors import error_response
from handoff.store import Conflict, StoreError

routes = web.RouteTableDef()
NAME_CHARS = 60


def _problem(exc: StoreError) -> web.Response:
    return error_response(409 if isinstance(exc, Conflict) else 404, exc.code, str(exc))


def _team_id(request: web.Request) -> int | None:
    raw = request.match_info["team_id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


async def _body(request: web.Request) -> dict[str, object] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


@routes.get("/api/admin/teams")
@auth.role_required("admin")
async def list_teams(request: web.Request) -> web.StreamResponse:
    return web.json_response({"teams": [team.to_json() for team in await request.app[STORE].teams()]})


@routes.get("/api/agent/teams")
@auth.agent_required
async def team_names(request: web.Request) -> web.StreamResponse:
    """Every team's id and name, for every agent (the search's team filter)."""
    teams = await request.app[STORE].teams()
    return web.json_response({"teams": [{"id": team.id, "name": team.name} for team in teams]})


@routes.post("/api/admin/teams")
@auth.role_required("admin")
async def create_team(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    name = body.get("name") if body else None
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_CHARS:
        return error_response(400, "malformed", f'Send {{"name": "Cards"}}: 1 to {NAME_CHARS} characters.')
    try:
        team = await request.app[STORE].create_team(name.strip())
    except StoreError as exc:
        return _problem(exc)
    return web.json_response(team.to_json(), status=201)


@routes.put("/api/admin/teams/{team_id}/members")
@auth.role_required("admin")
async def set_members(request: web.Request) -> web.StreamResponse:
    team_id, body = _team_id(request), await _body(request)
    if team_id is None:
        return error_response(404, "not_found", "No such team.")
    agent_ids = body.get("agent_ids") if body else None
    if not isinstance(agent_ids, list) or not all(
        isinstance(a, int) and not isinstance(a, bool) and 0 < a < 2**31 for a in agent_ids
    ):
        return error_response(400, "malformed", 'Send {"agent_ids": [1, 2]}: the members, all of them.')
    try:
        team = await request.app[STORE].set_team_members(team_id, {int(a) for a in agent_ids})
    except StoreError as exc:
        return _problem(exc)
    return web.json_response(team.to_json())


@routes.delete("/api/admin/teams/{team_id}")
@auth.role_required("admin")
async def delete_team(request: web.Request) -> web.StreamResponse:
    team_id = _team_id(request)
    if team_id is None:
        return error_response(404, "not_found", "No such team.")
    try:
        await request.app[STORE].delete_team(team_id)
    except StoreError as exc:
        return _problem(exc)
    return web.Response(status=204)
