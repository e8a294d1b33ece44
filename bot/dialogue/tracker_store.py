"""A Redis tracker store that appends each turn's events instead of rewriting the conversation.

Rasa's own RedisTrackerStore keeps a conversation as one JSON string: every
turn it reads and parses the whole string twice (retrieve, then merge on save)
and writes it back, so turn 200 costs several times turn 5. Here a conversation
is a Redis list with one JSON event per entry:

- `save` pushes only the events added since the tracker was read (a Lua script
  checks that nobody else wrote in between, else it falls back to Rasa's merge);
- `retrieve` asks Redis for the list length and the entries this process has
  not seen yet, and keeps the parsed events of recent conversations in memory.

Several Rasa processes may share the Redis: a cached conversation is only
trusted while the list's length and its "epoch" (changed by every rewrite or
delete) still match. `endpoints.yml` names this class; the URL comes from
`REDIS_URL` first, so `make run`, the tests and a deployment share one file.
When Redis goes away, Rasa's fail-safe wrapper keeps the conversation going in
memory and logs the error.
"""
from __future__ import annotations

import json
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import redis
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import RedisTrackerStore, SerializedTrackerAsText, TrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker, TrackerEventDiffEngine

from bot.config import load_settings
from bot.dialogue.rasa_speedups import resolve_event_type
from bot.privacy.masking import mask_text, mask_value

logger = logging.getLogger(__name__)

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_PREFIX = "shop"
# Where a tracker came from in the store: (epoch, index of its first event, entries stored).
POSITION_ATTR = "_shop_store_position"

# Append only when the list is still as long as the reader saw it and was not
# rewritten since; returns the new length, or -1 so the caller merges instead.
_APPEND_SCRIPT = """
local epoch = redis.call('GET', KEYS[2]) or ''
if epoch ~= ARGV[2] or redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then
  return -1
end
local length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 4))
if tonumber(ARGV[3]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return length
"""


def connect(url: str, password: Optional[str] = None, username: Optional[str] = None, use_ssl: bool = False,
            socket_timeout: float = 5.0) -> redis.Redis:
    """A client for `url`; `password`/`username` (endpoints.yml) apply when the URL has none, `use_ssl` means TLS."""
    if use_ssl and url.startswith("redis://"):
        url = "rediss://" + url[len("redis://"):]
    extra: dict[str, Any] = {}
    if password:
        extra["password"] = password  # the URL's own password, if it has one, wins (redis-py)
    if username:
        extra["username"] = username
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=socket_timeout,
                                socket_connect_timeout=socket_timeout, **extra)


def mask_event(data: dict[str, Any]) -> dict[str, Any]:
    """A user, bot or slot event with the personal data in its texts and values masked.

    Order numbers stay (the masker keeps them), so a verified order survives a reload;
    a flow that needs a personal value keeps it outside the transcript (bot.privacy.pending).
    """
    data = dict(data)
    if isinstance(data.get("text"), str):
        data["text"] = mask_text(data["text"])
    if data.get("event") == "slot":
        data["value"] = mask_value(data.get("value"))
    parse = data.get("parse_data")
    if isinstance(parse, dict):
        data["parse_data"] = {**parse, **{key: mask_value(parse[key]) for key in ("text", "entities") if key in parse}}
    if isinstance(data.get("data"), dict):  # a bot message's buttons, attachments
        data["data"] = mask_value(data["data"])
    return data


class EventCodec:
    """JSON <-> Event; event names resolve through `bot.dialogue.rasa_speedups.resolve_event_type`.

    `Event.from_parameters` walks every Event subclass (with `inspect.isabstract`)
    for each event it parses; on long conversations that walk was the largest
    single cost of a turn.
    """

    @staticmethod
    def _event_class(name: str) -> Optional[type[Event]]:
        try:
            return resolve_event_type(name)
        except ValueError:
            return None

    def decode(self, raw: str) -> Optional[Event]:
        params = json.loads(raw)
        cls = self._event_class(params.get("event", ""))
        if cls is None:
            logger.warning("Skipping a stored event of unknown type %r", params.get("event"))
            return None
        return cls._from_parameters(params)

    def decode_all(self, raws: Iterable[str]) -> list[Event]:
        return [event for event in map(self.decode, raws) if event is not None]

    @staticmethod
    def encode(event: Event) -> str:
        """The event as stored: what a shopper or the bot wrote has personal data masked (bot.privacy)."""
        data = event.as_dict()
        if data.get("event") in ("user", "bot", "slot"):
            data = mask_event(data)
        return json.dumps(data, ensure_ascii=False)


@dataclass
class _Cached:
    """What this process knows of a conversation: its events, the first `synced` of which are in Redis."""

    epoch: str
    events: list[Event]
    synced: int

    @property
    def pending(self) -> list[Event]:
        return self.events[self.synced:]


