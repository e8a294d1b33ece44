"""Which conversation a mail belongs to, and what the channel keeps per conversation in Redis.

One conversation per sender and thread. A mail that replies to one of our mails
(our Message-IDs carry the conversation: `<re.<hash>.<n>@<our domain>>`) continues
that conversation when it comes from the same address; any other mail belongs to
the thread whose root is the first id of its References (else its In-Reply-To,
else its own Message-ID), and the conversation is `mail:` + a hash of the sender
and that root. So a reply in a thread continues the conversation, a new subject
(a mail replying to nothing) starts a new one, and someone else answering in the
thread gets a conversation of their own.

Keys (all expire with the retention period, `settings.retention_seconds`, or sooner):

    shop:mail:thread:<conversation>  hash    delivery state: the shopper's address, the thread's subject, the last
                                              Message-ID and the References chain to answer in, the numbered
                                              buttons offered last, and an answer SMTP refused until it is sent
                                              ("unsent:<mail id>"); before bot.handoff.courier also the last
                                              outbox id delivered ("delivered", read once as the courier's cursor)
    shop:mail:inbound:<sha256>       string  one received mail (by its Message-ID): "working" while a process
                                              answers it, "done" after (7 days; holds no personal data)

The outbox cursor and the lock that lets one process at a time mail a conversation's
outbox are the shared courier's (bot.handoff.courier, channel CHANNEL); a new thread
sets the cursor to the outbox's current end.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Optional

import redis

from bot.handoff import keys as handoff_keys
from bot.handoff.courier import cursor_key
from connectors.mail.parsing import Inbound

PREFIX = "shop:mail"
CHANNEL = "email"  # the channel's name (connectors.email), as the outbox courier keys it
CONVERSATION_PREFIX = "mail:"
HASH_CHARS = 24
DONE_SECONDS = 7 * 24 * 3600  # a mail answered is remembered this long (a copy delivered again is not answered)
WORKING_SECONDS = 300  # a process that took a mail and died frees it after this long
MAX_CHAIN = 20  # ids in the References of our answers


def thread_key(conversation: str) -> str:
    return f"{PREFIX}:thread:{conversation}"


def inbound_key(mail_id: str) -> str:
    return f"{PREFIX}:inbound:{mail_id}"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()


def conversation_of_root(sender: str, root: str) -> str:
    return CONVERSATION_PREFIX + _hash(sender.lower(), root)[:HASH_CHARS]


def mail_identity(inbound: Inbound, header: bytes) -> str:
    """A received mail's identity (its Message-ID; the header's hash when it has none), as a hash."""
    return _hash("mid", inbound.message_id) if inbound.message_id else _hash("header", header.decode("latin-1"))


def our_message_id(kind: str, conversation: str, unique: str, domain: str) -> str:
    """The Message-ID of a mail we send: it names the conversation, so a reply to it finds it."""
    safe = re.sub(r"[^0-9A-Za-z.-]", "-", unique)[:64] or "0"
    return f"<{kind}.{conversation[len(CONVERSATION_PREFIX):]}.{safe}@{domain}>"


def conversation_in_id(message_id: str, domain: str) -> Optional[str]:
    match = re.fullmatch(rf"<(?:re|agent|bot)\.([0-9a-f]{{{HASH_CHARS}}})\.[^@>]+@{re.escape(domain)}>", message_id,
                         re.IGNORECASE)
    return CONVERSATION_PREFIX + match.group(1).lower() if match else None


def chain(references: tuple[str, ...], message_id: str) -> tuple[str, ...]:
    """References for an answer to a mail with `references` and `message_id`: the root kept, the tail capped."""
    ids = [*references, *([message_id] if message_id else [])]
    if len(ids) > MAX_CHAIN:
        ids = [ids[0], *ids[-(MAX_CHAIN - 1):]]
    return tuple(ids)


@dataclass(frozen=True)
class Thread:
    conversation: str
    address: str
    subject: str
    last_id: str  # the thread's latest Message-ID (the shopper's or ours): what we answer to
    references: tuple[str, ...]
    buttons: tuple[tuple[str, str], ...]  # (what the shopper types, payload) offered last


# Recording a shopper's mail in its thread: keys (the thread, the courier's cursor, the outbox, the owner) and
# arguments (the sender, the mail's Message-ID or "", the References to answer with, the subject, the retention in
# seconds); the thread as it is now and the owner.
_RECEIVE = """
local function receive(thread, cursor, outbox, owner, sender, message_id, refs, subject, retention)
  local new = redis.call('HEXISTS', thread, 'address') == 0
  redis.call('HSET', thread, 'address', sender, 'refs', refs)
  if message_id ~= '' or new then redis.call('HSET', thread, 'last_id', message_id) end
  local current = redis.call('HGET', thread, 'subject')
  if not current or current == '' then redis.call('HSET', thread, 'subject', subject) end
  if new then
    local newest = redis.call('XREVRANGE', outbox, '+', '-', 'COUNT', 1)
    redis.call('SET', cursor, newest[1] and newest[1][1] or '0', 'NX', 'EX', retention)
  else
    redis.call('EXPIRE', cursor, retention)  -- the cursor lives as long as the thread
  end
  redis.call('EXPIRE', thread, retention)
  return {redis.call('HGETALL', thread), redis.call('GET', owner) or ''}
