"""Teams and their members: the queues handoffs are routed to (handoff/routing.py). An agent may
be in several teams; a handoff is in one team or in the general queue (team_id NULL)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from handoff.store import schema as T
from handoff.store.db import Database
from handoff.store.errors import Conflict, NotFound


@dataclass(frozen=True)
class Team:
    id: int
    name: str
    member_ids: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "member_ids": list(self.member_ids)}


class TeamStore(Database):
    async def create_team(self, name: str) -> Team:
        """A new team; a name is unique whatever its case (routing finds teams case-insensitively)."""
        if await self.team_by_name(name) is not None:
            raise Conflict(f"a team named {name!r} already exists")
        try:
            async with self.write() as conn:
                team_id = (
                    await conn.execute(
                        T.teams.insert().values(name=name, created_at=time.time()).returning(T.teams.c.id)
                    )
                ).scalar_one()
        except IntegrityError:
            raise Conflict(f"a team named {name!r} already exists") from None
        return Team(int(team_id), name, ())

    async def teams(self) -> list[Team]:
        """Every team by name, with its members' ids."""
        async with self.read() as conn:
            teams = (await conn.execute(sa.select(T.teams).order_by(T.teams.c.name))).all()
            members = (await conn.execute(sa.select(T.team_members))).all()
        by_team: dict[int, list[int]] = {}
        for row in members:
            by_team.setdefault(row.team_id, []).append(row.agent_id)
        return [Team(t.id, t.name, tuple(sorted(by_team.get(t.id, [])))) for t in teams]

    async def team_by_name(self, name: str) -> Team | None:
        """Case-insensitive: the routing table names teams as people write them."""
        return next((t for t in await self.teams() if t.name.lower() == name.strip().lower()), None)

    async def team_ids_of(self, agent_id: int) -> set[int]:
        async with self.read() as conn:
            rows = await conn.execute(sa.select(T.team_members.c.team_id).where(T.team_members.c.agent_id == agent_id))
            return {int(team_id) for team_id in rows.scalars()}

    async def set_team_members(self, team_id: int, agent_ids: set[int]) -> Team:
        """The team's members become exactly `agent_ids` (each an existing agent)."""
        async with self.write() as conn:
            if (await conn.execute(sa.select(T.teams.c.id).where(T.teams.c.id == team_id))).first() is None:
                raise NotFound(f"team {team_id} does not exist")
            if agent_ids:
                known = set(
                    (await conn.execute(sa.select(T.agents.c.id).where(T.agents.c.id.in_(agent_ids)))).scalars()
                )
                if known != agent_ids:
                    raise NotFound(f"no agent with id {', '.join(map(str, sorted(agent_ids - known)))}")
            await conn.execute(T.team_members.delete().where(T.team_members.c.team_id == team_id))
            if agent_ids:
                await conn.execute(
                    T.team_members.insert(), [{"team_id": team_id, "agent_id": a} for a in sorted(agent_ids)]
                )
        return next(t for t in await self.teams() if t.id == team_id)

    async def delete_team(self, team_id: int) -> None:
        """The team and its memberships go; its open handoffs move to the general queue."""
        async with self.write() as conn:
            await conn.execute(T.team_members.delete().where(T.team_members.c.team_id == team_id))
            await conn.execute(T.handoffs.update().where(T.handoffs.c.team_id == team_id).values(team_id=None))
            result = await conn.execute(T.teams.delete().where(T.teams.c.id == team_id))
        if result.rowcount != 1:
            raise NotFound(f"team {team_id} does not exist")
