"""How every channel hands an accepted message to Rasa."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from bot.nlu.encoder import ENCODER


async def deliver(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
    """Embed the text off the event loop first (see bot.nlu.encoder), then let Rasa handle it."""
    async with ENCODER.turn(message.text if isinstance(message.text, str) else ""):
        await on_new_message(message)
