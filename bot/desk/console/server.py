"""The agents' web console: a Sanic app with a login, a live queue over a websocket, and the agent's actions.

Run::

    python -m bot.desk.console.server --port 8090 [--host 127.0.0.1]

Settings come from bot.config: REDIS_URL (the hand-off queue), Rasa's HTTP API at
http://127.0.0.1:{RASA_PORT} with SHOP_RASA_API_TOKEN (transcripts), SHOP_DB (the
shop backend, for the order an agent sees), SHOP_SESSION_KEY (signs the login
cookie, with a salt of its own) and the HANDOFF_* timings. Accounts live in
`<state_dir>/agents.json` (`python -m bot.desk.accounts`).

How it works:

- `POST /login` checks the password (`bot.desk.accounts`) and sets an HttpOnly,
  SameSite=Strict cookie naming a server-side session in Redis, so `POST /logout`
  really ends it. Every state-changing request (and the websocket) must come
  with an Origin of this very host: SameSite plus the Origin check keep other
  sites from acting for a logged-in agent;
- `/ws`, one per open console tab: while one is open the process renews the
  agent's presence (`bot.handoff.presence.heartbeat`). A dropped socket is not a
  logout: the presence just runs out after the grace and the sweep puts the
  agent's chats back in the queue;
- one task follows the hand-off event stream and pushes a fresh board (waiting
  conversations, the agent's chats, for supervisors every agent) to every tab,
  and the shopper's messages and notes to the agent holding the chat;
- one task sweeps (`bot.handoff.dispatch.sweep`) every HANDOFF_SWEEP_SECONDS;
  every assignment, from there or from a dispatch after a status change, a
  transfer or a close, is started with `AgentDesk.started` and pushed to the
  agent's tabs with its context;
- every action goes through `bot.handoff.desk.AgentDesk`; this module never
  writes the queue's keys.

Shopper and agent text reaches the page as JSON and is put in the DOM as text only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
import yaml
from itsdangerous import BadData, URLSafeTimedSerializer
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import load_settings
from bot.desk.accounts import Account, AccountStore, ensure_admin
from bot.handoff import keys
from bot.handoff.desk import RESOLUTIONS, AgentDesk, event_fields
from bot.handoff.dispatch import Assignment, sweep
from bot.handoff.escalation import GROUP_NAMES, escalation_rules
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, go_offline, heartbeat, status_of
from bot.handoff.queue import ClaimRefused, HandoffQueue
from bot.handoff.transcript import RasaTranscript
from bot.privacy.logs import install_masking
from bot.shop import open_backend
from bot.shop.backend import ShopBackend

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_FILE = STATIC_DIR / "index.html"
CANNED_FILE = Path(__file__).resolve().parent / "canned_replies.yml"
APP_NAME_PREFIX = "shop_console"
_app_counter = itertools.count(1)

COOKIE = "desk_session"
LOGIN_SALT = "shop-desk-console-login"  # not the web chat's: a shopper token is never an agent cookie
SESSION_MAX_AGE_SECONDS = 12 * 3600  # one long shift
SESSION_KEY_PREFIX = "shop:desk:session"  # shop:desk:session:<id> -> login, expires with the cookie
LOGIN_FAILURES_ALLOWED = 5  # per address and login in LOGIN_FAILURE_WINDOW
LOGIN_FAILURE_WINDOW = 300.0
MAX_TEXT_CHARS = 2000  # an agent's message or note
MAX_WS_MESSAGE_BYTES = 16 * 1024
BOARD_REFRESH_SECONDS = 5.0  # a fresh board even without events (presence changes make none)
WAITING_SHOWN = 50  # per group

# Our own script and styles only; the socket goes back to this host.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

REFUSALS = {
    "offline": "您当前不在线，请先切换到「在线」。",
    "away": "您当前为「离开」状态，请先切换到「在线」再接入。",
    "full": "已达到同时接待上限，请先结束一些会话。",
    "none": "队列中没有可接入的会话（或该会话已被他人接入）。",
    "unknown_agent": "账号未登记，请重新登录。",
    "not_yours": "该会话已不在您名下。",
}


def load_canned_replies(path: Path = CANNED_FILE) -> list[dict[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [{"title": str(item["title"]), "text": str(item["text"])} for item in data.get("replies", [])]


def same_origin(request: Request) -> bool:
    """Whether the request's Origin is this host (a browser always sends it on POST and websockets)."""
    origin = request.headers.get("origin", "")
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == request.host


