"""Purge one shopper's data on request: by conversation id, phone number or order number.

    .venv/bin/python -m bot.privacy.purge --phone 13812345678       # with `make run` going or not
    .venv/bin/python -m bot.privacy.purge --order 2611038862104557 --conversation 3f2a...

Removes, and reports what it removed:
- the conversations (Redis): the one named, and every conversation that mentions
  one of the shopper's orders (the phone number finds the orders in the shop);
- values waiting outside the transcript (bot.privacy.pending) and the order access
  guard's counters and locks for those orders;
- the tickets of those orders and conversations, and the name, phone and address on
  the orders (the orders stay, blanked: the shop's accounts need them);
- and marks the conversations purged, so the web chat page that held one clears its
  stored history on the next visit (`POST /session` answers `"purged": true`).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Optional

import redis

from bot.config import load_settings
from bot.dialogue.tracker_store import DEFAULT_PREFIX
from bot.guard.order_access import PREFIX as GUARD_PREFIX
from bot.handoff.queue import HandoffQueue
from bot.privacy.pending import PREFIX as PENDING_PREFIX
from bot.privacy.purged import mark_purged
from bot.shop.backend import ShopBackend
from bot.shop.identifiers import ORDER_NO


@dataclass
class PurgeReport:
    conversations: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"conversations": self.conversations, "orders": self.orders, "removed": self.removed}


def _verified_orders(entries: list[str]) -> set[str]:
    """Orders a conversation proved were the shopper's (its verified_order slot)."""
    found = set()
    for raw in entries:
        event = json.loads(raw)
        if event.get("event") == "slot" and event.get("name") == "verified_order" and event.get("value"):
            found.add(str(event["value"]))
    return found


def channel_state_keys(conversation: str) -> list[str]:
    """What the channels keep per conversation for delivery (mail thread with the shopper's address, WeChat's
    numbered options, delivered-outbox marks): their own key functions, so the names live in one place."""
    from bot.handoff.courier import cursor_key
    from connectors.mail.threads import CHANNEL as EMAIL
    from connectors.mail.threads import thread_key
    from connectors.telegram import CHANNEL as TELEGRAM
    from connectors.wechat import CHANNEL as WECHAT
    from connectors.wechat import legacy_delivered_key, menu_key

    return [thread_key(conversation), menu_key(conversation), legacy_delivered_key(conversation),
            *(cursor_key(channel, conversation) for channel in (TELEGRAM, WECHAT, EMAIL))]


def purge(shop: ShopBackend, client: redis.Redis, *, conversation: Optional[str] = None, phone: Optional[str] = None,
          order_no: Optional[str] = None, key_prefix: str = DEFAULT_PREFIX,
          remember_seconds: Optional[int] = None) -> PurgeReport:
    """Remove everything about one shopper; what was removed."""
    orders: set[str] = set()
    if order_no:
        orders |= {m.group(0) for m in ORDER_NO.finditer(order_no)}
    if phone:
        orders |= set(shop.orders_of_phone(phone))
    conversations: set[str] = {conversation} if conversation else set()
    conv_prefix, suffix = f"{key_prefix}:conv:", ":events"
    stored = {key[len(conv_prefix):-len(suffix)]: key
              for key in client.scan_iter(match=f"{conv_prefix}*{suffix}", count=1000)}
    for conv, key in stored.items():
        entries = client.lrange(key, 0, -1)
        if conv in conversations:
            orders |= _verified_orders(entries)
        elif orders and any(number in entry for entry in entries for number in orders):
            conversations.add(conv)
    report = PurgeReport(sorted(conversations), sorted(orders))
    removed = {"conversations": 0, "pending_values": 0, "guard_keys": 0, "handoff_records": 0, "channel_state": 0}
    handoff = HandoffQueue(client)
    remember = remember_seconds or load_settings().session_max_age_seconds
    for conv in conversations:
        removed["conversations"] += int(client.delete(f"{conv_prefix}{conv}{suffix}", f"{conv_prefix}{conv}:epoch") > 0)
        pending = list(client.scan_iter(match=f"{PENDING_PREFIX}:{conv}:*", count=500))
        removed["pending_values"] += int(client.delete(*pending)) if pending else 0
        removed["handoff_records"] += handoff.forget(conv)
        removed["channel_state"] += int(client.delete(*channel_state_keys(conv)))
        mark_purged(client, conv, remember)
    for number in orders:
        keys = [f"{GUARD_PREFIX}:{kind}:order:{number}" for kind in ("lock", "failures")]
        removed["guard_keys"] += int(client.delete(*keys))
    removed.update(shop.forget_customer(sorted(orders), sorted(conversations)))
    report.removed = removed
    return report


def main(argv: Optional[list[str]] = None) -> int:
    from bot.runtime.connection import tool_redis
    from bot.shop import open_backend

    parser = argparse.ArgumentParser(prog="python -m bot.privacy.purge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversation", help="a conversation id (the web chat's session id, a REST sender)")
    parser.add_argument("--phone", help="the shopper's phone number")
    parser.add_argument("--order", help="one of the shopper's order numbers")
    args = parser.parse_args(argv)
    if not (args.conversation or args.phone or args.order):
        parser.error("name the shopper: --conversation, --phone or --order")
    with tool_redis() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        report = purge(open_backend(), client, conversation=args.conversation, phone=args.phone, order_no=args.order)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
