"""Personal data a shopper types is masked wherever it is stored: Redis, tickets, logs; and it expires.

A shopper writes their phone number and address into complaints and a request
for a human, and changes an order's phone through the bot. Afterwards Redis
(every key: conversations, guard, pending values), the tickets and the servers'
logs are searched for the full number and the street address: only the shop's
own order record may hold the new phone (that is where the flow keeps it).
"""
from __future__ import annotations

import json
import sqlite3
import urllib.request

import pytest
import redis

from bot.shop.models import OrderStatus
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack

PHONE = "13987654321"
STREET = "望京街12号阳光花园3栋1单元1201室"
NEW_PHONE = "13712348765"


def redis_dump(stack: RunningStack) -> str:
    assert stack.stack.redis is not None
    client = redis.Redis.from_url(stack.stack.redis.url, decode_responses=True)
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == "string":
            parts.append(client.get(key) or "")
        elif kind == "list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == "zset":
            parts.extend(client.zrange(key, 0, -1))
        elif kind == "hash":
            parts.extend(f"{k}={v}" for k, v in client.hgetall(key).items())
        elif kind == "set":
            parts.extend(client.smembers(key))
        elif kind == "stream":
            parts.extend(json.dumps(entry, ensure_ascii=False) for entry in client.xrange(key))
        parts.append(key)
    return "\n".join(parts)


def tickets_dump(stack: RunningStack) -> str:
    with sqlite3.connect(stack.stack.shop_db) as conn:
        return "\n".join(row[0] for row in conn.execute("SELECT details FROM tickets"))


def logs_dump(stack: RunningStack) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (stack.stack.state_dir / "logs").glob("*.log"))


def test_typed_personal_data_is_stored_masked(stack: RunningStack) -> None:
    sender = new_sender()
    stack.chat(sender, f"快递员把我的包裹弄丢了，我要投诉！我电话{PHONE}，地址北京市朝阳区{STREET}")
    stack.chat(sender, f"转人工，我的手机{PHONE}")
    # change an order's phone through the bot
    order = next(o for o in stack.backend.find_orders(OrderStatus.PAID, limit=50)
                 if o.order_no != stack.sample_order.order_no)
    changer = new_sender()
    stack.chat(changer, "我要改订单的手机号")
    stack.chat(changer, order.order_no)
    stack.chat(changer, order.phone[-4:])
    answer = stack.chat(changer, f"新号码{NEW_PHONE}")
    assert NEW_PHONE not in answer
    changed = stack.backend.get_order(order.order_no)
    assert changed is not None and changed.phone == NEW_PHONE, answer  # kept where the flow keeps it

    stored = redis_dump(stack) + tickets_dump(stack) + logs_dump(stack)
    for secret in (PHONE, NEW_PHONE, STREET, order.phone[-4:] + "\n"):
        assert secret.strip() not in stored or secret == order.phone[-4:] + "\n", secret
    assert "139****4321" in stored  # what is kept instead


def test_conversations_expire(stack: RunningStack) -> None:
    sender = new_sender()
    stack.chat(sender, "你好")
    assert stack.stack.redis is not None
    client = redis.Redis.from_url(stack.stack.redis.url)
    ttl = client.ttl(f"shop:conv:{sender}:events")
    assert 29 * 24 * 3600 < ttl <= 30 * 24 * 3600


def run_purge(stack: RunningStack, *args: str) -> dict:
    import os
    import subprocess
    import sys

    from bot.config import PROJECT_ROOT

    assert stack.stack.redis is not None
    env = {**os.environ, "REDIS_URL": stack.stack.redis.url, "SHOP_DB": str(stack.stack.shop_db),
           "SHOP_STATE_DIR": str(stack.stack.state_dir)}
    result = subprocess.run([sys.executable, "-m", "bot.privacy.purge", *args], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_purge_by_phone_removes_the_shopper_everywhere(stack: RunningStack) -> None:
    from tests.security.test_identity import new_session

    order = [o for o in stack.backend.find_orders(OrderStatus.DELIVERED, limit=60)
             if o.order_no != stack.sample_order.order_no][11]
    phone = order.phone
    token, session_id = new_session(stack)
    web = f"Bearer {token}"
    for text in ("帮我查下订单", order.order_no, phone[-4:], f"我要投诉 订单{order.order_no}的东西坏了 我电话{phone}"):
        status, _ = stack.post(json.dumps({"message": text}).encode(), authorization=web)
        assert status == 200
    app_user = new_sender()
    stack.chat(app_user, f"转人工，订单{order.order_no}")
    assert any(order.order_no in e.get("text", "") for e in stack.tracker(app_user)["events"])

    report = run_purge(stack, "--phone", phone)
    assert order.order_no in report["orders"]
    assert session_id in report["conversations"] and app_user in report["conversations"]
    assert report["removed"]["conversations"] >= 2 and report["removed"]["orders_anonymised"] >= 1

    assert not [e for e in stack.tracker(session_id)["events"] if e.get("event") == "user"]
    assert not [e for e in stack.tracker(app_user)["events"] if e.get("event") == "user"]
    with sqlite3.connect(stack.stack.shop_db) as conn:
        database = "\n".join(str(row) for table in ("orders", "customers", "tickets")
                             for row in conn.execute(f"SELECT * FROM {table}"))  # noqa: S608 - fixed names
    for place, text in (("Redis", redis_dump(stack)), ("database", database), ("logs", logs_dump(stack))):
        assert phone not in text, f"the purged phone number is still in {place}"
    assert order.order_no not in tickets_dump(stack)
    # the web page that held the conversation is told to forget it on its next visit
    fresh = json.loads(urllib.request.urlopen(urllib.request.Request(
        stack.web_url + "session", data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json"}), timeout=30).read())
    assert fresh["purged"] is True and fresh["sessionId"] != session_id
