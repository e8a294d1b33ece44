"""The hand-off queue in Redis: escalations wait by skill group and priority, agents claim them atomically.

Design (why not a plain list or a Stream consumer group): an escalation must be
ranked (priority first, then first come first served), its position must be a
true rank the shopper can be told, and a claim must check the agent's limit of
simultaneous chats in the same step as it takes the conversation. So:

- each skill group has a sorted set of waiting conversations; the score is
  `band * BAND + offset`, where the band is `MAX_PRIORITY - priority` and the
  offset is the enqueue time in ms (plus FRONT_OFFSET for a normal entry, none
  for one put back at the front): ZRANK is the shopper's position;
- every change of state is one Lua script (enqueue, claim, transfer, requeue,
  close), so no agent is ever over their limit and no chat is claimed twice, across
  any number of consoles, desks and Rasa processes;
- delivery is at least once: the escalation hash stays until an agent closes it.
  An agent's presence is a key that expires (`presence`): when it is gone past the
  grace, `requeue_agent` (run by the sweep) puts every chat they held back at the
  front of its queue, so a crashed console or a dropped websocket loses nothing;
- every change is also appended to the `events` stream, which consoles read to
  push the live queue, and reports read for statistics;
- waiting raises priority (`age`): past every `priority_aging_minutes` a waiting
  conversation moves up one band, up to a cap, keeping its offset, so first come
  first served holds within every band. It runs in the sweep, not at claim time:
  a claim only looks at the head of each queue, and ZRANK (the position a shopper
  is told) must already reflect the aging, so the scores themselves are rewritten;
- the position a shopper was last told is kept (`told`), set by the enqueue and
  gone with the escalation, so `due_positions` can pick out, in one step, who has
  moved up since (`bot.handoff.positions` tells them).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import redis

from bot.handoff import keys

MAX_PRIORITY = 9
BAND = 10**13  # ms; wider than any enqueue time
FRONT_OFFSET = 5 * 10**12  # a normal entry sits behind every front entry of its band
EVENTS_MAXLEN = 100_000
HANDLED_SAMPLES = 50  # handling times kept per group for the wait estimate
TOLD_TTL_SECONDS = 24 * 3600  # a backstop only: the escalation's end deletes the told position


def score(priority: int, enqueued_ms: int, front: bool = False) -> int:
    """The sort key of a waiting conversation: higher priority first, then earlier first."""
    band = MAX_PRIORITY - max(0, min(MAX_PRIORITY, priority))
    return band * BAND + enqueued_ms + (0 if front else FRONT_OFFSET)


# KEYS: esc, wait, owner, events, told. ARGV: conversation, score, now, then field/value pairs.
# Returns {1, rank} when queued now, {0, state} when the conversation already has an escalation.
# The caller tells the shopper the rank, so it is recorded as told in the same step.
_ENQUEUE = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if state then return {{0, state}} end
redis.call('HSET', KEYS[1], 'state', 'queued', 'enqueued_ms', ARGV[3], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SET', KEYS[3], 'queued')
redis.call('XADD', KEYS[4], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', 'escalated', 'conv', ARGV[1],
           'group', redis.call('HGET', KEYS[1], 'group'))
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[5], 'position', rank + 1, 'at_ms', ARGV[3])
redis.call('EXPIRE', KEYS[5], {TOLD_TTL_SECONDS})
return {{1, rank}}
"""

# KEYS: agent, chats, alive, events, then the waiting sets of the agent's groups.
# ARGV: agent id, now, wanted conversation ('' for the best waiting one), key prefix.
_CLAIM = f"""
local presence = redis.call('GET', KEYS[3])
if not presence then return {{'offline'}} end
if presence == 'away' then return {{'away'}} end
local limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or '0')
if redis.call('SCARD', KEYS[2]) >= limit then return {{'full'}} end
local conv, queue, best = nil, nil, nil
for i = 5, #KEYS do
  if ARGV[3] ~= '' then
    if redis.call('ZSCORE', KEYS[i], ARGV[3]) then conv = ARGV[3]; queue = KEYS[i]; break end
  else
    local head = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if head[1] and (best == nil or tonumber(head[2]) < best) then
      best = tonumber(head[2]); conv = head[1]; queue = KEYS[i]
    end
  end
end
if not conv then return {{'none'}} end
redis.call('ZREM', queue, conv)
redis.call('DEL', ARGV[4] .. ':told:' .. conv)
local esc = ARGV[4] .. ':esc:' .. conv
redis.call('HSET', esc, 'state', 'assigned', 'agent', ARGV[1], 'claimed_ms', ARGV[2])
redis.call('SET', ARGV[4] .. ':owner:' .. conv, 'agent:' .. ARGV[1])
redis.call('SADD', KEYS[2], conv)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', 'claimed', 'conv', conv,
           'agent', ARGV[1], 'group', redis.call('HGET', esc, 'group'))
return {{'ok', conv}}
"""

