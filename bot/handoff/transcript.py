"""Keep everything an agent and a shopper say in the conversation's Rasa tracker, so the transcript is complete.

Inside the Rasa process (the ownership gate) events are appended under Rasa's
own conversation lock; from another process (the agent console, the Telegram
desk) through Rasa's HTTP API (`POST /conversations/<id>/tracker/events`, with
the API token), which takes the same lock. Neither starts a new session, so a
session expiry never hands a conversation back to the bot behind an agent's back.
"""
from __future__ import annotations

import urllib.parse
from typing import Any, Optional, Sequence

import aiohttp
from rasa.shared.core.events import Event


async def append_local(agent: Any, conversation: str, events: Sequence[Event]) -> None:
    """Append `events` to a conversation from inside the Rasa server (`agent` is Rasa's Agent)."""
    async with agent.lock_store.lock(conversation):
        tracker = await agent.processor.get_tracker(conversation)
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)


def agent_message(text: str, agent_id: str, agent_name: str, buttons: Optional[list[dict[str, str]]] = None
                  ) -> dict[str, Any]:
    """A bot event (as JSON) for something an agent said: Rasa shows it as the assistant's turn, marked by agent."""
    data: dict[str, Any] = {"buttons": buttons} if buttons else {}
    return {"event": "bot", "text": text, "data": data, "metadata": {"agent": agent_id, "agent_name": agent_name}}


class RasaTranscript:
    """Append events to conversations through a Rasa server's HTTP API."""

    def __init__(self, rasa_url: str, token: Optional[str], timeout: float = 10) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _url(self, conversation: str, path: str) -> str:
        query = f"?token={urllib.parse.quote(self.token)}" if self.token else ""
        return f"{self.rasa_url}/conversations/{urllib.parse.quote(conversation, safe=':')}/{path}{query}"

    async def append(self, conversation: str, events: list[dict[str, Any]]) -> None:
        async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                session.post(self._url(conversation, "tracker/events"), json=events) as reply:
            if reply.status != 200:
                raise RuntimeError(f"Rasa refused the events ({reply.status}): {await reply.text()}")

    async def tracker(self, conversation: str) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                session.get(self._url(conversation, "tracker")) as reply:
            reply.raise_for_status()
            data: dict[str, Any] = await reply.json()
            return data
