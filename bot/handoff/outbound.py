"""Messages to a shopper outside a request of theirs (an agent's reply, a queue update), on any channel.

`send` appends the message to the conversation's outbox, a Redis stream (the
stream id orders the messages and lets a client say what it has already seen),
then publishes "a message is waiting" on one pub/sub channel. Every Rasa process
listens (`listen`) and pushes it to the connections of that conversation it
holds (Socket.IO rooms are per process, so exactly the process holding the
shopper's connection delivers it). A channel without push (REST) or a shopper
who was away reads what they have not seen with `since` / `wait_for`: nothing is
lost, and the ids let the client drop what it already has, so nothing shows twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Awaitable, Callable, Optional

import redis
import redis.asyncio as aioredis

from bot.handoff import keys

logger = logging.getLogger(__name__)

OUTBOX_MAXLEN = 500  # messages kept per conversation for a client that comes back

Delivered = tuple[str, dict[str, Any]]  # (stream id, message)
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


def valid_after(value: Any) -> str:
    """A client's "last seen" id, or "0" (everything) when it is missing or malformed."""
    return value if isinstance(value, str) and STREAM_ID.fullmatch(value) else "0"


def for_client(entry_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """An outbox message as channels send it: the message plus its id, for de-duplication."""
    return {**message, "outbox_id": entry_id}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(entries: Any) -> list[Delivered]:
    return [(_text(entry_id), json.loads(_text(fields[b"m"] if b"m" in fields else fields["m"])))
            for entry_id, fields in entries]


class Outbound:
    def __init__(self, client: redis.Redis, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    def send(self, conversation: str, message: dict[str, Any]) -> str:
        """Queue `message` ({"text", "buttons"?, "from": "agent" | "bot", "agent"?}) for the shopper; its id."""
        body = json.dumps(message, ensure_ascii=False)
        pipe = self.redis.pipeline()
        pipe.xadd(keys.outbox(conversation), {"m": body}, maxlen=OUTBOX_MAXLEN, approximate=True)
        pipe.expire(keys.outbox(conversation), self.retention_seconds)
        entry_id = _text(pipe.execute()[0])
        try:
            self.redis.publish(keys.OUTBOUND_CHANNEL, json.dumps({"conv": conversation, "id": entry_id, "m": message},
                                                                 ensure_ascii=False))
        except redis.RedisError:
            # The message is in the outbox already: raising would make the agent send it again. Listeners catch
            # up from the outboxes when they subscribe again, and clients from their last id.
            logger.warning("could not announce outbox message %s of %s", entry_id, conversation, exc_info=True)
        return entry_id

    def since(self, conversation: str, after: str = "0", count: int = 100) -> list[Delivered]:
        """The messages after id `after` (exclusive), oldest first."""
        return _decode(self.redis.xrange(keys.outbox(conversation), min=f"({after}" if after != "0" else "-",
                                         count=count))


async def wait_for(client: aioredis.Redis, conversation: str, after: str, timeout_seconds: float,
                   count: int = 100) -> list[Delivered]:
    """The messages after `after`, waiting up to `timeout_seconds` for the first one (a long poll)."""
    block = int(timeout_seconds * 1000) if timeout_seconds > 0 else None
    reply = await client.xread({keys.outbox(conversation): after or "0"}, count=count, block=block)
    return _decode(reply[0][1]) if reply else []


async def listen(client: aioredis.Redis, deliver: Callable[[str, str, dict[str, Any]], Awaitable[None]],
                 subscribed: Optional[Callable[[], Awaitable[None]]] = None) -> None:
    """Call `deliver(conversation, id, message)` for every message sent from any process, until cancelled.

    `subscribed` runs after every (re)subscription: messages published while the
    listener was away are still in the outboxes, and the channel asks its clients
    to catch up from their last id."""
    while True:
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(keys.OUTBOUND_CHANNEL)
                if subscribed is not None:
                    await subscribed()
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    try:
                        note = json.loads(_text(item["data"]))
                        await deliver(str(note["conv"]), str(note["id"]), dict(note["m"]))
                    except Exception:  # one bad message must not stop delivery to everyone else
                        logger.exception("could not deliver an outbound message")
        except asyncio.CancelledError:
            raise
        except (redis.RedisError, OSError):
            # Redis restarted: subscribe again; what was sent meanwhile waits in the outboxes.
            logger.warning("outbound listener lost Redis; reconnecting", exc_info=True)
            await asyncio.sleep(1)