# Put one held conversation back at the front of a queue (its own group or `group`).
# Used inside the scripts below; `prefix`, `agent`, `conv`, `group`, `events` are Lua locals there.
_PUT_BACK = f"""
local function put_back(prefix, agent, conv, group, kind, events)
  local esc = prefix .. ':esc:' .. conv
  if redis.call('HGET', esc, 'agent') ~= agent then return 0 end
  if group == '' then group = redis.call('HGET', esc, 'group') end
  local priority = tonumber(redis.call('HGET', esc, 'priority') or '0')
  local enqueued = tonumber(redis.call('HGET', esc, 'enqueued_ms') or '0')
  local band = {MAX_PRIORITY} - math.max(0, math.min({MAX_PRIORITY}, priority))
  redis.call('ZADD', prefix .. ':wait:' .. group, string.format('%.0f', band * {BAND} + enqueued), conv)
  redis.call('HSET', esc, 'state', 'queued', 'agent', '', 'group', group)
  redis.call('HINCRBY', esc, 'requeued', 1)
  redis.call('SET', prefix .. ':owner:' .. conv, 'queued')
  redis.call('DEL', prefix .. ':told:' .. conv)  -- back in a queue: the shopper is told their new place
  redis.call('XADD', events, 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', kind, 'conv', conv, 'agent', agent,
             'group', group)
  return 1
end
"""

# KEYS: chats, alive, events. ARGV: agent id, prefix, 'force' or ''. Every held chat back to the front,
# unless the agent came back (their presence key exists) and this is the sweep, not a forced release.
_REQUEUE_AGENT = _PUT_BACK + """
if ARGV[3] ~= 'force' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local count = 0
for _, conv in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  count = count + put_back(ARGV[2], ARGV[1], conv, '', 'requeued', KEYS[3])
  redis.call('SREM', KEYS[1], conv)
end
return count
"""

# KEYS: chats, events. ARGV: agent id, prefix, conversation, group ('' keeps its group).
_TRANSFER_TO_GROUP = _PUT_BACK + """
if redis.call('SISMEMBER', KEYS[1], ARGV[3]) == 0 then return 0 end
redis.call('SREM', KEYS[1], ARGV[3])
return put_back(ARGV[2], ARGV[1], ARGV[3], ARGV[4], 'transferred', KEYS[2])
"""

# KEYS: from chats, to agent, to chats, to alive, events. ARGV: from id, to id, conversation, prefix.
_TRANSFER_TO_AGENT = f"""
if redis.call('SISMEMBER', KEYS[1], ARGV[3]) == 0 then return 'not_yours' end
if redis.call('EXISTS', KEYS[4]) == 0 then return 'offline' end
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or '0')
if redis.call('SCARD', KEYS[3]) >= limit then return 'full' end
redis.call('SMOVE', KEYS[1], KEYS[3], ARGV[3])
redis.call('HSET', ARGV[4] .. ':esc:' .. ARGV[3], 'agent', ARGV[2])
redis.call('SET', ARGV[4] .. ':owner:' .. ARGV[3], 'agent:' .. ARGV[2])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', 'transferred', 'conv', ARGV[3],
           'agent', ARGV[1], 'to_agent', ARGV[2])
return 'ok'
"""

# KEYS: chats, esc, owner, events. ARGV: agent id, conversation, now, resolution, prefix, samples.
# Returns the escalation's fields, or {} when the agent does not hold it.
_CLOSE = f"""
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then return {{}} end
local fields = redis.call('HGETALL', KEYS[2])
local group = redis.call('HGET', KEYS[2], 'group')
local claimed = tonumber(redis.call('HGET', KEYS[2], 'claimed_ms') or ARGV[3])
local seconds = math.max(0, (tonumber(ARGV[3]) - claimed) / 1000)
local handled = ARGV[5] .. ':handled:' .. group
redis.call('LPUSH', handled, string.format('%.1f', seconds))
redis.call('LTRIM', handled, 0, tonumber(ARGV[6]) - 1)
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3], ARGV[5] .. ':told:' .. ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', 'closed', 'conv', ARGV[2],
           'agent', ARGV[1], 'group', group, 'resolution', ARGV[4], 'seconds', string.format('%.1f', seconds))
return fields
"""

