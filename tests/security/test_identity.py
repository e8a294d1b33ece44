"""The server decides who a shopper is: REST needs an API key or a session token, Socket.IO a session token,
and nobody reads or writes another conversation by naming it. Performed against the running stack."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any, Optional

import pytest
import socketio

from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack


def new_session(stack: RunningStack, token: Optional[str] = None) -> tuple[str, str]:
    """(token, conversation id) from the web chat server, as the page gets them."""
    assert stack.web_url
    request = urllib.request.Request(stack.web_url + "session", data=json.dumps({"token": token}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    return data["token"], data["sessionId"]


def body(sender: Optional[str], message: str) -> bytes:
    return json.dumps({"sender": sender, "message": message} if sender else {"message": message}).encode()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "wrong-key", "Bearer ", "Basic dXNlcjpwYXNz"])
def test_rest_without_a_credential_is_401(stack: RunningStack, authorization: Optional[str]) -> None:
    status, answer = stack.post(body(new_sender(), "你好"), authorization=authorization)
    assert status == 401, answer


def test_a_forged_session_token_is_401(stack: RunningStack) -> None:
    token, _ = new_session(stack)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert stack.post(body(None, "你好"), authorization=f"Bearer {forged}")[0] == 401


def test_a_session_cannot_write_to_another_conversation_over_rest(stack: RunningStack) -> None:
    victim = new_sender()
    stack.chat(victim, "帮我查下订单")
    token, own = new_session(stack)
    status, answer = stack.post(body(victim, "订单到哪了"), authorization=f"Bearer {token}")
    assert status == 403, answer
    status, answer = stack.post(body(None, "你好"), authorization=f"Bearer {token}")
    assert status == 200 and answer and answer[0]["recipient_id"] == own


def test_a_session_token_is_renewed_for_its_own_conversation_only(stack: RunningStack) -> None:
    token, session_id = new_session(stack)
    renewed, same = new_session(stack, token)
    assert same == session_id
    _, other = new_session(stack, "not-a-token")
    assert other != session_id


class Browser:
    """A Socket.IO client as the web chat page is one: the answers it receives, by event."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, Any]] = []
        for event in ("bot_uttered", "session_confirm", "error"):
            self.client.on(event, self._recorder(event))

    def _recorder(self, event: str) -> Any:
        async def record(data: Any = None) -> None:
            self.received.append((event, data))
        return record

    async def connect(self, token: Optional[str]) -> None:
        origin = self.stack.stack.origins[0]
        await self.client.connect(self.stack.rasa_url, headers={"Origin": origin}, transports=["polling"],
                                  socketio_path="/socket.io", auth={"token": token} if token else None,
                                  wait_timeout=5)

    async def say(self, text: str, session_id: Optional[str]) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id})

    async def close(self) -> None:
        """Leave without waiting for the pending long-poll (the server answers it only at its next ping)."""
        for namespace in self.client.namespaces:
            await self.client._send_packet(self.client.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
        await self.client.eio.disconnect(abort=True)

    def texts(self) -> list[str]:
        return [d.get("text", "") for e, d in self.received if e == "bot_uttered" and isinstance(d, dict)]


def socketio_connect_reply(stack: RunningStack, token: Optional[str]) -> str:
    """The server's answer to a Socket.IO CONNECT with `token`, spoken over engine.io's polling transport."""
    base = f"{stack.rasa_url}/socket.io/?EIO=4&transport=polling"
    origin = {"Origin": stack.stack.origins[0]}
    with urllib.request.urlopen(urllib.request.Request(base, headers=origin), timeout=30) as response:
        handshake = json.loads(response.read().decode()[1:])  # "0{...}": engine.io OPEN
    url = f"{base}&sid={handshake['sid']}"
    connect = "40" + (json.dumps({"token": token}) if token is not None else "")
    urllib.request.urlopen(urllib.request.Request(url, data=connect.encode(), headers=origin), timeout=30).read()
    with urllib.request.urlopen(urllib.request.Request(url, headers=origin), timeout=30) as response:
        return response.read().decode()


@pytest.mark.parametrize("token", [None, "", "forged.token.value", "x" * 600])
def test_socketio_without_a_valid_token_is_refused(stack: RunningStack, token: Optional[str]) -> None:
    reply = socketio_connect_reply(stack, token)
    assert reply.startswith("44"), reply  # socket.io CONNECT_ERROR


def test_socketio_with_a_session_token_connects(stack: RunningStack) -> None:
    token, _ = new_session(stack)
    reply = socketio_connect_reply(stack, token)
    assert reply.startswith("40"), reply  # socket.io CONNECT


def test_socketio_cannot_read_or_write_another_conversation(stack: RunningStack) -> None:
    victim_token, victim_id = new_session(stack)
    attacker_token, attacker_id = new_session(stack)

    async def scenario() -> tuple[Browser, Browser]:
        victim, attacker = Browser(stack), Browser(stack)
        await victim.connect(victim_token)
        await attacker.connect(attacker_token)
        # the attacker names the victim's conversation: refused
        await attacker.say("帮我查下订单", victim_id)
        # the victim talks; only the victim's connection hears the answers
        await victim.say("小米的手环多少钱", victim_id)
        for _ in range(300):
            if victim.texts():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        await victim.close()
        await attacker.close()
        return victim, attacker

    victim, attacker = asyncio.run(scenario())
    assert victim.texts(), "the rightful shopper gets the answer"
    assert not attacker.texts(), "the attacker heard another conversation"
    assert [e for e, _ in attacker.received if e == "error"], "the forged message was not refused"
    events = [e for e in stack.tracker(victim_id)["events"] if e.get("event") == "user"]
    assert [e["text"] for e in events] == ["小米的手环多少钱"]


def test_socketio_bad_input_gets_an_error_not_a_crash(stack: RunningStack) -> None:
    token, session_id = new_session(stack)

    async def scenario() -> Browser:
        browser = Browser(stack)
        await browser.connect(token)
        client = browser.client
        await client.emit("user_uttered", {"message": "hi", "session_id": session_id,
                                           "metadata": {"x": "a" * 10_000}})  # oversized metadata
        await client.emit("user_uttered", {"message": "hi", "session_id": session_id,
                                           "metadata": json.dumps({"a": [[[[[[[[[[[]]]]]]]]]]]})})  # too deep
        await client.emit("user_uttered", {"message": ["not", "text"], "session_id": session_id})
        await client.emit("user_uttered", "not an object")
        await client.emit("user_uttered", {"message": "\u200b", "session_id": session_id})  # invisible only
        await client.emit("user_uttered", {"message": "你好", "session_id": session_id})  # still served
        for _ in range(300):
            if any("小蜜" in t or "您好" in t for t in browser.texts()):
                break
            await asyncio.sleep(0.1)
        await browser.close()
        return browser

    browser = asyncio.run(scenario())
    errors = [d for e, d in browser.received if e == "error"]
    assert len(errors) >= 3, browser.received
    assert any("有什么可以帮您" in t for t in browser.texts())  # the invisible message got a prompt
    assert any("小蜜" in t or "您好" in t for t in browser.texts())  # and the greeting its answer
