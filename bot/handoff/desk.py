"""What an agent does with a conversation, whichever desk they use (web console, Telegram).

Each step changes the queue atomically (`queue`), tells the shopper on their own
channel (`outbound`), keeps the transcript in Rasa's tracker (`transcript`) and
writes who touched which conversation to the audit log. Closing hands the
conversation back to the bot, which asks the shopper for a rating.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from bot.handoff import keys
from bot.handoff.dispatch import Round, dispatch
from bot.handoff.outbound import Outbound
from bot.handoff.positions import PositionUpdate, position_event
from bot.handoff.queue import HandoffQueue
from bot.handoff.transcript import RasaTranscript, agent_message
from bot.privacy.masking import mask_text
from bot.shop.backend import ShopBackend
from bot.shop.models import Order

logger = logging.getLogger(__name__)

AUDIT = "shop:audit"
AUDIT_MAXLEN = 1_000_000
RATING_PAYLOAD = '/rate_service{{"rating": "{score}"}}'
RATING_QUESTION = "本次服务已结束，感谢您的耐心！请为客服的服务打个分吧（5 分最满意）："
RESOLUTIONS = ("solved", "unsolved", "follow_up", "no_reply", "transferred_offline")
SLOTS_SHOWN = ("order_id", "verified_order", "product", "return_reason", "refund_reason", "complaint_text")


def rating_buttons() -> list[dict[str, str]]:
    return [{"title": f"{score} 分", "payload": RATING_PAYLOAD.format(score=score)} for score in range(5, 0, -1)]


@dataclass(frozen=True)
class Turn:
    who: str  # shopper, bot or agent
    text: str
    at: float
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: tuple[tuple[str, str], ...] = ()
    agent: Optional[str] = None


@dataclass(frozen=True)
class Context:
    """What an agent sees when they take a conversation."""

    conversation: str
    escalation: dict[str, str]
    channel: str
    transcript: tuple[Turn, ...]
    slots: dict[str, Any]
    order: Optional[dict[str, Any]] = None
    tickets: tuple[dict[str, Any], ...] = field(default=())

    def masked(self) -> Context:
        """The same context with phone numbers, addresses and ID numbers masked (for Telegram)."""
        turns = tuple(Turn(t.who, mask_text(t.text), t.at, t.intent, t.confidence, t.entities, t.agent)
                      for t in self.transcript)
        slots = {k: mask_text(v) if isinstance(v, str) else v for k, v in self.slots.items()}
        details = dict(self.escalation)
        details["details"] = mask_text(details.get("details", ""))
        return Context(self.conversation, details, self.channel, turns, slots, self.order, self.tickets)


def transcript_of(events: list[dict[str, Any]]) -> tuple[Turn, ...]:
    turns = []
    for event in events:
        if event.get("event") == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            turns.append(Turn("shopper", str(event.get("text") or ""), float(event.get("timestamp") or 0),
                              intent.get("name"), intent.get("confidence"),
                              tuple((str(e.get("entity")), str(e.get("value"))) for e in parse.get("entities") or [])))
        elif event.get("event") == "bot":
            agent = (event.get("metadata") or {}).get("agent")
            turns.append(Turn("agent" if agent else "bot", str(event.get("text") or ""),
                              float(event.get("timestamp") or 0), agent=agent))
    return tuple(turns)


def order_summary(order: Order) -> dict[str, Any]:
    """The verified order as an agent needs it: items, amount, status, logistics (address masked)."""
    return {
        "order_no": order.order_no, "status": order.status.label, "total_paid": order.total_paid,
        "items": [{"name": i.product_name, "colour": i.colour, "size": i.size, "quantity": i.quantity,
                   "unit_price": i.unit_price} for i in order.items],
        "carrier": order.carrier, "tracking_no": order.tracking_no,
        "logistics": [{"at": e.at.isoformat(), "location": e.location, "description": e.description}
                      for e in order.events[-5:]],
        "address": mask_text(order.address), "cancel_reason": order.cancel_reason,
    }


class AgentDesk:
    """The agent-side operations, shared by the web console and the Telegram desk."""

    def __init__(self, queue: HandoffQueue, outbound: Outbound, transcript: RasaTranscript,
                 backend: ShopBackend) -> None:
        self.queue = queue
        self.outbound = outbound
        self.transcript = transcript
        self.backend = backend

    def audit(self, agent_id: str, conversation: str, action: str, **extra: str) -> None:
        """Record that an agent touched a conversation (kept with the other audit records)."""
        self.queue.redis.xadd(AUDIT, {"agent": agent_id, "conv": conversation, "action": action,
                                      "at": f"{time.time():.3f}", **extra}, maxlen=AUDIT_MAXLEN, approximate=True)

    async def context(self, agent_id: str, conversation: str) -> Context:
        """Everything about a conversation an agent needs; the access is audited."""
        self.audit(agent_id, conversation, "view")
        tracker = await self.transcript.tracker(conversation)
        escalation = self.queue.escalation(conversation)
        slots = {k: v for k, v in (tracker.get("slots") or {}).items() if k in SLOTS_SHOWN and v not in (None, [])}
        order_no = slots.get("verified_order")
        order = self.backend.get_order(str(order_no)) if order_no else None
        tickets = tuple({"ticket_no": t.ticket_no, "kind": t.kind.value, "status": t.status}
                        for t in (self.backend.tickets_for_order(order.order_no) if order else ()))
        channel = escalation.get("channel") or str(tracker.get("latest_input_channel") or "")
        return Context(conversation, escalation, channel, transcript_of(tracker.get("events") or []), slots,
                       order_summary(order) if order else None, tickets)

    async def claim(self, agent_id: str, agent_name: str, conversation: Optional[str] = None) -> str:
        """Take a conversation (raises ClaimRefused): the bot pauses, the shopper is told an agent is here."""
        taken = self.queue.claim(agent_id, conversation)
        await self.started(taken, agent_id, agent_name)
        return taken

    async def started(self, conversation: str, agent_id: str, agent_name: str) -> None:
        """After a claim or a dispatch: pause the bot and greet the shopper."""
        self.audit(agent_id, conversation, "claim")
        greeting = f"您好，我是人工客服{agent_name}，很高兴为您服务～我已看到您之前的对话，请稍等。"
        self.outbound.send(conversation, {"text": greeting, "from": "agent", "agent": agent_name})
        await self._keep(conversation, [{"event": "pause"}, agent_message(greeting, agent_id, agent_name)])

    async def send(self, agent_id: str, agent_name: str, conversation: str, text: str) -> str:
        """An agent's message to the shopper, on the shopper's channel; refused unless the agent holds the chat."""
        self._check_holds(agent_id, conversation)
        self.audit(agent_id, conversation, "message")
        entry_id = self.outbound.send(conversation, {"text": text, "from": "agent", "agent": agent_name})
        await self._keep(conversation, [agent_message(text, agent_id, agent_name)])
        return entry_id

    def note(self, agent_id: str, conversation: str, text: str) -> None:
        """An internal note, seen by agents only (it stays with the escalation and in the event log)."""
        self._check_holds(agent_id, conversation)
        self.audit(agent_id, conversation, "note")
        self.queue.redis.xadd(keys.EVENTS, {"type": "note", "conv": conversation, "agent": agent_id, "text": text})

    def transfer_to_group(self, agent_id: str, conversation: str, group: str) -> bool:
        self.audit(agent_id, conversation, "transfer", to_group=group)
        return self.queue.transfer_to_group(agent_id, conversation, group)

    def transfer_to_agent(self, agent_id: str, conversation: str, to_agent: str) -> str:
        self.audit(agent_id, conversation, "transfer", to_agent=to_agent)
        return self.queue.transfer_to_agent(agent_id, conversation, to_agent)

    async def close(self, agent_id: str, conversation: str, resolution: str) -> bool:
        """End the chat: the bot resumes and asks the shopper for a 1-5 rating."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        fields = self.queue.close(agent_id, conversation, resolution)
        if fields is None:
            return False
        self.audit(agent_id, conversation, "close", resolution=resolution)
        # The bot resumes before the shopper is asked: an answer to the rating question must not find it paused.
        await self._keep(conversation, [{"event": "resume"}, {"event": "slot", "name": "rated_agent", "value": agent_id}])
        buttons = rating_buttons()
        self.outbound.send(conversation, {"text": RATING_QUESTION, "buttons": buttons, "from": "bot"})
        await self._keep(conversation, [
            {"event": "bot", "text": RATING_QUESTION, "data": {"buttons": buttons}, "metadata": {}},
        ])
        return True

    def dispatch(self) -> Round:
        return dispatch(self.queue)

    async def keep_positions(self, told: Iterable[PositionUpdate]) -> None:
        """Add the queue positions pushed to shoppers to their transcripts."""
        for update in told:
            await self._keep(update.conversation, [position_event(update)])

    async def _keep(self, conversation: str, events: list[dict[str, Any]]) -> None:
        """Add events to the transcript. The shopper already has the message (the outbox comes first), so a
        Rasa outage costs the transcript an entry, logged, never the shopper a message."""
        try:
            await self.transcript.append(conversation, events)
        except Exception:
            logger.exception("could not add %d events to conversation %s's transcript", len(events), conversation)

    def _check_holds(self, agent_id: str, conversation: str) -> None:
        if conversation not in self.queue.chats_of(agent_id):
            raise PermissionError("this conversation is not yours")


def event_fields(raw: dict[Any, Any]) -> dict[str, str]:
    """A stream entry's fields as text."""
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}


def dumps(context: Context) -> str:
    """A context as JSON for the console."""
    from dataclasses import asdict

    return json.dumps(asdict(context), ensure_ascii=False)