# KEYS: esc, owner, events. ARGV: conversation, prefix, why. Drops a queued escalation (the shopper
# left a message instead, or the conversation was purged).
_WITHDRAW = f"""
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
redis.call('ZREM', ARGV[2] .. ':wait:' .. redis.call('HGET', KEYS[1], 'group'), ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], ARGV[2] .. ':told:' .. ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', {EVENTS_MAXLEN}, '*', 'type', 'withdrawn', 'conv', ARGV[1], 'why', ARGV[3])
return 1
"""


# KEYS: esc, owner, outbox, mood. ARGV: conversation, prefix. Everything the hand-off keeps about a
# conversation, gone (a purge on the shopper's request); the agent holding it loses it too.
_FORGET = """
local group = redis.call('HGET', KEYS[1], 'group')
local agent = redis.call('HGET', KEYS[1], 'agent')
if group then redis.call('ZREM', ARGV[2] .. ':wait:' .. group, ARGV[1]) end
if agent and agent ~= '' then redis.call('SREM', ARGV[2] .. ':chats:' .. agent, ARGV[1]) end
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2] .. ':told:' .. ARGV[1])
"""

# KEYS: wait. ARGV: prefix, now, step ms, the highest priority aging lifts to. Every waiting conversation moves
# up one band per step waited since it was escalated, to the cap at most and never below its own priority. Its
# offset within the band (enqueue time, front or not) stays, so first come first served holds in every band:
# within one priority the older has aged at least as far as the younger. Returns how many moved.
_AGE = f"""
local now, step, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local cap_band = {MAX_PRIORITY} - cap
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local moved = 0
for i = 1, #entries, 2 do
  local conv, score = entries[i], tonumber(entries[i + 1])
  local band = math.floor(score / {BAND})
  if band > cap_band then  -- at or above the cap already: aging cannot lift it
    local esc = redis.call('HMGET', ARGV[1] .. ':esc:' .. conv, 'priority', 'enqueued_ms')
    local priority = math.max(0, math.min({MAX_PRIORITY}, tonumber(esc[1] or '0')))
    local steps = math.floor((now - tonumber(esc[2] or ARGV[2])) / step)
    local aged = math.max(priority, math.min(cap, priority + steps))
    local new_band = {MAX_PRIORITY} - aged
    if new_band < band then
      redis.call('ZADD', KEYS[1], string.format('%.0f', new_band * {BAND} + (score - band * {BAND})), conv)
      moved = moved + 1
    end
  end
end
return moved
"""

# KEYS: wait. ARGV: prefix, now, least ms between two updates to one shopper. The waiting conversations whose
# rank is better than the position they were last told (or who were told none: back in the queue after an
# agent), as {conversation, position, ...}; at most one update per interval each, except for "you are next".
# They are marked told in the same step, so two processes sweeping at once never send the same update twice.
# A rank that got worse (a VIP or an aged conversation went ahead) is not pushed: the shopper hears the truth
# when they next write, and the next push when they move up again.
_DUE_POSITIONS = f"""
local now, gap = tonumber(ARGV[2]), tonumber(ARGV[3])
local due = {{}}
for position, conv in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local told = ARGV[1] .. ':told:' .. conv
  local last = redis.call('HMGET', told, 'position', 'at_ms')
  local was, at = tonumber(last[1]), tonumber(last[2] or '0')
  if was == nil or (position < was and (position == 1 or now - at >= gap)) then
    redis.call('HSET', told, 'position', position, 'at_ms', ARGV[2])
    redis.call('EXPIRE', told, {TOLD_TTL_SECONDS})
    due[#due + 1] = conv
    due[#due + 1] = position
  end
end
return due
"""


@dataclass(frozen=True)
class Escalation:
    """Why and where a conversation goes to a human."""

    conversation: str
    group: str
    reason: str
    priority: int = 0
    channel: str = ""
    frustration: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # what the agent sees first (order, slots, last message)


@dataclass(frozen=True)
class Placement:
    queued: bool  # False: the conversation already had an escalation (nothing changed)
    state: str  # queued or assigned
    position: Optional[int]  # 1-based rank in its queue while queued


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    name: str
    groups: tuple[str, ...]
    limit: int
    role: str = "agent"  # or supervisor
    desk: str = "console"  # where the agent works: console or telegram


