"""Hand-off messages (bot.handoff.outbound) to shoppers on a channel without a live connection: Telegram,
WeChat, e-mail. Each outbox entry goes out once, in order, whichever process hears of it.

The conversation's outbox stream is the truth. Per channel and conversation Redis keeps

    shop:channel:<channel>:delivered:<conversation>  string  the id of the last outbox entry delivered (the cursor;
                                                             lives as long as the outbox, refreshed on every advance)
    shop:channel:<channel>:sending:<conversation>    string  one process at a time delivers the conversation: a
                                                             token with a lease, kept alive while its holder works

Delivering a conversation: take its lock (a second process waits for it, up to `wait_seconds`, then tries again
`retry_seconds` later), read the entries past the cursor, and for each one call the channel's `send`, then advance
the cursor (a compare-and-set from the value read). What `send` answers decides:

- DELIVERED: it went out (or was refused for good: sending it again would not help): the cursor moves on and the
  entry is never sent again;
- RETRY: it surely did not go out, for a passing reason (no connection, a flood limit): the cursor stays, and the
  conversation is tried again `retry_seconds` later; nothing after it goes ahead of it;
- HOLD: it cannot go out until something changes (WeChat's 48-hour window, a mail thread that expired): the cursor
  stays until the next notice, the next catch-up, or the shopper's next message (`kick`).

An exception from `send` counts as RETRY. The one duplicate left: a process dying between a send and its
advance (milliseconds) sends that entry again when the conversation is next delivered.

Every Rasa process runs one courier per channel: `listen(client, courier.notified, courier.subscribed)`. After
every (re)subscription, and so after a restart, `catch_up` walks the channel's outboxes: what was sent while no
process listened arrives once.
"""
from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import redis
import redis.asyncio as aioredis

from bot.handoff import keys

logger = logging.getLogger(__name__)

PREFIX = "shop:channel"
LEASE_MS = 30_000  # a delivering process that stops renewing its lock (it died) loses it after this
WAIT_SECONDS = 10.0  # how long a process waits for another one to finish a conversation before trying later
RETRY_SECONDS = 5.0
BATCH = 50
CATCH_UP_PARALLEL = 16  # conversations delivered at once while catching up


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    HOLD = "hold"


DELIVERED, RETRY, HOLD = Outcome.DELIVERED, Outcome.RETRY, Outcome.HOLD

# send(conversation, entry id, message) -> what became of it
Send = Callable[[str, str, dict[str, Any]], Awaitable[Outcome]]


def cursor_key(channel: str, conversation: str) -> str:
    """The id of the last outbox entry of `conversation` delivered on `channel`."""
    return f"{PREFIX}:{channel}:delivered:{conversation}"


def lock_key(channel: str, conversation: str) -> str:
    return f"{PREFIX}:{channel}:sending:{conversation}"


