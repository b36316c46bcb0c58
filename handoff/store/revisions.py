"""Article revisions (the studio's history), agents' suggested edits, and help-page counters.

Every published text of an article is a numbered revision; a save names the revision it was
based on, and is refused (`EditConflict`, carrying the other person's revision) when that is no
longer the latest. Two saves of the same base at the same moment are settled by the unique
(article_id, number) index: the second insert fails and becomes the same refusal, on SQLite and
PostgreSQL alike. Deleting is a revision too (`deleted`), so it can be undone by a restore.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.store import schema as T
from handoff.store.db import Database
from handoff.store.errors import Conflict, NotFound


@dataclass(frozen=True)
class Revision:
    article_id: str
    number: int
    markdown: str
    deleted: bool
    message: str
    author: str
    agent_id: int | None
    created_at: float

    def to_json(self, with_text: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "article_id": self.article_id,
            "number": self.number,
            "deleted": self.deleted,
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at,
        }
        if with_text:
            data["markdown"] = self.markdown
        return data


@dataclass(frozen=True)
class Suggestion:
    id: int
    article_id: str
    base_number: int
    markdown: str
    message: str
    author: str
    agent_id: int | None
    created_at: float
    status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "article_id": self.article_id,
            "base_number": self.base_number,
            "markdown": self.markdown,
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at,
            "status": self.status,
        }


class EditConflict(Conflict):
    """The save's base revision is not the latest: someone else saved in between."""

    code = "edit_conflict"

    def __init__(self, base: int, latest: Revision) -> None:
        super().__init__(
            f"{latest.author} saved revision {latest.number} after the revision {base} you started from; "
            "look at their change, then copy yours onto it and save again"
        )
        self.base = base
        self.latest = latest


def diff_lines(old: str, new: str) -> list[dict[str, str]]:
    """A line diff for people: [{"kind": " " | "+" | "-" | "@", "text"}], with 3 lines of context."""
    lines = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = line[:1] if line[:1] in "+- " else " "
        lines.append(
            {"kind": "@" if line.startswith("@@") else kind, "text": line if line.startswith("@@") else line[1:]}
        )
    return lines


def _revision(row: Any) -> Revision:
    return Revision(
        row.article_id,
        row.number,
        row.markdown,
        bool(row.deleted),
        row.message,
        row.author,
        row.agent_id,
        row.created_at,
    )


def _suggestion(row: Any) -> Suggestion:
    return Suggestion(
        row.id,
        row.article_id,
        row.base_number,
        row.markdown,
        row.message,
        row.author,
        row.agent_id,
        row.created_at,
        row.status,
    )


