"""Every Redis key of the hand-off, in one place (the Lua scripts in `queue` build the same names from PREFIX).

    shop:handoff:esc:<conversation>    hash   one open escalation: group, priority, reason, state, agent ...
    shop:handoff:wait:<group>          zset   conversations waiting for that skill group, by (priority, time)
    shop:handoff:owner:<conversation>  string who has the conversation: "queued" or "agent:<id>" (absent: the bot)
    shop:handoff:agent:<id>            hash   an agent: name, groups, limit of simultaneous chats, status
    shop:handoff:chats:<id>            set    the conversations an agent holds
    shop:handoff:alive:<id>            string presence heartbeat, expires after the grace period
    shop:handoff:agents                set    every agent id ever seen (the sweep walks it)
    shop:handoff:events                stream escalated / claimed / requeued / transferred / closed / messages
    shop:handoff:handled:<group>       list   recent handling times in seconds (the wait estimate)
    shop:handoff:outbox:<conversation> stream messages for the shopper, read by channels without push
    shop:handoff:outbound              pubsub "a message is waiting in an outbox" for the process holding it
    shop:handoff:ratings               stream satisfaction ratings
    shop:handoff:mood:<conversation>   hash   the running frustration score and the last messages it read
    shop:handoff:told:<conversation>   hash   the queue position a waiting shopper was last told, and when (ms);
                                              deleted with the escalation (claim, close, withdraw, forget)
"""
from __future__ import annotations

PREFIX = "shop:handoff"
AGENTS = f"{PREFIX}:agents"
EVENTS = f"{PREFIX}:events"
OUTBOUND_CHANNEL = f"{PREFIX}:outbound"
RATINGS = f"{PREFIX}:ratings"


def escalation(conversation: str) -> str:
    return f"{PREFIX}:esc:{conversation}"


def waiting(group: str) -> str:
    return f"{PREFIX}:wait:{group}"


def owner(conversation: str) -> str:
    return f"{PREFIX}:owner:{conversation}"


def agent(agent_id: str) -> str:
    return f"{PREFIX}:agent:{agent_id}"


def chats(agent_id: str) -> str:
    return f"{PREFIX}:chats:{agent_id}"


def alive(agent_id: str) -> str:
    return f"{PREFIX}:alive:{agent_id}"


def handled(group: str) -> str:
    return f"{PREFIX}:handled:{group}"


def outbox(conversation: str) -> str:
    return f"{PREFIX}:outbox:{conversation}"


def mood(conversation: str) -> str:
    return f"{PREFIX}:mood:{conversation}"


def told(conversation: str) -> str:
    return f"{PREFIX}:told:{conversation}"