end
"""
# ThreadStore.claim. KEYS: the mail's inbound key, then the four keys of the thread by root and of the conversation
# named in the mail (the root's again when none is); ARGV: the working time, the unsent field, whether to record the
# mail in its thread ("1"/""), then `receive`'s arguments. Returns the state ("done", "working" or "mine"); with
# "mine": which conversation ("root"/"named"), the unsent answer ("" when none), and when recorded the thread and
# the owner.
_CLAIM = _RECEIVE + """
if not redis.call('SET', KEYS[1], 'working', 'NX', 'EX', ARGV[1]) then
  return {redis.call('GET', KEYS[1]) or 'working'}
end
local base, which = 2, 'root'
if KEYS[6] ~= KEYS[2] and redis.call('HGET', KEYS[6], 'address') == ARGV[4] then
  base, which = 6, 'named'
end
local unsent = redis.call('HGET', KEYS[base], ARGV[2])
if unsent or ARGV[3] ~= '1' then return {'mine', which, unsent or ''} end
local recorded = receive(KEYS[base], KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], ARGV[4], ARGV[5], ARGV[6],
                         ARGV[7], ARGV[8])
return {'mine', which, '', recorded[1], recorded[2]}
"""


@dataclass(frozen=True)
class Claim:
    """What `ThreadStore.claim` found."""

    state: str  # "mine" (answer it now), "done" (answered before: mark it seen), "busy" (another process has it)
    conversation: str = ""  # with "mine"
    unsent: Optional[bytes] = None  # with "mine": an answer made earlier that SMTP refused
    thread: Optional[Thread] = None  # with "mine", when the claim recorded the mail in its thread
    agent: Optional[str] = None  # ... and the agent who has the conversation (None: the bot answers)


def _bytes(value: object) -> Optional[bytes]:
    return value if isinstance(value, bytes) else (value.encode() if isinstance(value, str) else None)


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


class ThreadStore:
    """The channel's state in Redis (see the module docstring)."""

    def __init__(self, client: redis.Redis, retention_seconds: int, domain: str) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds
        self.domain = domain
        self._claim = client.register_script(_CLAIM)

    # -- conversations ---------------------------------------------------------------------------------------
    def claim(self, mail_id: str, inbound: Inbound, record: bool = True) -> Claim:
        """Take a received mail to answer, and find its conversation, in one round trip (it is on every
        shopper's wait). A mail answering one of our mails continues that conversation when it comes from the
        thread's address; otherwise (someone else answering in the thread, state expired, no mail of ours
        answered) the thread's root decides.

        With `record` (not for automatic mail, which is never answered) the mail is recorded in its thread in
        the same round trip, unless an answer to it is waiting to be sent: the thread then answers to it and
        to its References, and a new thread starts delivering the outbox from its current end (older messages
        were never for it). Recorded as it arrives, not after earlier mails of the conversation are answered:
        a shopper who answers "2" to the buttons they saw means those, not the ones of an answer they had not
        seen yet."""
        ours = self._named_conversation(inbound)
        root = self._by_root(inbound)
        named = ours or root
        stored = self._claim(
            keys=[inbound_key(mail_id), *self._receive_keys(root), *self._receive_keys(named)],
            args=[WORKING_SECONDS, f"unsent:{mail_id}", "1" if record else "", inbound.sender, inbound.message_id,
                  " ".join(chain(inbound.references, inbound.message_id)), inbound.subject[:300],
                  self.retention_seconds])
        state = _text(stored[0])
        if state != "mine":
            return Claim("done" if state == "done" else "busy")
        conversation = named if _text(stored[1]) == "named" else root
        if len(stored) < 5:
            return Claim("mine", conversation, _bytes(stored[2]) or None)
        thread = self._thread(conversation, dict(zip(stored[3][::2], stored[3][1::2])))
        assert thread is not None  # the script has just written its address
        return Claim("mine", conversation, None, thread, _text(stored[4]) or None)

    @staticmethod
    def _receive_keys(conversation: str) -> list[str]:
        return [thread_key(conversation), cursor_key(CHANNEL, conversation), handoff_keys.outbox(conversation),
                handoff_keys.owner(conversation)]

    def _named_conversation(self, inbound: Inbound) -> Optional[str]:
        """The conversation in the first of our Message-IDs the mail answers (In-Reply-To, then References from
        the newest), if any."""
        for message_id in (*inbound.in_reply_to, *reversed(inbound.references)):
            conversation = conversation_in_id(message_id, self.domain)
            if conversation is not None:
                return conversation
        return None

    @staticmethod
    def _by_root(inbound: Inbound) -> str:
        root = (inbound.references[0] if inbound.references else
                inbound.in_reply_to[0] if inbound.in_reply_to else
                inbound.message_id or f"{inbound.topic}\n{inbound.date}")
        return conversation_of_root(inbound.sender, root)

    def get(self, conversation: str) -> Optional[Thread]:
        return self._thread(conversation, self.redis.hgetall(thread_key(conversation)))

    @staticmethod
    def _thread(conversation: str, stored: dict) -> Optional[Thread]:
        raw = {_text(k): _text(v) for k, v in stored.items()}
        if not raw.get("address"):
            return None
        try:
            buttons = tuple((str(k), str(p)) for k, p in json.loads(raw.get("buttons") or "[]"))
        except (ValueError, TypeError):
            buttons = ()
        return Thread(conversation, raw["address"], raw.get("subject", ""), raw.get("last_id", ""),
                      tuple(raw.get("refs", "").split()), buttons)

    def answered(self, conversation: str, message_id: str, buttons: Optional[list[tuple[str, str]]]) -> None:
        """We sent `message_id` in the thread: the next mail answers to it; `buttons` are the ones it offered
        (None: keep the earlier ones, e.g. an agent's message without buttons)."""
        thread = self.get(conversation)
        if thread is None:
            return
        fields = {"last_id": message_id, "refs": " ".join(chain(thread.references, message_id))}
        if buttons is not None:
            fields["buttons"] = json.dumps(buttons, ensure_ascii=False)
        pipe = self.redis.pipeline()
        pipe.hset(thread_key(conversation), mapping=fields)
        pipe.expire(thread_key(conversation), self.retention_seconds)
        pipe.execute()

    def legacy_delivered(self, conversation: str) -> Optional[str]:
        """The last outbox id mailed, as kept in the thread before the shared courier (None: not kept there)."""
        value = self.redis.hget(thread_key(conversation), "delivered")
        return _text(value) if value is not None else None

    # -- received mails: answered once --------------------------------------------------------------------------
    def release(self, mail_id: str) -> None:
        """Give a mail back (not answered): the next poll takes it again."""
        self.redis.delete(inbound_key(mail_id))

    def finish(self, mail_id: str) -> None:
        pipe = self.redis.pipeline()
        pipe.set(inbound_key(mail_id), "done", ex=DONE_SECONDS)
        pipe.execute()

    def keep_unsent(self, conversation: str, mail_id: str, mail: bytes) -> None:
        """An answer SMTP refused, kept with the thread (purged with it) until it is sent."""
        pipe = self.redis.pipeline()
        pipe.hset(thread_key(conversation), f"unsent:{mail_id}", mail)
        pipe.expire(thread_key(conversation), self.retention_seconds)
        pipe.execute()

    def sent(self, conversation: str, mail_id: str) -> None:
        self.redis.hdel(thread_key(conversation), f"unsent:{mail_id}")