def _ms_of(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


@dataclass(eq=False)  # a tab is itself, whatever it holds
class Tab:
    """One open console tab (websocket) of a logged-in agent."""

    ws: Any
    account: Account
    session: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: dict[str, Any]) -> None:
        try:
            async with self.lock:
                await self.ws.send(json.dumps(message, ensure_ascii=False))
        except Exception:  # the tab went away; its own handler cleans up
            logger.debug("could not push to a console tab", exc_info=True)


class Console:
    """What the console process shares between requests: the queue, the desk, and the open tabs."""

    def __init__(self, queue: HandoffQueue, desk: AgentDesk, accounts: AccountStore, events: aioredis.Redis,
                 session_key: str, grace_seconds: float, sweep_seconds: float) -> None:
        self.queue = queue
        self.desk = desk
        self.accounts = accounts
        self.events = events
        self.grace_seconds = grace_seconds
        self.sweep_seconds = sweep_seconds
        self.heartbeat_seconds = max(0.5, min(5.0, grace_seconds / 4))
        self.cookies = URLSafeTimedSerializer(session_key, salt=LOGIN_SALT)
        self.tabs: dict[str, set[Tab]] = {}
        self.status: dict[str, Status] = {}
        self.groups = escalation_rules().groups
        self.canned = load_canned_replies()
        self.board_changed = asyncio.Event()
        # One dispatch at a time in this process: two at once would both see the same agent as least busy.
        self.dispatching = asyncio.Lock()
        self.failures: dict[tuple[str, str], list[float]] = {}

    # -- sessions ---------------------------------------------------------------------------------
    def login(self, login: str, password: str, address: str) -> Optional[str]:
        """A cookie value when the password is right, else None (and the failure counts)."""
        key = (address, login)
        now = time.monotonic()
        recent = [t for t in self.failures.get(key, []) if now - t < LOGIN_FAILURE_WINDOW]
        if len(recent) >= LOGIN_FAILURES_ALLOWED:
            raise PermissionError("too many failures")
        account = self.accounts.verify(login, password)
        if account is None:
            self.failures[key] = [*recent, now]
            return None
        self.failures.pop(key, None)
        session = secrets.token_urlsafe(24)
        self.queue.redis.set(f"{SESSION_KEY_PREFIX}:{session}", account.login, ex=SESSION_MAX_AGE_SECONDS)
        return str(self.cookies.dumps({"l": account.login, "s": account.stamp, "id": session}))

    def who(self, request: Request) -> Optional[tuple[Account, str]]:
        """The logged-in account and its session id, from the cookie (None when absent, forged, expired or ended)."""
        token = request.cookies.get(COOKIE)
        if not token or len(token) > 1024:
            return None
        try:
            data = self.cookies.loads(token, max_age=SESSION_MAX_AGE_SECONDS)
        except BadData:
            return None
        if not isinstance(data, dict):
            return None
        account = self.accounts.get(str(data.get("l")))
        if account is None or not hmac.compare_digest(account.stamp, str(data.get("s"))):
            return None  # removed, or the password changed since
        session = str(data.get("id"))
        if self.queue.redis.get(f"{SESSION_KEY_PREFIX}:{session}") != account.login.encode():
            return None  # logged out
        return account, session

    async def logout(self, account: Account, session: str) -> int:
        """End the session and the agent's presence: their chats go back to the queue at once."""
        self.queue.redis.delete(f"{SESSION_KEY_PREFIX}:{session}")
        self.status.pop(account.login, None)
        for tab in list(self.tabs.get(account.login, ())):
            with contextlib.suppress(Exception):
                await tab.ws.close(4401, "logged out")
        requeued = go_offline(self.queue, account.login)
        self.board_changed.set()
        await self.dispatch()
        return requeued

    # -- pushing ----------------------------------------------------------------------------------
    async def push(self, agent_id: str, message: dict[str, Any]) -> None:
        for tab in list(self.tabs.get(agent_id, ())):
            await tab.send(message)

    def board(self) -> dict[str, Any]:
        """Everything every tab's view is cut from: waiting conversations, agents and their chats (blocking)."""
        now_ms = int(time.time() * 1000)
        waiting: dict[str, list[dict[str, Any]]] = {}
        for group in self.groups:
            items = []
            for position, conversation in enumerate(self.queue.waiting(group, WAITING_SHOWN), start=1):
                esc = self.queue.escalation(conversation)
                if esc:
                    items.append({**summary(esc), "position": position})
            waiting[group] = items
        lengths = {group: self.queue.queue_length(group) for group in self.groups}
        agents = []
        for agent_id in self.queue.agent_ids():
            profile = self.queue.profile(agent_id)
            if profile is None:
                continue
            chats = [summary({"conv": c, **self.queue.escalation(c)}) for c in self.queue.chats_of(agent_id)]
            agents.append({"id": agent_id, "name": profile.name, "groups": list(profile.groups),
                           "limit": profile.limit, "role": profile.role, "desk": profile.desk,
                           "status": status_of(self.queue.redis, agent_id).value, "chats": chats})
        return {"now_ms": now_ms, "waiting": waiting, "lengths": lengths, "agents": agents}

    def view(self, board: dict[str, Any], account: Account) -> dict[str, Any]:
        """One agent's cut of the board: their groups' queues and their chats; supervisors see everything."""
        groups = self.groups if account.supervisor else tuple(g for g in account.groups if g in self.groups)
        me = next((a for a in board["agents"] if a["id"] == account.login), None)
        message: dict[str, Any] = {
            "type": "board", "now_ms": board["now_ms"],
            "waiting": {g: board["waiting"][g] for g in groups},
            "mine": me["chats"] if me else [],
            "status": self.status.get(account.login, Status.OFFLINE).value,
            # transfer targets: who else is there, without what they hold
            "agents": [{k: a[k] for k in ("id", "name", "groups", "status", "limit")} | {"load": len(a["chats"])}
                       for a in board["agents"] if a["id"] != account.login],
        }
        if account.supervisor:
            message["supervisor"] = {
                "groups": [{"group": g, "length": board["lengths"][g],
                            "longest_ms": max((board["now_ms"] - w["enqueued_ms"] for w in board["waiting"][g]),
                                              default=0)} for g in self.groups],
                "agents": board["agents"],
            }
        return message

    async def publish_board(self) -> None:
        if not any(self.tabs.values()):
            return
        board = await asyncio.to_thread(self.board)
        for tabs in list(self.tabs.values()):
            for tab in list(tabs):
                await tab.send(self.view(board, tab.account))

    async def send_context(self, agent_id: str, conversation: str, tab: Optional[Tab] = None) -> None:
        """The conversation's context to one tab, or to every tab of the agent."""
        message: dict[str, Any] = {"type": "context", "conv": conversation}
        try:
            message["context"] = asdict(await self.desk.context(agent_id, conversation))
        except Exception:
            logger.warning("could not read the context of a conversation", exc_info=True)
            message["context"] = {"conversation": conversation, "escalation": self.queue.escalation(conversation),
                                  "channel": "", "transcript": [], "slots": {}, "order": None, "tickets": []}
            message["warning"] = "暂时无法读取对话记录，请稍后点击「刷新资料」。"
        if tab is not None:
            await tab.send(message)
        else:
            await self.push(agent_id, message)

    # -- assignments --------------------------------------------------------------------------------
    async def start_chat(self, assignment: Assignment) -> None:
        """A dispatch gave an agent a chat: greet the shopper, pause the bot, show it to the agent."""
        profile = self.queue.profile(assignment.agent_id)
        name = profile.name if profile else assignment.agent_id
        try:
            await self.desk.started(assignment.conversation, assignment.agent_id, name)
        except Exception:  # the chat is theirs all the same; the agent greets the shopper themselves
            logger.warning("could not greet the shopper of a new chat", exc_info=True)
        if assignment.agent_id in self.tabs:
            await self.push(assignment.agent_id, {"type": "assigned", "conv": assignment.conversation})
            await self.send_context(assignment.agent_id, assignment.conversation)
        self.board_changed.set()

    async def dispatch(self) -> None:
        async with self.dispatching:
            done = await asyncio.to_thread(self.desk.dispatch)
        for assignment in done.assigned:
            await self.start_chat(assignment)
        await self.desk.keep_positions(done.told)

    # -- background tasks ---------------------------------------------------------------------------
    async def keep_present(self) -> None:
        """Renew the presence of every agent with an open tab."""
        while True:
            for agent_id, tabs in list(self.tabs.items()):
                if tabs:
                    try:
                        heartbeat(self.queue.redis, agent_id, self.status.get(agent_id, Status.ONLINE),
                                  self.grace_seconds)
                    except redis.RedisError:
                        logger.warning("could not renew an agent's presence", exc_info=True)
            await asyncio.sleep(self.heartbeat_seconds)

    async def keep_sweeping(self) -> None:
        while True:
            try:
                async with self.dispatching:
                    done = await asyncio.to_thread(sweep, self.queue)
                if done.requeued:
                    logger.info("sweep: %d chats of absent agents back in the queue", done.requeued)
                    self.board_changed.set()
                for assignment in done.assigned:
                    await self.start_chat(assignment)
                await self.desk.keep_positions(done.told)
            except redis.RedisError:
                logger.warning("sweep failed", exc_info=True)
            except Exception:  # a bug in one round must not end the upkeep for good
                logger.exception("sweep failed")
            await asyncio.sleep(self.sweep_seconds)

    async def follow_events(self) -> None:
        """Read the hand-off event stream and push what changed."""
        last = "$"
        while True:
            try:
                reply = await self.events.xread({keys.EVENTS: last}, count=200, block=5000)
            except (redis.RedisError, OSError):
                logger.warning("lost the hand-off event stream; reconnecting", exc_info=True)
                await asyncio.sleep(1)
                continue
            for _stream, entries in reply or []:
                for raw_id, raw in entries:
                    last = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                    try:
                        await self.on_event(last, event_fields(raw))
                    except Exception:
                        logger.exception("could not handle a hand-off event")

    async def on_event(self, entry_id: str, event: dict[str, str]) -> None:
        kind, conversation = event.get("type", ""), event.get("conv", "")
        if kind in ("shopper_message", "note"):
            holder = self.queue.escalation(conversation).get("agent") or event.get("agent", "")
            if holder in self.tabs:
                message = {"type": "message", "conv": conversation, "at": _ms_of(entry_id), "text": event.get("text", "")}
                if kind == "note":
                    message |= {"from": "note", "agent": event.get("agent", "")}
                else:
                    message |= {"from": "shopper"}
                await self.push(holder, message)
            if kind == "note":
                return
        if kind == "escalated":
            await self.dispatch()
        self.board_changed.set()

    async def publish_boards(self) -> None:
        """Push a board to every tab when something changed (coalesced), and every few seconds anyway."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.board_changed.wait(), BOARD_REFRESH_SECONDS)
            await asyncio.sleep(0.1)  # let a burst of events settle into one board
            self.board_changed.clear()
            try:
                await self.publish_board()
            except redis.RedisError:
                logger.warning("could not build the board", exc_info=True)

    # -- one tab's requests -------------------------------------------------------------------------
    async def handle(self, tab: Tab, message: dict[str, Any]) -> None:
        """One action from a tab; errors go back to that tab as a Chinese message."""
        account = tab.account
        agent_id, kind = account.login, message.get("type")
        conversation = str(message.get("conv") or "")
        if kind == "status":
            if message.get("status") not in (Status.ONLINE.value, Status.AWAY.value):
                raise ValueError("状态只能是在线或离开；要下线请点击「退出登录」。")
            status = Status(message["status"])
            self.status[agent_id] = status
            heartbeat(self.queue.redis, agent_id, status, self.grace_seconds)
            self.board_changed.set()
            if status is Status.ONLINE:
                await self.dispatch()
        elif kind == "claim":
            try:
                taken = await self.desk.claim(agent_id, account.name, conversation or None)
            except ClaimRefused as refused:
                raise ValueError(REFUSALS.get(refused.reason, refused.reason)) from None
            await self.push(agent_id, {"type": "assigned", "conv": taken})
            await self.send_context(agent_id, taken)
            self.board_changed.set()
        elif kind == "context":
            self._check_holds(agent_id, conversation)
            await self.send_context(agent_id, conversation, tab)
        elif kind in ("send", "note"):
            text = str(message.get("text") or "").strip()
            if not text:
                raise ValueError("内容不能为空。")
            if len(text) > MAX_TEXT_CHARS:
                raise ValueError(f"内容太长了（最多 {MAX_TEXT_CHARS} 字）。")
            try:
                if kind == "send":
                    await self.desk.send(agent_id, account.name, conversation, text)
                    await self.push(agent_id, {"type": "message", "conv": conversation, "from": "agent",
                                               "agent": account.name, "text": text, "at": int(time.time() * 1000)})
                else:
                    self.desk.note(agent_id, conversation, text)  # comes back through the event stream
            except PermissionError:
                raise ValueError(REFUSALS["not_yours"]) from None
        elif kind == "transfer":
            await self.transfer(account, conversation, message)
        elif kind == "close":
            resolution = str(message.get("resolution") or "")
            if resolution not in RESOLUTIONS:
                raise ValueError("请选择结束原因。")
            if not await self.desk.close(agent_id, conversation, resolution):
                raise ValueError(REFUSALS["not_yours"])
            await self.push(agent_id, {"type": "released", "conv": conversation, "why": "closed"})
            self.board_changed.set()
            await self.dispatch()
        else:
            raise ValueError("无法识别的操作。")

    async def transfer(self, account: Account, conversation: str, message: dict[str, Any]) -> None:
        agent_id = account.login
        if message.get("agent"):
            to_agent = str(message["agent"])
            if to_agent == agent_id:
                raise ValueError("不能转接给自己。")
            result = self.desk.transfer_to_agent(agent_id, conversation, to_agent)
            if result != "ok":
                raise ValueError({"offline": "对方不在线。", "full": "对方已达到接待上限。"}.get(
                    result, REFUSALS.get(result, result)))
            await self.push(agent_id, {"type": "released", "conv": conversation, "why": "transferred"})
            if to_agent in self.tabs:
                await self.push(to_agent, {"type": "assigned", "conv": conversation, "from": account.name})
                await self.send_context(to_agent, conversation)
        else:
            group = str(message.get("group") or "")
            if group not in self.groups:
                raise ValueError("请选择要转接的技能组。")
            if not self.desk.transfer_to_group(agent_id, conversation, group):
                raise ValueError(REFUSALS["not_yours"])
            await self.push(agent_id, {"type": "released", "conv": conversation, "why": "transferred"})
            await self.dispatch()
        self.board_changed.set()

    def _check_holds(self, agent_id: str, conversation: str) -> None:
        if conversation not in self.queue.chats_of(agent_id):
            raise ValueError(REFUSALS["not_yours"])

    async def opened(self, tab: Tab) -> None:
        """A tab connected: register the agent, keep their status (online unless they were away), greet the tab."""
        account = tab.account
        self.queue.register(account.profile())
        if not self.tabs.get(account.login):  # the first tab: back within the grace as away stays away
            previous = status_of(self.queue.redis, account.login)
            self.status[account.login] = Status.AWAY if previous is Status.AWAY else Status.ONLINE
        self.tabs.setdefault(account.login, set()).add(tab)
        logger.info("console tab opened by %s (%d open)", account.login, len(self.tabs[account.login]))
        status = self.status[account.login]
        heartbeat(self.queue.redis, account.login, status, self.grace_seconds)
        await tab.send({
            "type": "hello",
            "me": {"id": account.login, "name": account.name, "role": account.role, "groups": list(account.groups),
                   "limit": account.limit},
            "groups": [{"id": g, "name": GROUP_NAMES.get(g, g)} for g in self.groups],
            "resolutions": list(RESOLUTIONS), "canned": self.canned,
        })
        await tab.send(self.view(await asyncio.to_thread(self.board), account))
        for conversation in self.queue.chats_of(account.login):  # after a reload or a dropped socket
            await self.send_context(account.login, conversation, tab)
        if status is Status.ONLINE:
            await self.dispatch()

    def closed(self, tab: Tab) -> None:
        """A tab went away. Not a logout: presence runs out after the grace unless another tab is open."""
        tabs = self.tabs.get(tab.account.login, set())
        tabs.discard(tab)
        logger.info("console tab closed by %s (%d open)", tab.account.login, len(tabs))
        if not tabs:
            self.tabs.pop(tab.account.login, None)


def summary(esc: dict[str, str]) -> dict[str, Any]:
    """What a list shows of an escalation: group, reason, priority, channel, time, the shopper's last words."""
    try:
        details = json.loads(esc.get("details") or "{}")
    except ValueError:
        details = {}
    return {
        "conv": esc.get("conv", ""), "group": esc.get("group", ""), "reason": esc.get("reason", ""),
        "priority": int(esc.get("priority") or 0), "channel": esc.get("channel", ""),
        "frustration": float(esc.get("frustration") or 0), "enqueued_ms": int(esc.get("enqueued_ms") or 0),
        "claimed_ms": int(esc.get("claimed_ms") or 0), "requeued": int(esc.get("requeued") or 0),
        "preview": str(details.get("last_message") or "")[:120] if isinstance(details, dict) else "",
    }