ADVANCE = """
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class KeyedLocks:
    """One asyncio lock per key, kept while someone holds or waits for it; waiters go first come first."""

    def __init__(self) -> None:
        self._locks: dict[Any, list[Any]] = {}  # key -> [lock, holders and waiters]

    @contextlib.asynccontextmanager
    async def hold(self, key: Any) -> AsyncIterator[None]:
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def __len__(self) -> int:
        return len(self._locks)


class OutboxCourier:
    """Delivers the outbox entries of one channel's conversations (`<prefix>...`), each once (module docstring).

    `accepts(conversation)`: whether the channel can address it (a well-formed chat id, OpenID ...); others are
    ignored. `legacy_cursor(conversation)`: where an older version kept the cursor, read once when the cursor is
    missing, so an upgrade does not send old entries again."""

    def __init__(self, client: aioredis.Redis, channel: str, prefix: str, send: Send, *, retention_seconds: int,
                 retry_seconds: float = RETRY_SECONDS, wait_seconds: float = WAIT_SECONDS, lease_ms: int = LEASE_MS,
                 batch: int = BATCH, accepts: Optional[Callable[[str], bool]] = None,
                 legacy_cursor: Optional[Callable[[str], Awaitable[Optional[str]]]] = None) -> None:
        self.redis = client
        self.channel = channel
        self.prefix = prefix
        self.send = send
        self.retention_seconds = max(60, int(retention_seconds))
        self.retry_seconds = retry_seconds
        self.wait_seconds = wait_seconds
        self.lease_ms = lease_ms
        self.batch = batch
        self.accepts = accepts
        self.legacy_cursor = legacy_cursor
        self.sending = 0  # entries between "handed to send" and "cursor advanced"
        self._stopping = False
        self._locks = KeyedLocks()  # one delivery of a conversation at a time in this process
        self._dirty: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._advance = client.register_script(ADVANCE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    def cursor_key(self, conversation: str) -> str:
        return cursor_key(self.channel, conversation)

    def owns(self, conversation: str) -> bool:
        return conversation.startswith(self.prefix) and (self.accepts is None or self.accepts(conversation))

    # -- triggers ---------------------------------------------------------------------------------------------
    async def notified(self, conversation: str, _entry_id: str = "", _message: Optional[dict[str, Any]] = None
                       ) -> None:
        """`listen`'s callback: a message is waiting in some conversation's outbox (delivered in the background,
        so one slow shopper does not hold up the notices of everyone else)."""
        self.kick(conversation)

    async def subscribed(self) -> None:
        """`listen`'s callback after every (re)subscription: catch up in the background."""
        self._spawn(self.catch_up())

    def kick(self, conversation: str) -> None:
        """Deliver the conversation soon (in a task of its own; a kick during a delivery makes it look again)."""
        if self._stopping or not self.owns(conversation):
            return
        self._dirty.add(conversation)
        task = self._running.get(conversation)
        if task is None or task.done():
            self._running[conversation] = asyncio.create_task(self._deliver_while_dirty(conversation),
                                                              name=f"{self.channel}-outbox")

    async def _deliver_while_dirty(self, conversation: str) -> None:
        try:
            while conversation in self._dirty and not self._stopping:
                self._dirty.discard(conversation)
                await self.deliver(conversation)
        finally:
            if self._running.get(conversation) is asyncio.current_task():
                self._running.pop(conversation, None)

    async def catch_up(self) -> None:
        """Every outbox of the channel, for what was sent while nobody listened."""
        pattern, start = keys.outbox(self.prefix) + "*", len(keys.outbox(""))
        slots = asyncio.Semaphore(CATCH_UP_PARALLEL)

        async def one(conversation: str) -> None:
            async with slots:
                await self.deliver(conversation)

        try:
            conversations = [_text(key)[start:] async for key in self.redis.scan_iter(match=pattern, count=500)]
        except (redis.RedisError, OSError) as error:
            logger.warning("%s outbox catch-up: Redis unavailable (%s); the next subscription tries again",
                           self.channel, error)
            return
        await asyncio.gather(*(one(c) for c in dict.fromkeys(conversations) if self.owns(c)))

    # -- delivering -------------------------------------------------------------------------------------------
    async def deliver(self, conversation: str) -> bool:
        """Send what lies past the conversation's cursor, in order; True when nothing is left to send."""
        if not self.owns(conversation):
            return True
        async with self._locks.hold(conversation):
            try:
                token = await self._lock(conversation)
                if token is None:  # another process has been delivering it all this time: after it
                    self._retry_later(conversation)
                    return False
                lost = asyncio.Event()
                keeper = asyncio.create_task(self._keep(conversation, token, lost))
                try:
                    return await self._deliver_pending(conversation, lost)
                finally:
                    keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError, redis.RedisError, OSError):
                        await keeper
                    with contextlib.suppress(redis.RedisError, OSError):
                        await self._release(keys=[lock_key(self.channel, conversation)], args=[token])
            except (redis.RedisError, OSError) as error:
                logger.warning("%s outbox of %s waits: Redis unavailable (%s)", self.channel, conversation, error)
                self._retry_later(conversation)
                return False

    async def _lock(self, conversation: str) -> Optional[str]:
        token, key = uuid.uuid4().hex, lock_key(self.channel, conversation)
        deadline = asyncio.get_running_loop().time() + self.wait_seconds
        while not await self.redis.set(key, token, nx=True, px=self.lease_ms):
            if asyncio.get_running_loop().time() >= deadline or self._stopping:
                return None
            await asyncio.sleep(0.1)
        return token

    async def _keep(self, conversation: str, token: str, lost: asyncio.Event) -> None:
        """Renew the lock while delivering (a send may take longer than the lease); note when it was lost."""
        key = lock_key(self.channel, conversation)
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                if not await self._renew(keys=[key], args=[token, self.lease_ms]):
                    lost.set()
                    return
            except (redis.RedisError, OSError):
                continue  # Redis away: the advance fails too, and that stops the delivery

    async def cursor(self, conversation: str) -> str:
        """The last delivered entry's id ("0": none)."""
        key = self.cursor_key(conversation)
        value = await self.redis.get(key)
        if value is None and self.legacy_cursor is not None:
            legacy = await self.legacy_cursor(conversation)
            if legacy and legacy != "0":
                await self.redis.set(key, legacy, nx=True, ex=self.retention_seconds)
                value = await self.redis.get(key)
        return _text(value) if value is not None else "0"

    async def _deliver_pending(self, conversation: str, lost: asyncio.Event) -> bool:
        outbox = keys.outbox(conversation)
        while True:
            cursor = await self.cursor(conversation)
            entries = await self.redis.xrange(outbox, min=f"({cursor}" if cursor != "0" else "-", count=self.batch)
            if not entries:
                return True
            for raw_id, fields in entries:
                if self._stopping or lost.is_set():
                    return False  # the next delivery (after a restart: the catch-up) goes on from the cursor
                entry_id = _text(raw_id)
                self.sending += 1
                try:
                    outcome = await self._send(conversation, entry_id, fields)
                    if outcome is HOLD:
                        return False
                    if outcome is RETRY:
                        self._retry_later(conversation)
                        return False
                    moved = await self._advance(keys=[self.cursor_key(conversation)],
                                                args=[cursor, entry_id, self.retention_seconds])
                finally:
                    self.sending -= 1
                if not moved:
                    logger.warning("the %s outbox cursor of %s moved under its lock; reading it again", self.channel,
                                   conversation)
                    break
                cursor = entry_id

    async def _send(self, conversation: str, entry_id: str, fields: Any) -> Outcome:
        try:
            message = json.loads(_text(fields.get(b"m", fields.get("m", b"{}"))))
        except (ValueError, TypeError):
            logger.warning("%s outbox entry %s of %s is not JSON; skipped", self.channel, entry_id, conversation)
            return DELIVERED
        try:
            return await self.send(conversation, entry_id, message if isinstance(message, dict) else {})
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or an outage the channel did not foresee: not sent, so not lost
            logger.exception("%s outbox entry %s of %s failed; retrying in %.0f s", self.channel, entry_id,
                             conversation, self.retry_seconds)
            return RETRY

    def _retry_later(self, conversation: str) -> None:
        if conversation in self._retries or self._stopping:
            return

        async def retry() -> None:
            await asyncio.sleep(self.retry_seconds)
            self._retries.pop(conversation, None)
            self.kick(conversation)

        self._retries[conversation] = asyncio.create_task(retry())

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- life cycle -------------------------------------------------------------------------------------------
    async def drain(self, timeout: float = 20) -> None:
        """Start no new send; wait (up to `timeout`) until the sends under way are recorded as delivered."""
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self.sending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Stop every delivery and retry of this courier."""
        self._stopping = True
        tasks = [*self._retries.values(), *self._running.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retries.clear()
        self._running.clear()
        self._background.clear()
