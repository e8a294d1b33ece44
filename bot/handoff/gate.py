"""The ownership gate: before NLU and dialogue run, ask Redis who has the conversation.

Runs in every channel of every Rasa process (`connectors.deliver`), so it holds
across workers and instances. While the conversation waits in the queue or an
agent has it, the shopper's message never reaches Rasa's NLU or policies (a typed
`/restart` included): it is appended to the tracker, so the transcript stays
complete, and put on the hand-off events stream for the agent's desk. A waiting
shopper is told their position instead of a bot answer (and it is pushed to them
as it improves, `positions`), and may leave a message instead of waiting. When
the bot has the conversation, the gate also reads the shopper's frustration; past
the threshold the bot still answers that message (so a complaint gets its
ticket), then the conversation is handed over.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

from rasa.shared.core.events import ActiveLoop, BotUttered, Event, UserUttered

from bot.guard.screening import VIP_KEY
from bot.handoff import keys
from bot.handoff.escalation import GENERIC_INTENTS, LEAVE_MESSAGE_PAYLOAD, escalate, estimated_wait, queue_status_text
from bot.handoff.frustration import frustration_config, read_message
from bot.handoff.leave_message import request_handoff
from bot.handoff.positions import announce_positions, position_event
from bot.handoff.queue import EVENTS_MAXLEN, HandoffQueue
from bot.handoff.transcript import append_local
from bot.privacy.masking import mask_text
from bot.shop.backend import ShopBackend

logger = logging.getLogger(__name__)

MOOD_TTL_SECONDS = 3600  # a conversation's frustration is forgotten after an hour of quiet
FRUSTRATION_REPLY = "非常抱歉给您带来不好的体验😔 我马上为您转接人工客服。"
LEFT_MESSAGE_REPLY = "好的，已为您留言，工单号：{ticket}。客服会尽快回复您，回复会发到这里。"
ECHO_MOOD_WINDOW = 3  # earlier shopper messages kept for the "asked again" signal


@dataclass(frozen=True)
class GateResult:
    consumed: bool  # the message was handled here and must not reach the bot
    replies: tuple[dict[str, Any], ...] = ()
    frustration: Optional[tuple[float, tuple[str, ...]]] = None  # past the threshold: hand over after the bot


def topic_of(events: Any) -> Optional[str]:
    """The latest intent that names a topic (it picks the skill group), from a conversation's events."""
    for event in reversed(list(events)):
        if isinstance(event, UserUttered):
            name = (event.intent or {}).get("name")
            if name and name not in GENERIC_INTENTS:
                return str(name)
    return None


