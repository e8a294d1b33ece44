"""Internal services are internal: attacks on the action server, Redis and the process list, on the running stack.

Each test performs the attack against the stack `make run` starts and checks it
is refused, and that the rightful path (Rasa calling its actions) still works.
"""
from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from typing import Any, Optional

import psutil
import pytest
import redis

from bot.runtime.secrets_store import NAMES
from tests.conftest import RunningStack

pytestmark = pytest.mark.stack


def forged_action_call(stack: RunningStack, order_no: str, headers: Optional[dict[str, str]] = None
                       ) -> tuple[int, Any]:
    """What an attacker sends: a tracker claiming a verified order, straight to the action server."""
    body = {
        "next_action": "action_handle_order", "sender_id": "attacker", "version": "3.6.21",
        "domain": {}, "tracker": {
            "sender_id": "attacker", "slots": {"verified_order": order_no, "order_id": order_no},
            "latest_message": {"text": "物流", "intent": {"name": "inquire_logistics"}, "entities": []},
            "events": [], "paused": False, "followup_action": None, "active_loop": {},
            "latest_action_name": "order_lookup_form",
        },
    }
    request = urllib.request.Request(f"{stack.stack.actions_url}/webhook", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@pytest.mark.parametrize("headers", [
    None, {"Authorization": "Bearer wrong"}, {"Authorization": "wrong"}, {"Authorization": "Bearer "},
])
def test_forged_tracker_is_refused_by_the_action_server(stack: RunningStack, headers: Optional[dict[str, str]]) -> None:
    status, body = forged_action_call(stack, stack.sample_order.order_no, headers)
    assert status == 401, body
    assert stack.sample_order.order_no not in str(body)


def test_rasa_with_the_secret_is_served(stack: RunningStack) -> None:
    assert stack.stack.secrets is not None
    status, body = forged_action_call(
        stack, stack.sample_order.order_no, {"Authorization": f"Bearer {stack.stack.secrets.actions_token}"})
    assert status == 200 and stack.sample_order.order_no in json.dumps(body, ensure_ascii=False)


def _listening(pid: int) -> set[str]:
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {conn.laddr.ip for proc in tree for conn in proc.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN}


@pytest.mark.parametrize("name", ["actions", "rasa"])
def test_servers_listen_on_loopback_only(stack: RunningStack, name: str) -> None:
    addresses = _listening(stack.stack.processes[name].pid)
    assert addresses and addresses <= {"127.0.0.1", "::1"}, addresses


def test_embedded_redis_requires_its_password(stack: RunningStack) -> None:
    assert stack.stack.redis is not None and stack.stack.redis.embedded
    port = redis.Redis.from_url(stack.stack.redis.url).connection_pool.connection_kwargs["port"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port, password="guess", socket_timeout=5).ping()
    assert redis.Redis.from_url(stack.stack.redis.url).ping()
    assert _listening(stack.stack.redis.process.pid) <= {"127.0.0.1", "::1"}


def test_no_secret_is_on_a_command_line(stack: RunningStack) -> None:
    assert stack.stack.secrets is not None
    secrets = [getattr(stack.stack.secrets, name) for name in NAMES]
    pids = [p.pid for p in stack.stack.processes.values()] + [stack.stack.redis.process.pid]
    for pid in pids:
        for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            cmdline = " ".join(proc.cmdline())
            assert not [s for s in secrets if s in cmdline], f"a secret is in the command line of {proc.pid}"


def test_secret_files_are_private(stack: RunningStack) -> None:
    folder = stack.stack.state_dir / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in NAMES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    conf = stack.stack.state_dir / "redis" / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