class RevisionStore(Database):
    async def _latest(self, conn: AsyncConnection, article_id: str) -> Revision | None:
        r = T.article_revisions
        row = (
            await conn.execute(sa.select(r).where(r.c.article_id == article_id).order_by(r.c.number.desc()).limit(1))
        ).first()
        return _revision(row) if row is not None else None

    async def latest_revision(self, article_id: str) -> Revision | None:
        async with self.read() as conn:
            return await self._latest(conn, article_id)

    async def latest_revision_numbers(self) -> dict[str, int]:
        """Every article's latest revision number (the studio's list shows it)."""
        r = T.article_revisions
        async with self.read() as conn:
            rows = await conn.execute(sa.select(r.c.article_id, sa.func.max(r.c.number)).group_by(r.c.article_id))
            return {str(a): int(n) for a, n in rows}

    async def save_revision(
        self,
        article_id: str,
        markdown: str,
        base: int,
        author: str,
        message: str = "",
        agent_id: int | None = None,
        deleted: bool = False,
    ) -> Revision:
        """Record revision base + 1, or raise EditConflict when `base` is not the latest (0: the
        article has no revision yet)."""
        r = T.article_revisions
        try:
            async with self.write() as conn:
                latest = await self._latest(conn, article_id)
                if latest is None and base != 0:
                    raise NotFound(f"article {article_id} has no revision {base}; start from revision 0")
                if latest is not None and latest.number != base:
                    raise EditConflict(base, latest)
                await conn.execute(
                    r.insert().values(
                        article_id=article_id,
                        number=base + 1,
                        markdown=markdown,
                        deleted=deleted,
                        message=message[:500],
                        author=author[:300],
                        agent_id=agent_id,
                        created_at=time.time(),
                    )
                )
        except IntegrityError:  # someone inserted base + 1 between our read and our insert
            latest = await self.latest_revision(article_id)
            assert latest is not None
            raise EditConflict(base, latest) from None
        return await self.revision(article_id, base + 1)

    async def revision(self, article_id: str, number: int) -> Revision:
        r = T.article_revisions
        async with self.read() as conn:
            row = (await conn.execute(sa.select(r).where(r.c.article_id == article_id, r.c.number == number))).first()
        if row is None:
            raise NotFound(f"article {article_id} has no revision {number}")
        return _revision(row)

    async def history(self, article_id: str) -> list[Revision]:
        """Newest first."""
        r = T.article_revisions
        async with self.read() as conn:
            rows = await conn.execute(sa.select(r).where(r.c.article_id == article_id).order_by(r.c.number.desc()))
            return [_revision(row) for row in rows]

    async def deleted_articles(self) -> list[Revision]:
        """Articles whose latest revision is a deletion (the studio offers to undo it)."""
        r = T.article_revisions
        latest = sa.select(r.c.article_id, sa.func.max(r.c.number).label("number")).group_by(r.c.article_id).subquery()
        query = (
            sa.select(r)
            .join(latest, sa.and_(r.c.article_id == latest.c.article_id, r.c.number == latest.c.number))
            .where(r.c.deleted.is_(True))
            .order_by(r.c.created_at.desc())
        )
        async with self.read() as conn:
            return [_revision(row) for row in await conn.execute(query)]

    async def diff(self, article_id: str, old: int, new: int) -> list[dict[str, str]]:
        return diff_lines(
            (await self.revision(article_id, old)).markdown, (await self.revision(article_id, new)).markdown
        )

    # --- suggestions (agents) -----------------------------------------------------------------

    async def add_suggestion(
        self, article_id: str, base_number: int, markdown: str, author: str, message: str, agent_id: int | None
    ) -> Suggestion:
        s = T.article_suggestions
        async with self.write() as conn:
            result = await conn.execute(
                s.insert()
                .values(
                    article_id=article_id,
                    base_number=base_number,
                    markdown=markdown,
                    message=message[:500],
                    author=author[:300],
                    agent_id=agent_id,
                    created_at=time.time(),
                    status="open",
                )
                .returning(s.c.id)
            )
            suggestion_id = int(result.scalar_one())
        return await self.suggestion(suggestion_id)

    async def suggestion(self, suggestion_id: int) -> Suggestion:
        s = T.article_suggestions
        async with self.read() as conn:
            row = (await conn.execute(sa.select(s).where(s.c.id == suggestion_id))).first()
        if row is None:
            raise NotFound(f"no suggestion {suggestion_id}")
        return _suggestion(row)

    async def open_suggestions(self, article_id: str | None = None) -> list[Suggestion]:
        s = T.article_suggestions
        query = sa.select(s).where(s.c.status == "open").order_by(s.c.id)
        if article_id is not None:
            query = query.where(s.c.article_id == article_id)
        async with self.read() as conn:
            return [_suggestion(row) for row in await conn.execute(query)]

    async def close_suggestion(self, suggestion_id: int, status: str, closed_by: str) -> None:
        """Mark an open suggestion published or dismissed; NotFound when it is not open."""
        s = T.article_suggestions
        async with self.write() as conn:
            result = await conn.execute(
                s.update()
                .where(s.c.id == suggestion_id, s.c.status == "open")
                .values(status=status, closed_by=closed_by[:300])
            )
            if result.rowcount != 1:
                raise NotFound(f"suggestion {suggestion_id} is not open")

    # --- help-center page counters ------------------------------------------------------------

    async def count_help_page(self, article_id: str, read: int = 0, yes: int = 0, no: int = 0) -> None:
        """Add to an article's page reads and on-page helpfulness answers (one row per article)."""
        h = T.help_page_stats
        values = {"reads": h.c.reads + read, "helpful_yes": h.c.helpful_yes + yes, "helpful_no": h.c.helpful_no + no}
        for _attempt in range(2):
            try:
                async with self.write() as conn:
                    result = await conn.execute(h.update().where(h.c.article_id == article_id).values(**values))
                    if result.rowcount == 0:
                        await conn.execute(
                            h.insert().values(article_id=article_id[:100], reads=read, helpful_yes=yes, helpful_no=no)
                        )
                return
            except IntegrityError:  # inserted by someone else meanwhile: the update now finds it
                continue

    async def help_page_stats(self) -> dict[str, dict[str, int]]:
        h = T.help_page_stats
        async with self.read() as conn:
            rows = await conn.execute(sa.select(h))
            return {r.article_id: {"reads": r.reads, "yes": r.helpful_yes, "no": r.helpful_no} for r in rows}

    async def article_activity(self, since: float) -> dict[str, dict[str, int]]:
        """Per article: "Did that help?" yes / no from the widget (all time) plus the help page's,
        and how often the bot answered with it since `since` (kb_queries at the answer tier)."""
        f, q = T.article_feedback, T.kb_queries
        out: dict[str, dict[str, int]] = {}

        def slot(article_id: str) -> dict[str, int]:
            return out.setdefault(article_id, {"yes": 0, "no": 0, "answers": 0, "reads": 0})

        async with self.read() as conn:
            for article_id, helpful, count in await conn.execute(
                sa.select(f.c.article_id, f.c.helpful, sa.func.count()).group_by(f.c.article_id, f.c.helpful)
            ):
                slot(article_id)["yes" if helpful else "no"] += int(count)
            for article_id, count in await conn.execute(
                sa.select(q.c.article_id, sa.func.count())
                .where(q.c.tier == "answer", q.c.created_at >= since, q.c.article_id.is_not(None))
                .group_by(q.c.article_id)
            ):
                slot(article_id)["answers"] += int(count)
        for article_id, page in (await self.help_page_stats()).items():
            entry = slot(article_id)
            entry["yes"] += page["yes"]
            entry["no"] += page["no"]
            entry["reads"] += page["reads"]
        return out