class OwnershipGate:
    def __init__(self, queue: HandoffQueue, backend: ShopBackend, max_wait_seconds: float,
                 default_handling_seconds: float, hours: str = "calendar") -> None:
        self.queue = queue
        self.hours = hours
        self.backend = backend
        self.max_wait_seconds = max_wait_seconds
        self.default_handling_seconds = default_handling_seconds

    def owner(self, conversation: str) -> Optional[str]:
        value = self.queue.redis.get(keys.owner(conversation))
        return value.decode() if isinstance(value, bytes) else value

    async def handle(self, agent: Any, conversation: str, text: str, channel: str,
                     metadata: Optional[dict[str, Any]] = None) -> GateResult:
        """Route one shopper message: (consumed, replies to send on the shopper's channel)."""
        owner = self.owner(conversation)
        if owner is None:
            return await self._bot_owned(agent, conversation, text, channel, metadata or {})
        if owner == "queued" and text.strip() == LEAVE_MESSAGE_PAYLOAD:
            return await self._leave_message(agent, conversation, channel)
        await self._record(agent, conversation, text, channel, metadata or {})
        if owner != "queued":
            return GateResult(True)
        position = self.queue.position(conversation)
        group = self.queue.escalation(conversation).get("group", "")
        wait = estimated_wait(self.queue, group, position, self.default_handling_seconds) if position else None
        if position:
            self.queue.told(conversation, position)  # pushed updates go on from what they have just read
        reply = {"text": "已收到，人工客服接入后会第一时间看到您的消息。" + queue_status_text(position, wait)}
        await append_local(agent, conversation, [BotUttered(reply["text"])])
        return GateResult(True, (reply,))

    async def _record(self, agent: Any, conversation: str, text: str, channel: str, metadata: dict[str, Any]) -> None:
        """Keep the shopper's message in the tracker and show it to the agent's desk."""
        await append_local(agent, conversation, [UserUttered(text, input_channel=channel, metadata=metadata)])
        self.queue.redis.xadd(keys.EVENTS, {"type": "shopper_message", "conv": conversation,
                                            "text": mask_text(text), "at": f"{time.time():.3f}"},
                              maxlen=EVENTS_MAXLEN, approximate=True)

    async def _leave_message(self, agent: Any, conversation: str, channel: str) -> GateResult:
        group = self.queue.escalation(conversation).get("group", "")
        if not self.queue.withdraw(conversation, "left_message"):
            return GateResult(True)  # an agent took it meanwhile
        try:  # everyone behind moved up one
            told = announce_positions(self.queue, groups=[group],
                                      default_handling_seconds=self.default_handling_seconds)
            for update in told:
                await append_local(agent, update.conversation, [Event.from_parameters(position_event(update))])
        except Exception:  # the sweep tells them soon anyway; this shopper's ticket matters more
            logger.warning("could not tell the queue behind %s their new places", conversation, exc_info=True)
        handoff = request_handoff(self.backend, conversation, reason="left_message_in_queue", channel=channel)
        reply = {"text": LEFT_MESSAGE_REPLY.format(ticket=handoff.ticket.ticket_no)}
        await append_local(agent, conversation, [UserUttered(LEAVE_MESSAGE_PAYLOAD, input_channel=channel),
                                                 BotUttered(reply["text"])])
        return GateResult(True, (reply,))

    async def _bot_owned(self, agent: Any, conversation: str, text: str, channel: str,
                         metadata: dict[str, Any]) -> GateResult:
        """Score the shopper's frustration; past the threshold the bot still answers this message (a complaint
        gets its ticket), then `after_bot` hands the conversation over."""
        config = frustration_config()
        key = keys.mood(conversation)
        stored = self.queue.redis.hgetall(key)
        earlier = [v.decode() for k, v in sorted(stored.items()) if k.startswith(b"m")]
        previous = float(stored.get(b"score", b"0"))
        masked = mask_text(text)  # the last messages are kept for "asked again": never a phone or an address
        reading = read_message(masked, earlier, config)
        score = previous * config.carry_over + reading.score
        pipe = self.queue.redis.pipeline()
        pipe.hset(key, mapping={"score": f"{score:.3f}", **{f"m{i}": t for i, t in
                                                             enumerate([*earlier, masked][-ECHO_MOOD_WINDOW:])}})
        pipe.expire(key, MOOD_TTL_SECONDS)
        pipe.execute()
        if score < config.threshold:
            return GateResult(False)
        return GateResult(False, frustration=(score, reading.signals))

    async def after_bot(self, agent: Any, conversation: str, text: str, channel: str,
                        metadata: Optional[dict[str, Any]], frustration: tuple[float, tuple[str, ...]]
                        ) -> tuple[dict[str, Any], ...]:
        """Hand a frustrated shopper's conversation over once the bot has answered their message (unless the
        bot's own answer handed it over already); the replies to add."""
        score, signals = frustration
        self.queue.redis.delete(keys.mood(conversation))
        if self.owner(conversation) is not None:
            return ()
        tracker = await agent.tracker_store.retrieve(conversation)
        outcome = escalate(self.queue, self.backend, conversation, "frustration", channel=channel,
                           intent=topic_of(tracker.events if tracker is not None else []),
                           frustration=score, vip=bool((metadata or {}).get(VIP_KEY)),
                           details={"last_message": mask_text(text), "signals": list(signals)},
                           max_wait_seconds=self.max_wait_seconds,
                           default_handling_seconds=self.default_handling_seconds, hours=self.hours)
        logger.info("conversation %s escalated for frustration %.2f (%s)", conversation, score, ",".join(signals))
        reply: dict[str, Any] = {"text": f"{FRUSTRATION_REPLY}{outcome.shopper_text()}"}
        if outcome.buttons():
            reply["buttons"] = outcome.buttons()
        events: list[Event] = [BotUttered(reply["text"], data={"buttons": reply.get("buttons")})]
        if outcome.queued:
            events.insert(0, ActiveLoop(None))  # an open form waits for nobody: the agent takes it from here
        await append_local(agent, conversation, events)
        return (reply,)
