"""The path of every message: store first, then relay to Rasa or to the agents.

This is the one place that knows who owns a conversation (handoff.ownership) and acts on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from actions.masking import mask_secrets
from handoff import business_hours, contract, routing
from handoff.fanout import Fanout
from handoff.mail.outbox import Mailer
from handoff.ownership import State, bot_owns
from handoff.privacy.intake import hidden_notice, take_in
from handoff.rasa_client import BotTurn, BotUnavailable, RasaClient
from handoff.settings import HubSettings
from handoff.store import Agent, Conversation, NotFound, Store, StoredMessage

log = logging.getLogger(__name__)

RESOLVED_INTENT = "/handoff_resolved"
ETA_STEP_SECONDS = 15


class SharedLocks(Protocol):
    """A lock per conversation across hub processes (handoff/turn_lock.py)."""

    def hold(self, conversation_id: str) -> contextlib.AbstractAsyncContextManager[None]: ...


class ConversationLocks:
    """One lock per conversation, so its turns reach Rasa one at a time and in order. A lock
    lives only while someone holds or waits for it: conversation ids come from the outside
    world, and a dict of every lock ever made would grow for as long as the hub runs.

    With several hubs, `shared` is the lock across them, taken after this process's own (which
    keeps this hub's turns in order and lets one task per conversation wait on the shared one)."""

    def __init__(self, shared: SharedLocks | None = None) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self.shared = shared

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._users[conversation_id] = self._users.get(conversation_id, 0) + 1
        try:
            async with lock:
                if self.shared is None:
                    yield
                else:
                    async with self.shared.hold(conversation_id):
                        yield
        finally:
            self._users[conversation_id] -= 1
            if self._users[conversation_id] == 0:
                del self._users[conversation_id], self._locks[conversation_id]

    def __len__(self) -> int:
        return len(self._locks)


class RelayObserver(Protocol):
    """Told of what the relay does (the metrics feature counts these)."""

    def handoff_queued(self, reason: str) -> None: ...

    def rasa_error(self, code: str) -> None: ...