class ClaimRefused(Exception):
    """The agent cannot take a chat now: offline, at their limit, or nothing (or not that one) is waiting."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _now_ms() -> int:
    return int(time.time() * 1000)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class HandoffQueue:
    """Escalations, agents and their chats in one Redis; every method is safe to call from any process."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._requeue_agent = client.register_script(_REQUEUE_AGENT)
        self._to_group = client.register_script(_TRANSFER_TO_GROUP)
        self._to_agent = client.register_script(_TRANSFER_TO_AGENT)
        self._close = client.register_script(_CLOSE)
        self._withdraw = client.register_script(_WITHDRAW)
        self._forget = client.register_script(_FORGET)
        self._age = client.register_script(_AGE)
        self._due_positions = client.register_script(_DUE_POSITIONS)

    # -- shoppers' side -------------------------------------------------------------------------
    def enqueue(self, escalation: Escalation, now_ms: Optional[int] = None) -> Placement:
        """Put a conversation in its group's queue, unless it already waits or is with an agent."""
        now_ms = _now_ms() if now_ms is None else now_ms
        conversation = escalation.conversation
        fields = {
            "conv": conversation, "group": escalation.group, "priority": str(escalation.priority),
            "reason": escalation.reason, "channel": escalation.channel,
            "frustration": f"{escalation.frustration:.2f}",
            "details": json.dumps(escalation.details, ensure_ascii=False),
        }
        queued, value = self._enqueue(
            keys=[keys.escalation(conversation), keys.waiting(escalation.group), keys.owner(conversation),
                  keys.EVENTS, keys.told(conversation)],
            args=[conversation, score(escalation.priority, now_ms), now_ms, *sum(fields.items(), ())],
        )
        if queued:
            return Placement(True, "queued", int(value) + 1)
        state = _text(value)
        return Placement(False, state, self.position(conversation) if state == "queued" else None)

    def escalation(self, conversation: str) -> dict[str, str]:
        """The open escalation's fields ({} when there is none)."""
        raw = self.redis.hgetall(keys.escalation(conversation))
        return {_text(k): _text(v) for k, v in raw.items()}

    def position(self, conversation: str) -> Optional[int]:
        """1-based rank among the conversations waiting for the same group, or None when not waiting."""
        group = self.redis.hget(keys.escalation(conversation), "group")
        if group is None:
            return None
        rank = self.redis.zrank(keys.waiting(_text(group)), conversation)
        return None if rank is None else int(rank) + 1

    def waiting(self, group: str, limit: int = 100) -> list[str]:
        """The conversations waiting for `group`, first in line first."""
        return [_text(c) for c in self.redis.zrange(keys.waiting(group), 0, limit - 1)]

    def queue_length(self, group: str) -> int:
        return int(self.redis.zcard(keys.waiting(group)))

    def withdraw(self, conversation: str, why: str) -> bool:
        """Take a waiting conversation out of the queue (it goes back to the bot)."""
        return bool(self._withdraw(keys=[keys.escalation(conversation), keys.owner(conversation), keys.EVENTS],
                                   args=[conversation, keys.PREFIX, why]))

    def forget(self, conversation: str) -> int:
        """Remove everything the hand-off keeps about a conversation (queue place, owner, outbox, events,
        ratings); the number of keys and stream entries removed."""
        removed = int(self._forget(keys=[keys.escalation(conversation), keys.owner(conversation),
                                         keys.outbox(conversation), keys.mood(conversation)],
                                   args=[conversation, keys.PREFIX]))
        target = conversation.encode()
        for stream in (keys.EVENTS, keys.RATINGS):
            doomed = [entry_id for entry_id, fields in self.redis.xrange(stream)
                      if fields.get(b"conv", fields.get("conv")) in (target, conversation)]
            removed += int(self.redis.xdel(stream, *doomed)) if doomed else 0
        return removed

    def told(self, conversation: str, position: int, now_ms: Optional[int] = None) -> None:
        """The shopper was just told `position` (a reply to their message): later pushes compare with it."""
        pipe = self.redis.pipeline()
        pipe.hset(keys.told(conversation), mapping={"position": position,
                                                    "at_ms": _now_ms() if now_ms is None else now_ms})
        pipe.expire(keys.told(conversation), TOLD_TTL_SECONDS)
        pipe.execute()

    def due_positions(self, group: str, min_interval_seconds: float, now_ms: Optional[int] = None
                      ) -> list[tuple[str, int]]:
        """(conversation, position) of the shoppers of `group` to tell their new place, now marked told."""
        raw: Sequence[Any] = self._due_positions(
            keys=[keys.waiting(group)],
            args=[keys.PREFIX, _now_ms() if now_ms is None else now_ms, int(min_interval_seconds * 1000)])
        return [(_text(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    def age(self, group: str, step_minutes: float, max_priority: int, now_ms: Optional[int] = None) -> int:
        """Move up the conversations of `group` that waited past each aging step (see _AGE); how many moved."""
        if step_minutes <= 0:
            return 0  # aging switched off
        return int(self._age(keys=[keys.waiting(group)],
                             args=[keys.PREFIX, _now_ms() if now_ms is None else now_ms,
                                   int(step_minutes * 60_000), max(0, min(MAX_PRIORITY, max_priority))]))

    def mean_handling_seconds(self, group: str, default: float) -> float:
        samples = [float(_text(s)) for s in self.redis.lrange(keys.handled(group), 0, -1)]
        return sum(samples) / len(samples) if samples else default

    # -- agents' side ---------------------------------------------------------------------------
    def register(self, profile: AgentProfile) -> None:
        """Record (or update) an agent: their groups and their limit of simultaneous chats."""
        pipe = self.redis.pipeline()
        pipe.hset(keys.agent(profile.agent_id), mapping={
            "name": profile.name, "groups": ",".join(profile.groups), "limit": profile.limit,
            "role": profile.role, "desk": profile.desk,
        })
        pipe.sadd(keys.AGENTS, profile.agent_id)
        pipe.execute()

    def profile(self, agent_id: str) -> Optional[AgentProfile]:
        raw = {_text(k): _text(v) for k, v in self.redis.hgetall(keys.agent(agent_id)).items()}
        if not raw:
            return None
        return AgentProfile(agent_id, raw.get("name", agent_id), tuple(g for g in raw.get("groups", "").split(",") if g),
                            int(raw.get("limit", "0")), raw.get("role", "agent"), raw.get("desk", "console"))

    def agent_ids(self) -> list[str]:
        return sorted(_text(a) for a in self.redis.smembers(keys.AGENTS))

    def chats_of(self, agent_id: str) -> list[str]:
        return sorted(_text(c) for c in self.redis.smembers(keys.chats(agent_id)))

    def claim(self, agent_id: str, conversation: Optional[str] = None, now_ms: Optional[int] = None) -> str:
        """Take `conversation` (or the best one waiting in the agent's groups); raises ClaimRefused."""
        profile = self.profile(agent_id)
        if profile is None:
            raise ClaimRefused("unknown_agent")
        result = self._claim(
            keys=[keys.agent(agent_id), keys.chats(agent_id), keys.alive(agent_id), keys.EVENTS,
                  *(keys.waiting(g) for g in profile.groups)],
            args=[agent_id, _now_ms() if now_ms is None else now_ms, conversation or "", keys.PREFIX],
        )
        status = _text(result[0])
        if status != "ok":
            raise ClaimRefused(status)
        return _text(result[1])

    def transfer_to_group(self, agent_id: str, conversation: str, group: str = "") -> bool:
        """Hand a held chat back to the front of `group`'s queue (its own group when empty)."""
        return bool(self._to_group(keys=[keys.chats(agent_id), keys.EVENTS],
                                   args=[agent_id, keys.PREFIX, conversation, group]))

    def transfer_to_agent(self, agent_id: str, conversation: str, to_agent: str) -> str:
        """Give a held chat to another online agent with room: 'ok', 'not_yours', 'offline' or 'full'."""
        return _text(self._to_agent(
            keys=[keys.chats(agent_id), keys.agent(to_agent), keys.chats(to_agent), keys.alive(to_agent), keys.EVENTS],
            args=[agent_id, to_agent, conversation, keys.PREFIX],
        ))

    def close(self, agent_id: str, conversation: str, resolution: str, now_ms: Optional[int] = None
              ) -> Optional[dict[str, str]]:
        """End an agent's chat: the conversation goes back to the bot. The escalation's fields, or None."""
        raw: Sequence[Any] = self._close(
            keys=[keys.chats(agent_id), keys.escalation(conversation), keys.owner(conversation), keys.EVENTS],
            args=[agent_id, conversation, _now_ms() if now_ms is None else now_ms, resolution, keys.PREFIX, HANDLED_SAMPLES],
        )
        if not raw:
            return None
        return {_text(raw[i]): _text(raw[i + 1]) for i in range(0, len(raw), 2)}

    def requeue_agent(self, agent_id: str, force: bool = False) -> int:
        """Put every chat of an agent whose presence expired (or, forced, who logged out) back at the front."""
        return int(self._requeue_agent(keys=[keys.chats(agent_id), keys.alive(agent_id), keys.EVENTS],
                                       args=[agent_id, keys.PREFIX, "force" if force else ""]))