def last_session_start(events: Sequence[Event]) -> int:
    """Index of the `action_session_start` that opens the latest session (0 when none)."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME:
            return index
    return 0


class ShopRedisTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Conversations as append-only Redis lists of events, read incrementally."""

    def __init__(
        self,
        domain: Domain,
        url: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        record_exp: Optional[float] = None,
        key_prefix: Optional[str] = None,
        cached_conversations: int = 2000,
        socket_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        password, username = kwargs.pop("password", None), kwargs.pop("username", None)
        use_ssl = bool(kwargs.pop("use_ssl", False))
        for ignored in ("host", "port", "db"):  # the URL says these
            kwargs.pop(ignored, None)
        super().__init__(domain, event_broker, **kwargs)
        settings = load_settings()
        self.url = settings.redis_url or url or DEFAULT_URL
        self.red = connect(self.url, password=password, username=username, use_ssl=use_ssl,
                           socket_timeout=socket_timeout)
        # Personal data is not kept forever: a conversation expires this long after its last turn.
        self.record_exp = int(record_exp) if record_exp else settings.retention_seconds
        self.prefix = f"{key_prefix or DEFAULT_PREFIX}:conv:"
        self.codec = EventCodec()
        self._append = self.red.register_script(_APPEND_SCRIPT)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = max(0, int(cached_conversations))
        self._pending: set[str] = set()  # cached conversations with events not in Redis yet

    # -- keys ---------------------------------------------------------------
    def events_key(self, sender_id: str) -> str:
        return f"{self.prefix}{sender_id}:events"

    def epoch_key(self, sender_id: str) -> str:
        return f"{self.prefix}{sender_id}:epoch"

    # -- reading ------------------------------------------------------------
    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The tracker of the latest conversation session."""
        known = self._load(sender_id)
        if known is None:
            return None
        return self._tracker(sender_id, known, last_session_start(known.events))

    async def retrieve_full_tracker(self, conversation_id: str) -> Optional[DialogueStateTracker]:
        """The tracker with every session of the conversation."""
        known = self._load(conversation_id)
        if known is None:
            return None
        return self._tracker(conversation_id, known, 0)

    async def exists(self, conversation_id: str) -> bool:
        return bool(self.red.exists(self.events_key(conversation_id)))

    async def keys(self) -> Iterable[str]:
        """Conversation IDs in the store."""
        suffix = ":events"
        return [
            key[len(self.prefix):-len(suffix)]
            for key in self.red.scan_iter(match=f"{self.prefix}*{suffix}", count=500)
        ]

    def _load(self, sender_id: str) -> Optional[_Cached]:
        """Everything known of the conversation, parsing only Redis entries not cached yet.

        While Redis is unreachable, a conversation this process has cached goes on
        from memory (its new events are pushed when Redis answers again); any other
        conversation raises, and Rasa's fail-safe wrapper starts it afresh.
        """
        cached = self._cache.get(sender_id)
        start = cached.synced if cached else 0
        try:
            with self.red.pipeline(transaction=True) as pipe:
                pipe.get(self.epoch_key(sender_id))
                pipe.llen(self.events_key(sender_id))
                pipe.lrange(self.events_key(sender_id), start, -1)
                epoch, length, tail = pipe.execute()
        except redis.RedisError as error:
            if cached is None:
                raise
            logger.warning("Redis unreachable (%s); conversation %s continues from memory", error, sender_id)
            return cached
        epoch = epoch or ""
        if cached and (cached.epoch != epoch or length < start):
            self._forget(sender_id)  # rewritten or purged elsewhere: Redis is the truth
            return self._load(sender_id)
        if length == 0 and not (cached and cached.pending):
            self._forget(sender_id)
            return None
        stored = (cached.events[:start] if cached else []) + self.codec.decode_all(tail)
        # Events kept through an outage follow whatever other processes stored meanwhile.
        known = _Cached(epoch, stored + (cached.pending if cached else []), length)
        self._remember(sender_id, known)
        return known

    def _tracker(self, sender_id: str, known: _Cached, offset: int) -> DialogueStateTracker:
        tracker = self.init_tracker(sender_id)
        tracker.recreate_from_dialogue(Dialogue(sender_id, known.events[offset:]))
        setattr(tracker, POSITION_ATTR, (known.epoch, offset, known.synced))
        return tracker

    def _remember(self, sender_id: str, known: _Cached) -> None:
        self._cache[sender_id] = known
        self._cache.move_to_end(sender_id)
        if known.pending:
            self._pending.add(sender_id)
        else:
            self._pending.discard(sender_id)
        while len(self._cache) > self._cache_size:
            # Oldest first, but never a conversation whose events are only here.
            oldest = next((key for key in self._cache if key not in self._pending), None)
            if oldest is None:
                break
            del self._cache[oldest]

    def _forget(self, sender_id: str) -> None:
        self._cache.pop(sender_id, None)
        self._pending.discard(sender_id)

    def _push(self, sender_id: str, synced: int, epoch: str, events: Sequence[Event]) -> int:
        """Append `events` if Redis still holds `synced` entries of this epoch; the new length, else -1."""
        return int(self._append(
            keys=[self.events_key(sender_id), self.epoch_key(sender_id)],
            args=[synced, epoch, self.record_exp, *map(self.codec.encode, events)],
        ))

    # -- writing ------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the events added since `tracker` was read; merge when that is unknown.

        When Redis is unreachable the events stay in this process and go to Redis
        with the conversation's next successful save.
        """
        try:
            if not await self._append_new_events(tracker):
                await self._merge_and_rewrite(tracker)
        except redis.RedisError as error:
            self._keep_in_memory(tracker)
            logger.warning("Redis unreachable (%s); conversation %s kept in memory until it answers",
                           error, tracker.sender_id)
            return
        await self._flush_pending()

    def _keep_in_memory(self, tracker: DialogueStateTracker) -> None:
        position = getattr(tracker, POSITION_ATTR, None)
        cached = self._cache.get(tracker.sender_id)
        events = list(tracker.events)
        if position is None or cached is None:
            self._remember(tracker.sender_id, _Cached(cached.epoch if cached else "", events,
                                                      cached.synced if cached else 0))
            return
        epoch, offset, synced = position
        self._remember(tracker.sender_id, _Cached(epoch, cached.events[:offset] + events, synced))

    async def _flush_pending(self, limit: int = 20) -> None:
        """Push events kept through an outage, a few conversations per successful save."""
        for sender_id in list(self._pending)[:limit]:
            known: Optional[_Cached] = self._cache[sender_id]
            for _ in range(2):  # a second try after reading what others stored meanwhile
                assert known is not None
                length = self._push(sender_id, known.synced, known.epoch, known.pending)
                if length != -1:
                    known.synced = length
                    self._pending.discard(sender_id)
                    logger.info("Conversation %s: events kept during a Redis outage are stored now", sender_id)
                    break
                known = self._load(sender_id)  # ours go after theirs
                if known is None or not known.pending:
                    break

    async def _append_new_events(self, tracker: DialogueStateTracker) -> bool:
        position = getattr(tracker, POSITION_ATTR, None)
        if position is None or tracker.events.maxlen is not None:
            return False
        epoch, offset, synced = position
        events = list(tracker.events)
        if synced - offset > len(events):
            return False
        new_events = events[synced - offset:]
        if new_events:
            length = self._push(tracker.sender_id, synced, epoch, new_events)
            if length == -1:
                logger.info("Conversation %s changed in Redis since it was read; merging", tracker.sender_id)
                return False
            if self.event_broker:
                await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        cached = self._cache.get(tracker.sender_id)
        if offset and not (cached and cached.epoch == epoch and len(cached.events) >= offset):
            self._forget(tracker.sender_id)  # earlier sessions unknown here: reread next time
        else:
            prefix = cached.events[:offset] if cached else []
            self._remember(tracker.sender_id, _Cached(epoch, prefix + events, offset + len(events)))
        setattr(tracker, POSITION_ATTR, (epoch, offset, synced + len(new_events)))
        return True

    async def _merge_and_rewrite(self, tracker: DialogueStateTracker) -> None:
        """Rasa's RedisTrackerStore semantics for a tracker we did not hand out."""
        sender_id, original = tracker.sender_id, tracker
        self._forget(sender_id)
        known = self._load(sender_id)
        if known is not None:
            prior = self.init_tracker(sender_id)
            prior.recreate_from_dialogue(Dialogue(sender_id, known.events))
            if self.event_broker:
                new_events = TrackerEventDiffEngine.event_difference(prior, tracker)
                await self._stream_new_events(self.event_broker, new_events, sender_id)
            tracker = RedisTrackerStore._merge_trackers(prior, tracker)
        elif self.event_broker:
            await self._stream_new_events(self.event_broker, list(tracker.events), sender_id)
        events = list(tracker.events)
        epoch = secrets.token_hex(8)
        with self.red.pipeline(transaction=True) as pipe:
            pipe.delete(self.events_key(sender_id))
            if events:
                pipe.rpush(self.events_key(sender_id), *map(self.codec.encode, events))
            pipe.set(self.epoch_key(sender_id), epoch)
            if self.record_exp:
                pipe.expire(self.events_key(sender_id), self.record_exp)
                pipe.expire(self.epoch_key(sender_id), self.record_exp)
            pipe.execute()
        self._remember(sender_id, _Cached(epoch, events, len(events)))
        if tracker is original:  # a merged copy is new to Rasa; the original stays unknown
            setattr(tracker, POSITION_ATTR, (epoch, 0, len(events)))

    async def delete(self, sender_id: str) -> bool:
        """Remove a conversation for good (a shopper's purge request). True if it existed."""
        self._forget(sender_id)
        removed = self.red.delete(self.events_key(sender_id), self.epoch_key(sender_id))
        return removed > 0