class Relay:
    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        rasa: RasaClient,
        fanout: Fanout,
        observers: list[RelayObserver] | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], float] = time.time,
        locks: ConversationLocks | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.fanout = fanout
        self._locks = locks if locks is not None else ConversationLocks()  # (an empty one is falsy: __len__)
        #: conversations whose pending turns a resume is handling (one resume each at a time)
        self._resuming: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.observers = observers if observers is not None else []
        self.mailer = mailer
        #: the time business hours are judged by (a fixed one in tests)
        self.clock = clock
        self.hours = business_hours.parse(settings.business_hours, settings.time_zone, settings.holidays)
        self.team_routes = routing.parse_routes(settings.team_routes)

    # --- customer side ------------------------------------------------------------------------

    async def customer_message(
        self,
        conversation: Conversation,
        text: str,
        client_id: str,
        rasa_text: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Store the message as a pending bot turn (the caller acks it), then relay it in the
        background. A hub killed before the turn is handled resends it at start
        (`resume_bot_turns`). Secrets in it are hidden first (handoff/privacy/intake.py)."""
        intake = take_in(text, rasa_text, payload is not None, self.settings.redact_secrets)
        stored, created = await self.store.append_message(
            conversation.id,
            "customer",
            intake.text,
            payload=payload,
            client_id=client_id,
            bot_text=intake.bot_text or intake.text,
        )
        if created:
            await self.fanout.to_conversation(conversation.id, stored.to_frame())
            await self.fanout.to_agents(self._agent_frame(stored))
            if intake.hidden:
                await self.system_message(conversation.id, hidden_notice(intake.hidden))
            self._spawn(self._bot_turn(conversation.id, stored.seq))
        return stored, created

    async def resume_bot_turns(self, stored_before: float | None = None) -> int:
        """Hand pending bot turns to Rasa again, each conversation's in order: every one at start
        (a killed hub's), and with several hubs, from time to time, those stored before
        `stored_before` (a hub killed mid-turn leaves them; the turn lock makes a live one wait)."""
        pending = await self.store.pending_bot_turns(stored_before)
        for conversation_id, seqs in pending.items():
            self._resume(conversation_id, seqs)
        count = sum(map(len, pending.values()))
        if count:
            log.info("resuming %d unanswered customer message(s) in %d conversation(s)", count, len(pending))
        return count

    async def resume_turns_of(self, conversation_id: str) -> None:
        """The customer (re)connected: their pending turns, if another hub stopped answering them."""
        if self._locks.shared is None or conversation_id in self._resuming:
            return  # one hub: what it stored it answers, or resumes at start
        pending = await self.store.pending_bot_texts(conversation_id)
        if pending:
            self._resume(conversation_id, [seq for seq, _text in pending])

    def _resume(self, conversation_id: str, seqs: list[int]) -> None:
        if conversation_id not in self._resuming:
            self._resuming.add(conversation_id)
            self._spawn(self._bot_turns(conversation_id, seqs))

    async def _bot_turns(self, conversation_id: str, seqs: list[int]) -> None:
        try:
            for seq in seqs:
                await self._bot_turn(conversation_id, seq)
        finally:
            self._resuming.discard(conversation_id)

    async def _bot_turn(self, conversation_id: str, seq: int) -> None:
        """One customer message, after any earlier one still pending (another hub's, or one a
        resume has not reached yet): each to Rasa when the bot owns the conversation, then marked
        handled. Each is handled once: a turn already handled (a resume racing a live relay, or
        another hub) is skipped."""
        async with self._locks.hold(conversation_id):
            for earlier, text in await self.store.pending_bot_texts(conversation_id, up_to=seq):
                await self._handle_turn(conversation_id, earlier, text)

    async def _handle_turn(self, conversation_id: str, seq: int, text: str) -> None:
        """One pending turn, under the conversation's lock."""
        conversation = await self.store.get_conversation(conversation_id)
        if bot_owns(conversation.state):  # else a person owns it (or it waits for one): not for Rasa
            if conversation.state == State.RESOLVED and await self.store.set_state(conversation_id, State.BOT):
                await self.publish_state(conversation_id)
            await self._ask_bot(conversation, text)
        await self.store.finish_bot_turn(conversation_id, seq)

    async def _ask_bot(self, conversation: Conversation, text: str) -> None:
        await self.fanout.to_conversation(conversation.id, contract.typing_frame("bot"))
        metadata = {
            "customer": {
                k: v for k, v in (("name", conversation.customer_name), ("email", conversation.customer_email)) if v
            }
        }
        try:
            turn = await self.rasa.send(conversation.id, text, metadata)
        except BotUnavailable as exc:
            log.warning("conversation %s: bot unavailable (%s)", conversation.id, exc.code)
            code = exc.code
            self._tell_observers(lambda observer: observer.rasa_error(code))
            await self.system_message(
                conversation.id,
                "Sorry, our assistant is having trouble right now, so I've passed your conversation to a person.",
            )
            await self.enqueue(
                conversation.id,
                contract.HandoffPayload(
                    reason="bot_unavailable",
                    priority="normal",
                    headline=contract.reason("bot_unavailable").label,
                    summary=f"Bot unavailable [{exc.code}]. The customer's last message is in the transcript.",
                ),
            )
            return
        await self._deliver(conversation.id, turn, question=text)

    async def _deliver(self, conversation_id: str, turn: BotTurn, question: str | None = None) -> None:
        for message in turn.messages:
            stored, _ = await self.store.append_message(conversation_id, "bot", message.text, payload=message.payload())
            await self.fanout.to_conversation(conversation_id, stored.to_frame())
            await self.fanout.to_agents(self._agent_frame(stored))
        for feedback in turn.feedback:
            if isinstance(feedback.get("article_id"), str) and isinstance(feedback.get("helpful"), bool):
                await self.store.add_article_feedback(conversation_id, feedback["article_id"], feedback["helpful"])
        for outcome in turn.kb_results:
            if question and isinstance(outcome.get("tier"), str):
                score = outcome.get("score")
                # Content-gap reports show these questions to editors: no card number or password in them.
                await self.store.add_kb_query(
                    conversation_id,
                    mask_secrets(question),
                    outcome["tier"],
                    outcome.get("article_id"),
                    float(score) if isinstance(score, (int, float)) else None,
                )
        if turn.handoff is not None:
            await self.enqueue(conversation_id, turn.handoff)

    async def team_for(self, payload: contract.HandoffPayload) -> int | None:
        """The team the routing table (and the security rule) sends this handoff to; None when
        the table names no team, or a team that does not exist (the general queue)."""
        name = routing.team_for(self.team_routes, payload.reason, payload.details)
        team = await self.store.team_by_name(name) if name else None
        if name and team is None:
            log.warning("handoff routed to team %r, which does not exist: the general queue", name)
        return team.id if team else None

    async def enqueue(self, conversation_id: str, payload: contract.HandoffPayload) -> None:
        queued = await self.store.enqueue_handoff(
            conversation_id,
            reason=payload.reason,
            priority=payload.priority,
            headline=payload.headline,
            summary=payload.summary,
            details=payload.details,
            team_id=await self.team_for(payload),
        )
        if queued is None:
            return
        log.info("conversation %s queued: reason=%s priority=%s", conversation_id, queued.reason, queued.priority)
        self._tell_observers(lambda observer: observer.handoff_queued(queued.reason))
        agents_online = self.fanout.agents_online()
        # The address the form collected, or the website's signed-in customer's (enqueue_handoff keeps the best).
        email = (await self.store.get_conversation(conversation_id)).customer_email
        notice = self.handoff_notice(queued.reason, email or queued.details.get("customer_email"), agents_online)
        if notice is not None:
            await self.system_message(conversation_id, notice)
        if self.mailer is not None:
            await self._mail(self.mailer.handoff_queued(queued, agents_online), conversation_id)
        await self.queue_changed(conversation_id)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _waits_for_hours(self, reason: str | None) -> bool:
        """A case that waits for business hours: not one answered around the clock (security), and
        not while an agent is signed in anyway (someone working late answers it now)."""
        return reason not in self.settings.always_open_reasons and self.fanout.agents_online() == 0

    def back_in_words(self, reason: str | None) -> str | None:
        """Outside business hours, when a person is back ("tomorrow at 9:00"); None while open."""
        now = self._now()
        if not self._waits_for_hours(reason) or self.hours.is_open(now):
            return None
        back = self.hours.next_open(now)
        return business_hours.in_words(now, back, self.hours.zone) if back else "as soon as we reopen"

    def handoff_notice(self, reason: str, email: str | None, agents_online: int) -> str | None:
        """What the customer is told when queued: when a person will be back outside business hours
        (or that security cases are answered around the clock), or that no one is online."""
        known = email if email and email != "not given" else None
        open_now = self.hours.is_open(self._now()) or agents_online > 0
        if not open_now and reason in self.settings.always_open_reasons:
            later = f" If you leave, we will follow up by email at {known}." if known else ""
            return (
                "Security matters are handled around the clock, so a person will be with you as soon as "
                f"possible, even though our team is otherwise away right now.{later}"
            )
        back = self.back_in_words(reason)
        if back is not None:
            later = f"by email at {known} if you have left" if known else "by email if you leave your address here"
            return f"Our team is away right now and back {back}. A person will answer you then, here or {later}."
        if agents_online == 0:
            where = f"at {known}" if known else "by email once you leave your address here"
            return f"No one from our team is online right now. A person will follow up {where}."
        return None

    # --- agent side ---------------------------------------------------------------------------

    async def claim(self, conversation_id: str, agent: Agent) -> None:
        await self.store.claim(conversation_id, agent.id)
        await self.system_message(conversation_id, f"{agent.name} joined the chat.")
        await self.queue_changed(conversation_id)

    async def release(self, conversation_id: str, agent: Agent) -> None:
        await self.store.release(conversation_id, agent.id)
        await self.system_message(
            conversation_id, "You're back in the queue; the next available person will join shortly."
        )
        await self.queue_changed(conversation_id)

    async def agent_message(self, conversation_id: str, agent: Agent, text: str) -> StoredMessage:
        await self.store.note_agent_reply(conversation_id, agent.id)
        stored, _ = await self.store.append_message(conversation_id, "agent", text, agent_id=agent.id)
        await self.fanout.to_conversation(conversation_id, stored.to_frame())
        await self.fanout.to_agents(self._agent_frame(stored))
        if self.mailer is not None:
            await self._mail(self.mailer.agent_replied(conversation_id), conversation_id)
        return stored

    async def add_note(
        self, conversation_id: str, agent: Agent, text: str, payload: dict[str, Any] | None = None
    ) -> StoredMessage:
        """A private note in the transcript: stored and sent to agents' sockets only, never to the
        customer, an email or Rasa (it is never a pending bot turn). Any agent may write one."""
        stored, _ = await self.store.append_message(
            conversation_id, contract.NOTE_SENDER, text, payload=payload, agent_id=agent.id
        )
        await self.fanout.to_agents(self._agent_frame(stored))
        return stored

    async def transfer(self, conversation_id: str, agent: Agent, to: Agent, note: str) -> None:
        """Pass a conversation this agent owns to a colleague, with a note the colleague sees first;
        the customer is told who has it now."""
        await self.store.transfer(conversation_id, agent.id, to.id)
        await self.add_note(
            conversation_id,
            agent,
            note or f"{agent.name} passed this conversation to {to.name}.",
            payload={"transfer": {"from": {"id": agent.id, "name": agent.name}, "to": {"id": to.id, "name": to.name}}},
        )
        await self.system_message(conversation_id, f"{agent.name} passed your conversation to {to.name}.")
        await self.queue_changed(conversation_id)

    async def _mail(self, step: Any, conversation_id: str) -> None:
        """A mail step (it only adds a row to the outbox): its failure is logged, never the caller's."""
        try:
            await step
        except Exception:
            log.exception("conversation %s: could not queue an email", conversation_id)

    async def resolve(self, conversation_id: str, agent: Agent) -> None:
        await self.store.resolve(conversation_id, agent.id)
        await self.system_message(conversation_id, f"{agent.name} marked this conversation as resolved.")
        if self.mailer is not None:  # the transcript, when the customer gave an email
            await self._mail(self.mailer.send_transcript(conversation_id), conversation_id)
        await self.queue_changed(conversation_id)
        self._spawn(self._tell_bot_resolved(conversation_id))

    async def _tell_bot_resolved(self, conversation_id: str) -> None:
        """The bot resets its handoff state; its welcome-back reply reaches the customer."""
        async with self._locks.hold(conversation_id):
            try:
                turn = await self.rasa.send(conversation_id, RESOLVED_INTENT)
            except BotUnavailable as exc:
                log.warning("conversation %s: could not tell the bot it was resolved (%s)", conversation_id, exc.code)
                code = exc.code
                self._tell_observers(lambda observer: observer.rasa_error(code))
                return
            turn.handoff = None  # a stale handoff payload must not re-queue a resolved conversation
            await self._deliver(conversation_id, turn)

    async def email_reply(self, conversation_id: str, text: str, sender: str) -> StoredMessage:
        """A customer answered by email (handoff/mail/inbound.py): the message joins the
        conversation as theirs, agents see it and the "replied" marker, and a conversation no
        person owns goes back to the queue (the bot never answers an email)."""
        async with self._locks.hold(conversation_id):
            stored, _ = await self.store.append_message(
                conversation_id, "customer", text, payload={"via": "email", "from": sender[:254]}
            )
        await self.fanout.to_conversation(conversation_id, stored.to_frame())
        await self.fanout.to_agents(self._agent_frame(stored))
        await self.store.mark_email(conversation_id, "replied")
        if self.mailer is not None:
            await self.mailer.tell_agents(conversation_id)
        conversation = await self.store.get_conversation(conversation_id)
        if conversation.state == State.RESOLVED:
            await self.store.set_state(conversation_id, State.BOT)
        if conversation.state in (State.BOT, State.RESOLVED):
            await self.enqueue(
                conversation_id,
                contract.HandoffPayload(
                    reason="email_reply",
                    priority="normal",
                    headline=contract.reason("email_reply").label,
                    summary="The customer answered by email; their message is the latest in the transcript.",
                ),
            )
        return stored

    async def agent_typing(self, conversation_id: str, agent: Agent) -> None:
        await self.fanout.to_conversation(conversation_id, contract.typing_frame("agent"))

    # --- shared ---------------------------------------------------------------------------------

    async def system_message(self, conversation_id: str, text: str) -> None:
        stored, _ = await self.store.append_message(conversation_id, "system", text)
        await self.fanout.to_conversation(conversation_id, stored.to_frame())
        await self.fanout.to_agents(self._agent_frame(stored))

    async def state_frame(self, conversation_id: str) -> dict[str, Any]:
        conversation = await self.store.get_conversation(conversation_id)
        handoff = await self.store.latest_handoff(conversation_id)
        position = eta = opens = None
        if conversation.state == State.QUEUED:
            reason = handoff.reason if handoff is not None else None
            position = await self.store.queue_position(conversation_id)
            eta = await self.eta_seconds(position or 1, reason)
            opens = self.back_in_words(reason)
        agent_name = None
        if conversation.state == State.AGENT and handoff is not None and handoff.agent_id is not None:
            agent = await self.store.agent_by_id(handoff.agent_id)
            agent_name = agent.name if agent else None
        return contract.state_frame(
            conversation.state.value,
            handoff.reason if handoff is not None and conversation.state != State.BOT else None,
            position,
            eta,
            self.fanout.agents_online(),
            agent_name,
            opens,
        )

    async def eta_seconds(self, position: int, reason: str | None = None) -> int | None:
        """Position × the median time to claim over the last 20 claims (a setting's default
        before there is any history), shared among the agents online, counted in open hours
        only (a case that waits for business hours); None when the hours never open again."""
        waits = await self.store.recent_claim_waits(20)
        per_customer = statistics.median(waits) if waits else self.settings.default_eta_seconds
        estimate = per_customer * position / max(1, self.fanout.agents_online())
        if self._waits_for_hours(reason):
            estimate = self.hours.wall_seconds_for(self._now(), estimate)
            if estimate == float("inf"):
                return None
        # Never promise "0 seconds": round up to whole quarter minutes, at least one.
        return int(max(1, -(-estimate // ETA_STEP_SECONDS)) * ETA_STEP_SECONDS)

    async def publish_state(self, conversation_id: str) -> None:
        await self.fanout.to_conversation(conversation_id, await self.state_frame(conversation_id))

    async def queue_changed(self, changed: str) -> None:
        """Tell agents to refresh, the changed conversation its new state, and every waiting
        customer their (possibly new) place in the queue."""
        await self.fanout.to_agents(contract.queue_changed_frame())
        state = (await self.store.get_conversation(changed)).state.value
        await self.fanout.to_agents(contract.conversation_state_frame(changed, state))
        for conversation_id in {changed, *await self.store.queued_conversation_ids()}:
            await self.publish_state(conversation_id)

    def _agent_frame(self, stored: StoredMessage) -> dict[str, Any]:
        return contract.agent_message_frame(stored.conversation_id, stored.to_frame())

    def _tell_observers(self, tell: Callable[[RelayObserver], None]) -> None:
        """An observer that fails is logged; it never stops a customer's message."""
        for observer in self.observers:
            try:
                tell(observer)
            except Exception:
                log.exception("relay observer %r failed", observer)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        if isinstance(task.exception(), NotFound):  # erased while its turn was on the way: nothing to keep
            log.info("a relay task's conversation is gone: %s", task.exception())
            return
        log.error("relay task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for background relays (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