def _no_cache(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _json_body(request: Request) -> dict[str, Any]:
    if len(request.body or b"") > 4096:
        return {}
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def console_blueprint() -> Blueprint:
    bp = Blueprint("console")

    def console_of(request: Request) -> Console:
        console: Console = request.app.ctx.console
        return console

    @bp.get("/")
    async def index(_: Request) -> HTTPResponse:
        return _no_cache(response.html(INDEX_FILE.read_text(encoding="utf-8")))

    @bp.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @bp.get("/me")
    async def me(request: Request) -> HTTPResponse:
        found = console_of(request).who(request)
        if found is None:
            return _no_cache(response.json({"error": "login_required"}, status=401))
        account = found[0]
        return _no_cache(response.json({"id": account.login, "name": account.name, "role": account.role,
                                        "groups": list(account.groups)}, ensure_ascii=False))

    @bp.post("/login")
    async def login(request: Request) -> HTTPResponse:
        if not same_origin(request):
            return response.json({"error": "forbidden", "message": "跨站请求已拒绝"}, status=403)
        body = _json_body(request)
        user, password = str(body.get("login") or "").strip().lower(), str(body.get("password") or "")
        try:
            cookie = await asyncio.to_thread(console_of(request).login, user, password, request.ip or "")
        except PermissionError:
            return response.json({"error": "too_many_attempts", "message": "尝试次数过多，请 5 分钟后再试"}, status=429)
        if cookie is None:
            return response.json({"error": "bad_credentials", "message": "登录名或密码错误"}, status=401)
        resp = _no_cache(response.json({"ok": True}))
        resp.cookies[COOKIE] = cookie
        resp.cookies[COOKIE]["httponly"] = True
        resp.cookies[COOKIE]["samesite"] = "Strict"
        resp.cookies[COOKIE]["max-age"] = SESSION_MAX_AGE_SECONDS
        resp.cookies[COOKIE]["secure"] = request.scheme == "https"
        return resp

    @bp.post("/logout")
    async def logout(request: Request) -> HTTPResponse:
        if not same_origin(request):
            return response.json({"error": "forbidden", "message": "跨站请求已拒绝"}, status=403)
        console = console_of(request)
        found = console.who(request)
        if found is not None:
            await console.logout(*found)
        resp = _no_cache(response.json({"ok": True}))
        del resp.cookies[COOKIE]
        return resp

    @bp.websocket("/ws")
    async def socket(request: Request, ws: Any) -> None:
        console = console_of(request)
        found = console.who(request) if same_origin(request) else None
        if found is None:
            await ws.close(4401, "login required")
            return
        tab = Tab(ws, *found)
        unavailable = {"type": "error", "message": "服务暂时不可用，请稍后重试。"}
        try:
            try:
                await console.opened(tab)
            except redis.RedisError:  # Redis restarting: keep the tab; the next action or refresh retries
                logger.warning("Redis failed while a console tab opened", exc_info=True)
                await tab.send(unavailable)
            while True:
                raw = await ws.recv()
                if raw is None:
                    continue
                try:
                    who = console.who(request)
                except redis.RedisError:
                    logger.warning("Redis failed while checking a console session", exc_info=True)
                    await tab.send(unavailable)
                    continue
                if who is None:  # logged out (or the account removed) meanwhile
                    await ws.close(4401, "login required")
                    return
                try:
                    message = json.loads(raw)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    await tab.send({"type": "error", "message": "无法识别的操作。"})
                    continue
                try:
                    await console.handle(tab, message)
                except ValueError as problem:  # bad input, or the queue refused
                    await tab.send({"type": "error", "message": str(problem), "request": message.get("type")})
                except redis.RedisError:
                    logger.warning("Redis failed during a console action", exc_info=True)
                    await tab.send(unavailable)
                except Exception:
                    logger.exception("a console action failed")
                    await tab.send({"type": "error", "message": "操作未能完成，请稍后重试。"})
        finally:
            console.closed(tab)

    bp.static("/static", str(STATIC_DIR), name="static")
    return bp


def create_app(*, redis_url: str, rasa_url: str, rasa_token: Optional[str], session_key: str, state_dir: Path,
               backend: Optional[ShopBackend] = None, grace_seconds: Optional[float] = None,
               sweep_seconds: Optional[float] = None, name: Optional[str] = None) -> Sanic:
    """Build the console app (its Redis clients and tasks start with the server)."""
    if not session_key:
        raise ValueError("the console needs SHOP_SESSION_KEY to sign its login cookie")
    settings = load_settings()
    accounts = AccountStore.in_state_dir(state_dir)
    ensure_admin(accounts, state_dir / "secrets")
    app = Sanic(name or f"{APP_NAME_PREFIX}_{os.getpid()}_{next(_app_counter)}")
    app.config.ACCESS_LOG = False
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 3.0
    app.config.WEBSOCKET_MAX_SIZE = MAX_WS_MESSAGE_BYTES
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.blueprint(console_blueprint())

    @app.before_server_start
    async def start(app: Sanic, _: Any) -> None:
        client = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        queue = HandoffQueue(client)
        desk = AgentDesk(queue, Outbound(client, settings.retention_seconds), RasaTranscript(rasa_url, rasa_token),
                         backend or open_backend(settings.shop_db))
        console = Console(queue, desk, accounts, aioredis.Redis.from_url(redis_url), session_key,
                          settings.handoff_grace_seconds if grace_seconds is None else grace_seconds,
                          settings.handoff_sweep_seconds if sweep_seconds is None else sweep_seconds)
        app.ctx.console = console
        app.ctx.tasks = [asyncio.ensure_future(task()) for task in (
            console.keep_present, console.keep_sweeping, console.follow_events, console.publish_boards)]

    @app.before_server_stop
    async def stop(app: Sanic, _: Any) -> None:
        for task in getattr(app.ctx, "tasks", []):
            task.cancel()
        for task in getattr(app.ctx, "tasks", []):
            with contextlib.suppress(BaseException):
                await task
        console = getattr(app.ctx, "console", None)
        if console is not None:
            await console.events.close()

    @app.on_response
    async def security_headers(_: Request, resp: HTTPResponse) -> None:
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")

    return app


def main(argv: Optional[list[str]] = None) -> None:
    install_masking()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.desk.console.server", description="Serve the agents' console.")
    parser.add_argument("--host", default=settings.console_host)
    parser.add_argument("--port", type=int, default=settings.console_port)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    if not settings.redis_url:
        parser.error("REDIS_URL is not set: the console works on the hand-off queue in Redis (make run sets it)")
    try:
        app = create_app(redis_url=settings.redis_url, rasa_url=f"http://127.0.0.1:{settings.rasa_port}",
                         rasa_token=settings.rasa_api_token, session_key=settings.session_key or "",
                         state_dir=settings.state_dir)
    except ValueError as exc:
        parser.error(str(exc))
    app.run(host=args.host, port=args.port, workers=1, debug=args.debug, access_log=args.debug, motd=False)


if __name__ == "__main__":
    main()
