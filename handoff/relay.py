"""The path of every message: store first, then relay to Rasa or to the agents.

This is the one place that knows who owns a conversation (handoff.ownership) and acts on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from actions.masking import mask_secrets
from handoff import business_hours, contract, routing
from handoff.fanout import Fanout
from handoff.mail.outbox import Mailer
from handoff.ownership import State, bot_owns
from handoff.privacy.intake import hidden_notice, take_in
from handoff.queue_places import QueuePlaces
from handoff.rasa_client import BotTurn, BotUnavailable, RasaClient
from handoff.settings import HubSettings
from handoff.store import Agent, Conversation, KbQuery, NotFound, QueuePlace, Store, StoredMessage, Team, TurnOutcome

log = logging.getLogger(__name__)

RESOLVED_INTENT = "/handoff_resolved"
ETA_STEP_SECONDS = 15
#: how long a stopping hub lets bot turns in progress finish (Relay.close)
SHUTDOWN_GRACE_SECONDS = 5.0
#: the widget hides "typing" after 8 s without another (TYPING_TIMEOUT_MS): repeat it sooner
TYPING_REFRESH_SECONDS = 5.0
#: words of the message a customer gets when their turn waits long for Rasa (the bench looks for them)
WAIT_NOTICE = "taking longer than usual"
WAIT_NOTICE_TEXT = (
    f"Sorry, our assistant is {WAIT_NOTICE} to answer. Your message is saved and I'll reply as soon as "
    "I can; if it takes much longer, a person will take over."
)


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
        #: conversations already told, during their current wait, that the bot is slow
        self._told_to_wait: set[str] = set()
        #: conversations whose pending turns a resume is handling (one resume each at a time)
        self._resuming: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.observers = observers if observers is not None else []
        self.mailer = mailer
        #: the time business hours are judged by (a fixed one in tests)
        self.clock = clock
        self.hours = business_hours.parse(settings.business_hours, settings.time_zone, settings.holidays)
        self.team_routes = routing.parse_routes(settings.team_routes)
        #: called with the conversation's id after a handoff enters the queue (auto-assignment)
        self.after_queued: list[Callable[[str], Awaitable[int | None]]] = []
        #: waiting customers' places, republished after each change to the queue
        self.places = QueuePlaces(self._publish_places)

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
        handled (with the bot's answer, in one transaction). Each is handled once: a turn already
        handled (a resume racing a live relay, or another hub) is skipped. The usual turn costs
        one read: the first pending turn up to `seq` is `seq` itself."""
        async with self._locks.hold(conversation_id):
            while (pending := await self.store.first_pending_turn(conversation_id, up_to=seq)) is not None:
                turn, text, conversation = pending
                await self._handle_turn(conversation, turn, text)
                if turn == seq:
                    return

    async def _handle_turn(self, conversation: Conversation, seq: int, text: str) -> None:
        """One pending turn, under the conversation's lock."""
        if bot_owns(conversation.state):  # else a person owns it (or it waits for one): not for Rasa
            if conversation.state == State.RESOLVED and await self.store.set_state(conversation.id, State.BOT):
                await self.publish_state(conversation.id)
            if await self._ask_bot(conversation, text, seq):
                return
        await self.store.finish_bot_turn(conversation.id, seq)

    async def _ask_bot(self, conversation: Conversation, text: str, seq: int) -> bool:
        """Rasa's answer to the customer's message `seq`; True when the turn was marked handled
        with it."""
        metadata = {
            "customer": {
                k: v for k, v in (("name", conversation.customer_name), ("email", conversation.customer_email)) if v
            }
        }
        try:
            async with self._waiting_for_bot(conversation.id):
                turn = await self.rasa.answer(conversation.id, text, metadata)
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
            return False
        return await self._deliver(conversation.id, turn, question=text, finishes=seq)

    @contextlib.asynccontextmanager
    async def _waiting_for_bot(self, conversation_id: str) -> AsyncIterator[None]:
        """While a turn waits for Rasa (for a slot, for Rasa to come up, for its answer): "typing"
        now and again before the widget hides it, and after `HUB_RASA_NOTICE_SECONDS` a plain
        word that it takes longer than usual (once per wait: several turns waiting together in
        one conversation say it once)."""

        async def keep_typing() -> None:
            waited = 0.0
            while True:
                await self.fanout.to_conversation(conversation_id, contract.typing_frame("bot"))
                step = TYPING_REFRESH_SECONDS
                notice_in = self.settings.rasa_notice_seconds - waited
                if conversation_id not in self._told_to_wait and 0 < notice_in <= step:
                    await asyncio.sleep(notice_in)
                    waited += notice_in
                    self._told_to_wait.add(conversation_id)
                    # shielded: the turn ending now must not cut the message's write in half
                    await asyncio.shield(self.system_message(conversation_id, WAIT_NOTICE_TEXT))
                    continue
                await asyncio.sleep(step)
                waited += step

        typing = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
            self._told_to_wait.discard(conversation_id)

    async def _deliver(
        self, conversation_id: str, turn: BotTurn, question: str | None = None, finishes: int | None = None
    ) -> bool:
        """Store the bot's answer (and, with `finishes`, mark that customer message's turn handled
        in the same transaction), then send it. A handoff is queued after, and its turn marked only
        then (True: the turn was marked here): a crash in between re-asks Rasa rather than lose it."""
        outcome = TurnOutcome(messages=[(m.text, m.payload()) for m in turn.messages])
        for feedback in turn.feedback:
            if isinstance(feedback.get("article_id"), str) and isinstance(feedback.get("helpful"), bool):
                outcome.feedback.append((feedback["article_id"], feedback["helpful"]))
        for result in turn.kb_results:
            if question and isinstance(result.get("tier"), str):
                score = result.get("score")
                # Content-gap reports show these questions to editors: no card number or password in them.
                outcome.kb_queries.append(
                    KbQuery(
                        mask_secrets(question),
                        result["tier"],
                        result.get("article_id"),
                        float(score) if isinstance(score, (int, float)) else None,
                    )
                )
        finished_here = finishes if turn.handoff is None else None
        for stored in await self.store.store_bot_turn(conversation_id, outcome, finishes=finished_here):
            await self.fanout.to_conversation(conversation_id, stored.to_frame())
            await self.fanout.to_agents(self._agent_frame(stored))
        if turn.handoff is not None:
            await self.enqueue(conversation_id, turn.handoff)
        return finished_here is not None

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
        await self._queued(conversation_id)

    async def _queued(self, conversation_id: str) -> None:
        for hook in self.after_queued:
            await hook(conversation_id)

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
        handoff, joined = await self.store.claim_announced(conversation_id, agent.id, f"{agent.name} joined the chat.")
        if joined is not None:
            await self._send_message(joined)
        # The customer's new state is known without reading it back: with this agent, for this reason.
        now = contract.state_frame(
            State.AGENT.value, handoff.reason, None, None, self.fanout.agents_online(), agent.name
        )
        await self.queue_changed(conversation_id, now)

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

    async def transfer_to_team(self, conversation_id: str, agent: Agent, team: Team, note: str) -> None:
        """Pass a conversation this agent owns to a team's queue, with a note its next owner sees
        first; the customer is told it waits for that team."""
        await self.store.transfer_to_team(conversation_id, agent.id, team.id)
        await self.add_note(
            conversation_id,
            agent,
            note or f"{agent.name} passed this conversation to the {team.name} team.",
            payload={
                "transfer": {"from": {"id": agent.id, "name": agent.name}, "team": {"id": team.id, "name": team.name}}
            },
        )
        await self.system_message(
            conversation_id,
            f"{agent.name} passed your conversation to our {team.name} team; the next available person will join shortly.",
        )
        await self.queue_changed(conversation_id)
        await self._queued(conversation_id)

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
                turn = await self.rasa.answer(conversation_id, RESOLVED_INTENT)
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
        await self._send_message(stored)

    async def _send_message(self, stored: StoredMessage) -> None:
        """A stored message to the customer's sockets and every agent's."""
        await self.fanout.to_conversation(stored.conversation_id, stored.to_frame())
        await self.fanout.to_agents(self._agent_frame(stored))

    async def state_frame(self, conversation_id: str) -> dict[str, Any]:
        return await self._state_frame(await self.store.get_conversation(conversation_id))

    async def _state_frame(self, conversation: Conversation) -> dict[str, Any]:
        conversation_id = conversation.id
        if conversation.state == State.QUEUED:
            place = (await self.store.queue_places([conversation_id])).get(conversation_id)
            if place is not None:
                return self._queued_frame(place, await self._claim_wait())
        handoff = await self.store.latest_handoff(conversation_id)
        agent_name = None
        if conversation.state == State.AGENT and handoff is not None and handoff.agent_id is not None:
            agent = await self.store.agent_by_id(handoff.agent_id)
            agent_name = agent.name if agent else None
        return contract.state_frame(
            conversation.state.value,
            handoff.reason if handoff is not None and conversation.state != State.BOT else None,
            None,
            None,
            self.fanout.agents_online(),
            agent_name,
        )

    def _queued_frame(self, place: QueuePlace, claim_wait: float) -> dict[str, Any]:
        """A waiting customer's state: place, wait estimate, and when a person is back (after hours)."""
        return contract.state_frame(
            State.QUEUED.value,
            place.reason,
            place.position,
            self._eta(place.position, place.reason, claim_wait),
            self.fanout.agents_online(),
            None,
            self.back_in_words(place.reason),
        )

    async def _claim_wait(self) -> float:
        """The median time to claim over the last 20 claims (a setting's default before there is any history)."""
        waits = await self.store.recent_claim_waits(20)
        return statistics.median(waits) if waits else float(self.settings.default_eta_seconds)

    def _eta(self, position: int, reason: str | None, per_customer: float) -> int | None:
        """Position × the median time to claim (`per_customer`), shared among the agents online,
        counted in open hours only (a case that waits for business hours); None when the hours
        never open again."""
        estimate = per_customer * position / max(1, self.fanout.agents_online())
        if self._waits_for_hours(reason):
            estimate = self.hours.wall_seconds_for(self._now(), estimate)
            if estimate == float("inf"):
                return None
        # Never promise "0 seconds": round up to whole quarter minutes, at least one.
        return int(max(1, -(-estimate // ETA_STEP_SECONDS)) * ETA_STEP_SECONDS)

    async def publish_state(self, conversation_id: str) -> None:
        await self.fanout.to_conversation(conversation_id, await self.state_frame(conversation_id))

    async def queue_changed(self, changed: str, state: dict[str, Any] | None = None) -> None:
        """Tell agents to refresh and the changed conversation its new state (`state`, when the
        caller knows it); every waiting customer with a socket here gets their (possibly new) place
        from `places` (one query for all of them, handoff/queue_places.py), the changed one too
        when it waits."""
        await self.fanout.to_agents(contract.queue_changed_frame())
        if state is None:
            conversation = await self.store.get_conversation(changed)
            if conversation.state != State.QUEUED:
                state = await self._state_frame(conversation)
            now = conversation.state.value
        else:
            now = state["state"]
        await self.fanout.to_agents(contract.conversation_state_frame(changed, now))
        if state is not None:
            async with self.places.between_rounds():
                await self.fanout.to_conversation(changed, state)
        self.places.changed()

    async def _publish_places(self) -> None:
        """One round of handoff/queue_places.py: every waiting customer with an open socket here."""
        places = await self.store.queue_places(self.fanout.customer_conversation_ids())
        if not places:
            return
        claim_wait = await self._claim_wait()
        for conversation_id, place in places.items():
            await self.fanout.to_conversation(conversation_id, self._queued_frame(place, claim_wait))

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

    async def close(self) -> None:
        """At shutdown: turns get `SHUTDOWN_GRACE_SECONDS` to finish, then the rest (waiting for a
        slot, or for a Rasa that is down) are cancelled. They are still pending in the store, so
        the next start sends them on (`resume_bot_turns`); waiting for them here could hold a
        stopping hub for `HUB_RASA_WAIT_SECONDS`."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=SHUTDOWN_GRACE_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await self.drain()

    async def drain(self) -> None:
        """Wait for background relays and queue places (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.places.settled()
