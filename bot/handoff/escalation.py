"""Handing a conversation to a human: which group, what priority, queue or message, and what the shopper is told.

The rules (fallbacks, sensitive intents, refund amount, complaint severity,
priorities, routing of intents to skill groups) come from `triggers.yml`, the one
file every trigger and threshold lives in. In working hours the conversation
joins its group's queue and the shopper learns their position and the expected
wait; outside them nobody is queued: a callback ticket is left for the next
working day (`leave_message`), and the shopper is told when an agent will reply.
Working hours are those of the conversation's channel (`hours`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Optional

import yaml

from bot.handoff.frustration import TRIGGERS_FILE
from bot.handoff.hours import agents_on_duty, hours_text
from bot.handoff.leave_message import request_handoff
from bot.handoff.presence import Status, status_of
from bot.handoff.queue import Escalation, HandoffQueue
from bot.shop.backend import ShopBackend

GROUP_NAMES = {"presales": "售前", "orders": "订单物流", "aftersales": "售后", "complaints": "投诉"}
LEAVE_MESSAGE_PAYLOAD = "/leave_message"
# Intents that name no topic: the skill group comes from the conversation's latest other intent.
GENERIC_INTENTS = frozenset({"nlu_fallback", "request_human", "affirm", "deny", "inform", "thank", "stop", "greet",
                             "goodbye", "out_of_scope", "bot_challenge", "rate_service"})


@dataclass(frozen=True)
class EscalationRules:
    fallbacks_in_a_row: int
    sensitive_intents: frozenset[str]
    refund_amount_over: float
    complaint_severities: frozenset[str]
    low_rating_at_most: int
    priorities: dict[str, int]
    vip_bonus: int
    default_group: str
    group_of_intent: dict[str, str]

    @classmethod
    def from_file(cls, path: Any = TRIGGERS_FILE) -> EscalationRules:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules, routing = data["escalation"], data["routing"]
        return cls(
            int(rules["fallbacks_in_a_row"]), frozenset(rules["sensitive_intents"]),
            float(rules["refund_amount_over"]), frozenset(rules["complaint_severities"]),
            int(rules["low_rating_at_most"]), {k: int(v) for k, v in rules["priorities"].items()},
            int(rules["vip_bonus"]), str(routing["default_group"]),
            {intent: group for group, intents in routing["groups"].items() for intent in intents},
        )

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(sorted({self.default_group, *self.group_of_intent.values()}))

    def group_for(self, intent: Optional[str]) -> str:
        return self.group_of_intent.get(intent or "", self.default_group)

    def priority_for(self, reason: str, vip: bool = False) -> int:
        return self.priorities.get(reason, 0) + (self.vip_bonus if vip else 0)


@cache
def escalation_rules() -> EscalationRules:
    return EscalationRules.from_file()


@dataclass(frozen=True)
class QueueRules:
    """How waiting changes a place in the queue, and how often a waiting shopper hears about it."""

    priority_aging_minutes: float  # one priority band up per this many minutes waited (0: no aging)
    priority_aging_max: int  # aging lifts no conversation above this priority
    position_update_seconds: float  # at least this long between two pushed position updates to one shopper

    @classmethod
    def from_file(cls, path: Any = TRIGGERS_FILE) -> QueueRules:
        rules = yaml.safe_load(path.read_text(encoding="utf-8"))["queue"]
        return cls(float(rules["priority_aging_minutes"]), int(rules["priority_aging_max"]),
                   float(rules["position_update_seconds"]))


@cache
def queue_rules() -> QueueRules:
    return QueueRules.from_file()


@dataclass(frozen=True)
class Outcome:
    """What became of an escalation, and what to tell the shopper."""

    queued: bool  # in a live queue (else a ticket for the next working day)
    group: str
    position: Optional[int] = None
    wait_seconds: Optional[float] = None
    ticket_no: Optional[str] = None
    next_opening: str = ""
    offer_message: bool = False  # the wait is long: offer to leave a message instead
    channel: str = ""  # the shopper's channel: its working hours are the ones stated

    def shopper_text(self) -> str:
        if not self.queued and not self.next_opening:  # in working hours, but live chat is off
            return f"已为您登记人工服务，工单号：{self.ticket_no}。客服会尽快联系您，回复会发到这里。"
        if not self.queued:
            return (f"已为您登记人工服务，工单号：{self.ticket_no}。现在是非工作时间（人工客服{hours_text(self.channel)}，"
                    f"法定节假日休息），客服{self.next_opening}上班后第一时间回复您。您也可以先把问题留言给我，会一并转给客服。")
        return f"正在为您转接{GROUP_NAMES.get(self.group, '')}人工客服，{queue_status_text(self.position, self.wait_seconds)}"

    def buttons(self) -> list[dict[str, str]]:
        return [{"title": "留言，客服稍后回复", "payload": LEAVE_MESSAGE_PAYLOAD}] if self.offer_message else []


def queue_status_text(position: Optional[int], wait_seconds: Optional[float]) -> str:
    """您前面还有 2 位，预计等待约 3 分钟。"""
    if not position:
        return "客服马上就到。"
    ahead = "您是下一位" if position == 1 else f"您前面还有 {position - 1} 位"
    minutes = max(1, math.ceil((wait_seconds or 0) / 60))
    return f"{ahead}，预计等待约 {minutes} 分钟。"


def agents_online(queue: HandoffQueue, group: str) -> int:
    """Agents of `group` whose console or desk is connected (online or away)."""
    count = 0
    for agent_id in queue.agent_ids():
        profile = queue.profile(agent_id)
        if profile and group in profile.groups and status_of(queue.redis, agent_id) is not Status.OFFLINE:
            count += 1
    return count


def estimated_wait(queue: HandoffQueue, group: str, position: int, default_handling: float) -> float:
    """position x recent mean handling time / agents of the group online (seconds)."""
    return position * queue.mean_handling_seconds(group, default_handling) / max(1, agents_online(queue, group))


def escalate(queue: HandoffQueue, backend: ShopBackend, conversation: str, reason: str, *,
             intent: Optional[str] = None, channel: str = "", frustration: float = 0.0, vip: bool = False,
             details: Optional[dict[str, Any]] = None, max_wait_seconds: float = 300,
             default_handling_seconds: float = 240, at: Optional[datetime] = None,
             rules: Optional[EscalationRules] = None, hours: str = "calendar") -> Outcome:
    """Queue the conversation for its skill group in its channel's working hours, else leave a callback ticket.

    `hours`: "calendar" follows the channel's working hours and holidays, "always" queues at any time (a 24/7
    team), "never" only leaves tickets (live chat switched off)."""
    rules = rules or escalation_rules()
    group = rules.group_for(intent)
    details = details or {}
    on_duty = {"always": True, "never": False}.get(hours)
    if not (agents_on_duty(at, channel) if on_duty is None else on_duty):
        handoff = request_handoff(backend, conversation, reason=reason, channel=channel,
                                  last_message=str(details.get("last_message", "")),
                                  order_no=details.get("order_no"), at=at)
        return Outcome(False, group, ticket_no=handoff.ticket.ticket_no, next_opening=handoff.next_opening,
                       channel=channel)
    placement = queue.enqueue(Escalation(conversation, group, reason, rules.priority_for(reason, vip), channel,
                                         frustration, details))
    position = placement.position
    if position and not placement.queued:
        queue.told(conversation, position)  # already waiting: told again below (a new enqueue records it itself)
    wait = estimated_wait(queue, group, position, default_handling_seconds) if position else None
    return Outcome(True, group, position, wait, offer_message=bool(wait and wait > max_wait_seconds), channel=channel)
