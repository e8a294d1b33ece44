"""How every channel hands an accepted message to Rasa: through the hand-off's ownership gate first."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.guard.commands import as_text, looks_like_command, offered_payloads
from bot.handoff.service import ownership_gate
from bot.nlu.encoder import ENCODER

logger = logging.getLogger(__name__)


async def offered_to(app: Optional[Sanic], sender_id: str) -> set[str]:
    """The payloads of the buttons the bot offered this conversation since the shopper last wrote."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return set()
    tracker = await store.retrieve(sender_id)
    return offered_payloads(tracker.events) if tracker is not None else set()


async def deliver(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage,
                  app: Optional[Sanic] = None) -> None:
    """Let Rasa handle `message`: typed commands become text (bot.guard.commands); while the conversation is
    queued for or held by an agent, or the shopper's frustration hands it over now, the gate takes the message
    instead (bot.handoff.gate); the e5 embedding is computed off the event loop first (bot.nlu.encoder)."""
    if isinstance(message.text, str) and looks_like_command(message.text):
        text = as_text(message.text, await offered_to(app, message.sender_id))
        if text != message.text:
            logger.info("a typed command from %s is read as text", message.sender_id)
            message.text = text
    gate = ownership_gate()
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    result = None
    if gate is not None and agent is not None and isinstance(message.text, str):
        result = await gate.handle(agent, message.sender_id, message.text, message.input_channel or "",
                                   message.metadata)
        if result.consumed:
            for reply in result.replies:
                await message.output_channel.send_response(message.sender_id, dict(reply))
            return
    async with ENCODER.turn(message.text if isinstance(message.text, str) else ""):
        await on_new_message(message)
    if gate is not None and result is not None and result.frustration is not None:
        for reply in await gate.after_bot(agent, message.sender_id, str(message.text), message.input_channel or "",
                                          message.metadata, result.frustration):
            await message.output_channel.send_response(message.sender_id, dict(reply))
