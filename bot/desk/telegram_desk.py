"""The agents' Telegram desk (issue 14): take and answer hand-off chats from Telegram.

    TELEGRAM_DESK_TOKEN=<token from @BotFather> TELEGRAM_DESK_CHAT=<group id> \\
    TELEGRAM_AGENTS=<user id>,<user id> python -m bot.desk.telegram_desk

Where agents work:

- the desk chat (TELEGRAM_DESK_CHAT, a group of the agents and the bot) shows every
  new escalation with a masked summary and a "接入 Claim" button. Only the users in
  TELEGRAM_AGENTS may press it or use the commands; anyone else is told so, politely,
  and nothing changes. Once claimed the button is removed (by editing the message),
  but the real guard is the queue's atomic claim: of two agents pressing at once,
  in one desk or in two, exactly one gets the chat;
- the chat itself then runs in the agent's private chat with the bot: the masked
  context, every shopper message of their conversations, and whatever they write
  there goes to the shopper. Several agents share the desk chat, so a conversation
  held by one of them has no place there (the others would see it, and a reply would
  be ambiguous). A bot may only write to a user who has started it, so an agent who
  never did gets the context in the desk chat instead, addressed to them, with the
  request to open the private chat; replying to those messages works too;
- an agent's text goes to the conversation of the message it replies to (every
  message about a conversation starts with "会话 <id>"), else, in the private chat,
  to their only chat; `/to <id> text` names it.

Commands: /online, /away, /offline (presence), /chats, /close [resolution],
/transfer <group> | /transfer @<agent id>, /note text, /to <id> text, /help. The
desk heartbeats (`bot.handoff.presence`) every agent who said /online or /away or who
holds a chat, while it runs; an agent is `tg:<Telegram user id>`, registered on their
first action with every skill group and the configured chat limit.

Privacy: what the desk shows is masked (`mask_text`, `Context.masked()`): phone
numbers, addresses and ID numbers never reach Telegram. The conversation id is not
personal and stays as it is, it is how replies find their conversation.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import re
import signal
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import redis
import redis.asyncio as aioredis
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.config import Settings, load_settings
from bot.handoff import keys
from bot.handoff.desk import RESOLUTIONS, AgentDesk, Context, event_fields
from bot.handoff.dispatch import sweep
from bot.handoff.escalation import GROUP_NAMES, escalation_rules
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, go_offline, heartbeat, status_of
from bot.handoff.queue import AgentProfile, ClaimRefused, HandoffQueue
from bot.handoff.transcript import RasaTranscript
from bot.privacy.masking import mask_text, mask_value
from bot.shop.backend import ShopBackend

logger = logging.getLogger(__name__)

AGENT_PREFIX = "tg:"
DESK_VIEWER = "telegram-desk"  # who the audit log names for the summary posted to the desk chat
CLAIM, CLAIM_HASHED = "claim:", "claim#"  # button data: the conversation, or a hash when it is too long
MAX_BUTTON_DATA = 64
MAX_TEXT = 3800  # below Telegram's 4096
TURNS_SHOWN = 12
SHOPPER_LINES_IN_SUMMARY = 3
MARKER = re.compile(r"会话 (\S+)")
EVENTS_BLOCK_MS = 5000

REFUSED_USER = "抱歉，这个机器人只供本店客服使用。如需帮助，请在店铺里联系在线客服。"
REFUSED_CLAIM = "抱歉，只有本店客服可以接入会话。"
CLAIM_REFUSALS = {
    "offline": "您当前不在线，请先发送 /online。",
    "full": "您同时接待的会话已达上限，请先结束一个会话（/close）。",
    "none": "该会话已被其他客服接入、已结束，或不在您的技能组。",
    "unknown_agent": "没有找到您的客服资料，请联系主管。",
}
TRANSFER_REFUSALS = {
    "not_yours": "这个会话不在您手上。",
    "offline": "对方当前不在线。",
    "full": "对方同时接待的会话已满。",
}
REASON_NAMES = {
    "complaint_high": "严重投诉", "refund_large": "大额退款", "frustration": "顾客情绪激动",
    "fallback": "机器人多次未理解", "shopper_request": "顾客要求人工", "low_rating": "低分评价",
    "sensitive": "敏感诉求",
}
RESOLUTION_NAMES = {
    "solved": "已解决", "unsolved": "未解决", "follow_up": "需跟进", "no_reply": "顾客未回复",
    "transferred_offline": "转线下处理",
}
STATUS_NAMES = {Status.ONLINE: "在线（接收新会话）", Status.AWAY: "离开（保留当前会话，不接新会话）",
                Status.OFFLINE: "离线"}
WHO = {"shopper": "顾客", "bot": "机器人", "agent": "客服"}
HELP = (
    "客服台命令：\n"
    "/online 上线接待　/away 暂离（保留会话）　/offline 下线（会话退回排队）\n"
    "/chats 我接待中的会话\n"
    "直接回复某个会话的消息即可发给顾客；只接待一个会话时，私聊里直接发文字也可以。\n"
    "/to <会话> 文字　发给指定会话\n"
    "/close [solved|unsolved|follow_up|no_reply|transferred_offline]　结束会话（默认 solved）\n"
    "/transfer <组>（presales 售前、orders 订单物流、aftersales 售后、complaints 投诉）或 /transfer @<客服 id>\n"
    "/note 文字　内部备注（顾客看不到）"
)


def agent_id_of(user_id: int) -> str:
    return f"{AGENT_PREFIX}{user_id}"


def claim_data(conversation: str) -> str:
    """The Claim button's callback data (Telegram allows 64 bytes)."""
    data = CLAIM + conversation
    return data if len(data.encode()) <= MAX_BUTTON_DATA else CLAIM_HASHED + _digest(conversation)


def _digest(conversation: str) -> str:
    return hashlib.sha256(conversation.encode()).hexdigest()[:24]


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _group_label(group: str) -> str:
    return f"{GROUP_NAMES[group]}（{group}）" if group in GROUP_NAMES else group


def _details(escalation: dict[str, str]) -> dict[str, Any]:
    """The escalation's details (last message, order number ...), masked."""
    try:
        details = json.loads(escalation.get("details") or "{}")
    except ValueError:
        return {}
    return mask_value(details) if isinstance(details, dict) else {}


def _order_lines(context: Context) -> list[str]:
    order = mask_value(context.order) if context.order else None
    if not order:
        order_no = _details(context.escalation).get("order_no")
        return [f"订单号（未验证）：{order_no}"] if order_no else []
    lines = [f"已验证订单：{order.get('order_no')}｜{order.get('status')}｜实付 ¥{float(order.get('total_paid') or 0):.2f}"]
    items = "、".join(f"{i.get('name')}{_variant(i)}×{i.get('quantity')}" for i in order.get("items") or [])
    if items:
        lines.append(f"商品：{items}")
    if order.get("carrier") or order.get("tracking_no"):
        latest = (order.get("logistics") or [{}])[-1]
        lines.append(f"物流：{order.get('carrier') or ''} {order.get('tracking_no') or ''}"
                     + (f"｜最新：{latest.get('description', '')}" if latest else ""))
    if order.get("address"):
        lines.append(f"收货地址：{order['address']}")
    return lines


def _variant(item: dict[str, Any]) -> str:
    variant = " ".join(str(item[k]) for k in ("colour", "size") if item.get(k))
    return f"（{variant}）" if variant else ""


def _unsaved_trigger(context: Context) -> Optional[str]:
    """The shopper's message that made the escalation (masked) when the transcript does not have it yet.

    Rasa saves a turn's events when the turn ends, but an action escalates in the middle of it: the desk hears of
    the escalation and reads the tracker before the message that asked for a person is in it. A shopper turn later
    than the escalation means the tracker is past that point."""
    last = str(_details(context.escalation).get("last_message") or "")
    if not last:
        return None
    said = [t for t in context.transcript if t.who == "shopper"]
    try:
        enqueued = float(context.escalation.get("enqueued_ms") or "inf") / 1000
    except ValueError:
        enqueued = float("inf")
    if said and (mask_text(said[-1].text) == last or said[-1].at >= enqueued):
        return None
    return last


def summary_text(context: Context, position: Optional[int]) -> str:
    """The desk chat's post for a waiting escalation (masked)."""
    masked = context.masked()
    escalation = masked.escalation
    group, reason = escalation.get("group", ""), escalation.get("reason", "")
    lines = [
        f"技能组：{_group_label(group)}",
        f"原因：{REASON_NAMES.get(reason, reason)}（{reason}）　情绪分：{escalation.get('frustration') or '0'}",
        f"渠道：{masked.channel or '未知'}　排队：{f'第 {position} 位' if position else '—'}",
        *_order_lines(context),
    ]
    said = [t.text for t in masked.transcript if t.who == "shopper" and t.text]
    trigger = _unsaved_trigger(context)
    said = [*said, *([trigger] if trigger else [])][-SHOPPER_LINES_IN_SUMMARY:]
    if said:
        lines.append("顾客最近说：")
        lines.extend(f"· {_clip(text, 200)}" for text in said)
    body = mask_text("\n".join(lines))
    return _fit(f"🔔 新的人工请求 · 会话 {context.conversation}\n{body}")


def context_text(context: Context) -> str:
    """What the claiming agent gets: the summary, the conversation so far and how to answer (masked)."""
    masked = context.masked()
    escalation = masked.escalation
    group, reason = escalation.get("group", ""), escalation.get("reason", "")
    lines = [
        f"技能组：{_group_label(group)}　原因：{REASON_NAMES.get(reason, reason)}　"
        f"情绪分：{escalation.get('frustration') or '0'}　渠道：{masked.channel or '未知'}",
        *_order_lines(context),
    ]
    for ticket in context.tickets:
        lines.append(f"工单：{ticket.get('ticket_no')}（{ticket.get('kind')}，{ticket.get('status')}）")
    slots = {k: v for k, v in masked.slots.items() if k != "verified_order"}
    if slots:
        lines.append("信息：" + "；".join(f"{k}={_clip(str(v), 60)}" for k, v in slots.items()))
    said = [f"{WHO.get(t.who, t.who)}：{_clip(t.text, 200)}" for t in masked.transcript[-TURNS_SHOWN:] if t.text]
    trigger = _unsaved_trigger(context)
    if trigger:
        said.append(f"{WHO['shopper']}：{_clip(trigger, 200)}")
    if said:
        lines.append("最近对话：")
        lines.extend(said)
    lines.append("—— 回复本消息即可发给顾客；/close 结束，/transfer 转接，/note 备注。")
    return _fit(f"💬 会话 {context.conversation} · 您已接入\n" + mask_text("\n".join(lines)))


def shopper_text(conversation: str, text: str) -> str:
    return _fit(f"💬 会话 {conversation} · 顾客：\n{mask_text(text)}")


@dataclass
class Posted:
    """A Claim message in the desk chat."""

    message_id: int
    text: str


def build_application(settings: Settings) -> Application:
    """A python-telegram-bot Application for the desk bot, on Telegram or on TELEGRAM_API_URL."""
    if not settings.telegram_desk_token:
        raise ValueError("TELEGRAM_DESK_TOKEN is not set")
    builder = Application.builder().token(settings.telegram_desk_token)
    if settings.telegram_api_url:
        root = settings.telegram_api_url.rstrip("/")
        root = root[: -len("/bot")] if root.endswith("/bot") else root
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    return builder.build()


def parse_chat_id(value: str) -> int | str:
    """A numeric chat id (groups are negative) or an @username."""
    value = value.strip()
    return int(value) if re.fullmatch(r"-?\d+", value) else value


class TelegramDesk:
    """The desk bot: posts escalations, lets agents claim and answer them, forwards shopper messages."""

    def __init__(self, settings: Settings, desk: AgentDesk, events: aioredis.Redis, groups: Sequence[str], *,
                 poll_timeout: float = 10, heartbeat_seconds: Optional[float] = None) -> None:
        if not settings.telegram_desk_chat:
            raise ValueError("TELEGRAM_DESK_CHAT is not set")
        self.settings = settings
        self.desk = desk
        self.queue: HandoffQueue = desk.queue
        self.redis: redis.Redis = desk.queue.redis
        self.events = events
        self.groups = tuple(groups)
        self.desk_chat = parse_chat_id(settings.telegram_desk_chat)
        self.agents = frozenset(str(a) for a in settings.telegram_agents)
        self.poll_timeout = poll_timeout
        self.heartbeat_seconds = heartbeat_seconds or max(1.0, settings.handoff_grace_seconds / 4)
        self.application = build_application(settings)
        self.presence: dict[str, Status] = {}  # agents this desk keeps present, by their chosen status
        self.posted: dict[str, Posted] = {}  # conversation -> its Claim message while it waits
        self.opened: set[tuple[str, str]] = set()  # (agent, conversation) whose context was sent
        self._posting: set[str] = set()
        self._registered: set[str] = set()
        # (agent, conversation) that agent just transferred with /transfer here: its answer told them, so the
        # event it causes does not tell them again (a transfer from elsewhere, e.g. the console, does).
        self._answered: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._add_handlers()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to Telegram, post what already waits, then follow the events and poll for updates."""
        await self.application.initialize()
        await self.application.start()
        last = await self._events_cursor()
        self._adopt_agents_with_chats()
        for group in self.groups:
            for conversation in self.queue.waiting(group):
                await self._post_escalation(conversation)
        self._tasks = [asyncio.create_task(self._follow_events(last), name="desk-events"),
                       asyncio.create_task(self._keep_present(), name="desk-presence"),
                       asyncio.create_task(self._keep_sweeping(), name="desk-sweep")]
        assert self.application.updater is not None
        await self.application.updater.start_polling(
            poll_interval=0.0, timeout=int(self.poll_timeout),
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY])
        logger.info("Telegram desk running as @%s in chat %s", self.application.bot.username, self.desk_chat)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(CallbackQueryHandler(self._on_claim, pattern=r"^claim[:#]"))
        for name, handler in (("start", self._on_start), ("help", self._on_help), ("online", self._on_online),
                              ("away", self._on_away), ("offline", self._on_offline), ("chats", self._on_chats),
                              ("close", self._on_close), ("transfer", self._on_transfer), ("note", self._on_note),
                              ("to", self._on_to)):
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.COMMAND,
                                       self._on_unsupported))
        app.add_error_handler(self._on_error)

    # -- who may act ----------------------------------------------------------------------------
    def _in_desk(self, message: Optional[Message]) -> bool:
        """A message of the desk chat or of a private chat (the bot ignores any other group it is put in)."""
        if message is None:
            return False
        chat = message.chat
        return chat.type == "private" or chat.id == self.desk_chat or (
            isinstance(self.desk_chat, str) and f"@{chat.username}" == self.desk_chat)

    def is_agent(self, user: Optional[User]) -> bool:
        return user is not None and not user.is_bot and str(user.id) in self.agents

    def _enrol(self, user: User) -> tuple[str, str]:
        """The agent id and name of an allowed user, registering them on their first action."""
        agent_id = agent_id_of(user.id)
        if agent_id not in self._registered:
            if self.queue.profile(agent_id) is None:
                self.queue.register(AgentProfile(agent_id, user.full_name, self.groups,
                                                 self.settings.agent_chat_limit, desk="telegram"))
            self._registered.add(agent_id)
        profile = self.queue.profile(agent_id)
        return agent_id, profile.name if profile else user.full_name

    async def _allowed(self, update: Update) -> Optional[tuple[str, str]]:
        """(agent id, name) for an agent's command; anyone else is refused politely."""
        message = update.effective_message
        if not self._in_desk(message):
            return None
        user = update.effective_user
        if user is None or not self.is_agent(user):
            if message is not None:
                await message.reply_text(REFUSED_USER)
            return None
        return self._enrol(user)

    # -- presence -------------------------------------------------------------------------------
    def _set_presence(self, agent_id: str, status: Status) -> None:
        self.presence[agent_id] = status
        heartbeat(self.redis, agent_id, status, self.settings.handoff_grace_seconds)

    def _adopt_agents_with_chats(self) -> None:
        """Telegram agents holding chats stay present while the desk runs (after a restart too)."""
        for agent_id in self.queue.agent_ids():
            if agent_id.startswith(AGENT_PREFIX) and agent_id not in self.presence and self.queue.chats_of(agent_id):
                status = status_of(self.redis, agent_id)
                self.presence[agent_id] = status if status is not Status.OFFLINE else Status.AWAY

    async def _keep_present(self) -> None:
        while True:
            try:
                self._adopt_agents_with_chats()
                for agent_id, status in list(self.presence.items()):
                    heartbeat(self.redis, agent_id, status, self.settings.handoff_grace_seconds)
            except (redis.RedisError, OSError):
                logger.warning("desk heartbeat failed", exc_info=True)
            await asyncio.sleep(self.heartbeat_seconds)

    async def _keep_sweeping(self) -> None:
        """The queue's upkeep without the console: absent agents' chats back in the queue, aging, and the
        shoppers who moved up told. Agents here claim for themselves, so it assigns nothing; with a console
        running too both sweep, which is safe (every step is atomic and each update is told once)."""
        while True:
            try:
                done = await asyncio.to_thread(sweep, self.queue, assign=False)
                await self.desk.keep_positions(done.told)
            except (redis.RedisError, OSError):
                logger.warning("desk sweep failed", exc_info=True)
            except Exception:  # a bug in one round must not end the upkeep for good
                logger.exception("desk sweep failed")
            await asyncio.sleep(self.settings.handoff_sweep_seconds)

    # -- the events stream ----------------------------------------------------------------------
    async def _events_cursor(self) -> str:
        newest = await self.events.xrevrange(keys.EVENTS, count=1)
        return _text(newest[0][0]) if newest else "0-0"

    async def _follow_events(self, last: str) -> None:
        while True:
            try:
                reply = await self.events.xread({keys.EVENTS: last}, count=100, block=EVENTS_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError):
                logger.warning("desk lost Redis; reading the events again in 1 s", exc_info=True)
                await asyncio.sleep(1)
                continue
            for _stream, entries in reply or []:
                for entry_id, raw in entries:
                    last = _text(entry_id)
                    try:
                        await self.on_event(event_fields(raw))
                    except asyncio.CancelledError:
                        raise
                    except Exception:  # one event must not stop the desk
                        logger.exception("desk could not handle event %s", last)

    async def on_event(self, event: dict[str, str]) -> None:
        kind, conversation = event.get("type", ""), event.get("conv", "")
        agent = event.get("agent", "")
        if kind == "escalated":
            await self._post_escalation(conversation)
        elif kind == "claimed":
            await self._mark_taken(conversation, f"✅ 已由 {self._name(agent)} 接入")
            if agent.startswith(AGENT_PREFIX):
                await self._open_chat(agent, conversation)
        elif kind in ("requeued", "transferred"):
            self.opened.discard((agent, conversation))
            answered = (agent, conversation) in self._answered
            self._answered.discard((agent, conversation))
            to_agent = event.get("to_agent", "")
            if to_agent:
                if agent.startswith(AGENT_PREFIX) and not answered:
                    await self._tell_agent(agent, f"💬 会话 {conversation} 已转给 {self._name(to_agent)}。")
                if to_agent.startswith(AGENT_PREFIX):
                    await self._open_chat(to_agent, conversation, f"由 {self._name(agent)} 转给您")
                return
            if agent.startswith(AGENT_PREFIX) and not answered:
                why = "您已离线，" if kind == "requeued" else ""
                await self._tell_agent(agent, f"💬 会话 {conversation} {why}已退回 {_group_label(event.get('group', ''))} 队列。")
            await self._post_escalation(conversation)
        elif kind == "closed":
            self.opened.discard((agent, conversation))
            await self._mark_taken(conversation, "已结束")
        elif kind == "withdrawn":
            await self._mark_taken(conversation, "顾客已不再等待（改为留言或会话已清除）")
        elif kind == "shopper_message":
            await self._forward_shopper_message(conversation, event.get("text", ""))

    def _name(self, agent_id: str) -> str:
        profile = self.queue.profile(agent_id) if agent_id else None
        return profile.name if profile else agent_id

    async def _context(self, viewer: str, conversation: str) -> Context:
        """The conversation's context (audited as seen by `viewer`); without Rasa, the escalation alone."""
        try:
            return await self.desk.context(viewer, conversation)
        except Exception:
            logger.warning("no tracker for %s; showing the escalation only", conversation, exc_info=True)
            escalation = self.queue.escalation(conversation)
            return Context(conversation, escalation, escalation.get("channel", ""), (), {})

    async def _post_escalation(self, conversation: str) -> None:
        """A Claim message in the desk chat for a conversation that waits (once per wait)."""
        if conversation in self.posted or conversation in self._posting:
            return
        if self.queue.escalation(conversation).get("state") != "queued":
            return
        self._posting.add(conversation)
        try:
            context = await self._context(DESK_VIEWER, conversation)
            text = summary_text(context, self.queue.position(conversation))
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("接入 Claim",
                                                                 callback_data=claim_data(conversation))]])
            sent = await self.application.bot.send_message(self.desk_chat, text, reply_markup=markup)
            self.posted[conversation] = Posted(sent.message_id, text)
        finally:
            self._posting.discard(conversation)

    async def _mark_taken(self, conversation: str, note: str) -> None:
        """Edit the Claim message: the button goes, a line says what became of it."""
        posted = self.posted.pop(conversation, None)
        if posted is None:
            return
        with contextlib.suppress(BadRequest):  # deleted by a person, or edited already
            await self.application.bot.edit_message_text(f"{posted.text}\n\n{note}", chat_id=self.desk_chat,
                                                         message_id=posted.message_id, reply_markup=None)

    async def _forward_shopper_message(self, conversation: str, text: str) -> None:
        owner = _text(self.redis.get(keys.owner(conversation)) or b"")
        if owner.startswith(f"agent:{AGENT_PREFIX}") and text:
            await self._tell_agent(owner[len("agent:"):], shopper_text(conversation, text))

    # -- talking to an agent --------------------------------------------------------------------
    async def _tell_agent(self, agent_id: str, text: str) -> Optional[Message]:
        """A message to an agent: in their private chat, else in the desk chat addressed to them."""
        bot = self.application.bot
        user_id = int(agent_id[len(AGENT_PREFIX):])
        try:
            return await bot.send_message(user_id, text)
        except (Forbidden, BadRequest):
            pass  # they never started the bot
        mention = f'<a href="tg://user?id={user_id}">{html.escape(self._name(agent_id))}</a>'
        return await bot.send_message(  # the text first: its first line names the conversation
            self.desk_chat, f"{html.escape(text)}\n\n→ {mention}：请私聊本机器人并发送 /start，之后会话消息将私信给您。",
            parse_mode="HTML")

    async def _open_chat(self, agent_id: str, conversation: str, why: str = "") -> None:
        """Send the claiming agent the masked context, once per (agent, conversation)."""
        if (agent_id, conversation) in self.opened:
            return
        self.opened.add((agent_id, conversation))
        context = await self._context(agent_id, conversation)
        text = context_text(context)
        await self._tell_agent(agent_id, text.replace(" · 您已接入", f" · {why}", 1) if why else text)

    # -- button ---------------------------------------------------------------------------------
    def _conversation_of(self, data: str) -> Optional[str]:
        if data.startswith(CLAIM):
            return data[len(CLAIM):]
        digest = data[len(CLAIM_HASHED):]
        candidates = [*self.posted, *(c for g in self.groups for c in self.queue.waiting(g, 10_000))]
        return next((c for c in candidates if _digest(c) == digest), None)

    async def _on_claim(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        query: Optional[CallbackQuery] = update.callback_query
        if query is None:
            return
        if not self.is_agent(query.from_user):
            await query.answer(REFUSED_CLAIM, show_alert=True)
            return
        conversation = self._conversation_of(query.data or "")
        if conversation is None:
            await query.answer(CLAIM_REFUSALS["none"], show_alert=True)
            return
        agent_id, name = self._enrol(query.from_user)
        status = status_of(self.redis, agent_id)
        if status is Status.AWAY:
            await query.answer("您当前是“离开”状态，发送 /online 后再接入。", show_alert=True)
            return
        if status is Status.OFFLINE:
            self._set_presence(agent_id, Status.ONLINE)  # pressing Claim is coming online
        try:
            await self.desk.claim(agent_id, name, conversation)
        except ClaimRefused as refused:
            await query.answer(CLAIM_REFUSALS.get(refused.reason, "现在无法接入。"), show_alert=True)
            return
        except Exception:
            logger.exception("claim of %s by %s: greeting the shopper failed", conversation, agent_id)
            await query.answer("已接入，但向顾客发送问候失败，请直接回复顾客。", show_alert=True)
        else:
            await query.answer("已接入，会话详情已发给您。")
        await self._mark_taken(conversation, f"✅ 已由 {name} 接入")
        await self._open_chat(agent_id, conversation)

    # -- commands -------------------------------------------------------------------------------
    async def _on_start(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        allowed = await self._allowed(update)
        if allowed and update.effective_message:
            agent_id, name = allowed
            await update.effective_message.reply_text(
                f"您好，{name}！您的客服编号是 {agent_id}。发送 /online 开始接待，会话消息会私信给您。\n\n{HELP}")

    async def _on_help(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._allowed(update) and update.effective_message:
            await update.effective_message.reply_text(HELP)

    async def _presence_command(self, update: Update, status: Status) -> None:
        allowed = await self._allowed(update)
        message = update.effective_message
        if not allowed or message is None:
            return
        agent_id, _name = allowed
        if status is Status.OFFLINE:
            self.presence.pop(agent_id, None)
            requeued = go_offline(self.queue, agent_id)
            extra = f"，{requeued} 个会话已退回排队" if requeued else ""
            await message.reply_text(f"您已离线{extra}。")
            return
        self._set_presence(agent_id, status)
        await message.reply_text(f"您现在是：{STATUS_NAMES[status]}。")

    async def _on_online(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._presence_command(update, Status.ONLINE)

    async def _on_away(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._presence_command(update, Status.AWAY)

    async def _on_offline(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        await self._presence_command(update, Status.OFFLINE)

    async def _on_chats(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        allowed = await self._allowed(update)
        if not allowed or update.effective_message is None:
            return
        held = self.queue.chats_of(allowed[0])
        await update.effective_message.reply_text(
            "您接待中的会话：\n" + "\n".join(f"会话 {c}" for c in held) if held else "您当前没有接待中的会话。")

    def _replied_conversation(self, message: Message) -> Optional[str]:
        """The conversation a message replies to (a desk bot message starting with '会话 <id>')."""
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or replied.from_user.id != self.application.bot.id:
            return None
        found = MARKER.search((replied.text or replied.caption or "").split("\n", 1)[0])
        return found.group(1) if found else None

    async def _target(self, message: Message, agent_id: str, args: list[str]) -> tuple[Optional[str], list[str]]:
        """The conversation a command is about, and the remaining arguments; tells the agent when unclear."""
        held = self.queue.chats_of(agent_id)
        replied = self._replied_conversation(message)
        if replied:
            return replied, args
        if args and args[0] in held:
            return args[0], args[1:]
        if len(held) == 1:
            return held[0], args
        if not held:
            await message.reply_text("您当前没有接待中的会话。")
        else:
            await message.reply_text(f"您同时接待 {len(held)} 个会话（{'、'.join(held)}），请回复对应会话的消息，"
                                     "或在命令后写会话编号。")
        return None, args

    async def _chat_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE
                            ) -> Optional[tuple[Message, str, str, list[str]]]:
        """For a command about one of the agent's chats: (message, agent id, conversation, remaining arguments),
        or None when the sender may not act or the chat is unclear (they were told)."""
        allowed = await self._allowed(update)
        message = update.effective_message
        if not allowed or message is None:
            return None
        conversation, args = await self._target(message, allowed[0], list(context.args or []))
        return (message, allowed[0], conversation, args) if conversation is not None else None

    async def _on_close(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        target = await self._chat_command(update, context)
        if target is None:
            return
        message, agent_id, conversation, args = target
        wanted = args[0] if args else "solved"
        by_name = {v: k for k, v in RESOLUTION_NAMES.items()}
        resolution = by_name.get(wanted, wanted)
        if resolution not in RESOLUTIONS:
            await message.reply_text("结束原因只能是：" + "、".join(f"{r}（{RESOLUTION_NAMES[r]}）" for r in RESOLUTIONS))
            return
        try:
            closed = await self.desk.close(agent_id, conversation, resolution)
        except Exception:
            logger.exception("close of %s by %s", conversation, agent_id)
            await message.reply_text(f"会话 {conversation} 已结束，但请顾客评分的消息发送失败。")
            return
        if closed:
            self.opened.discard((agent_id, conversation))
            await message.reply_text(f"会话 {conversation} 已结束（{RESOLUTION_NAMES[resolution]}），已请顾客评分。")
        else:
            await message.reply_text(f"会话 {conversation} 不在您手上（可能已结束或已转出）。")

    async def _on_transfer(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        target = await self._chat_command(update, context)
        if target is None:
            return
        message, agent_id, conversation, args = target
        if not args:
            await message.reply_text("请写明转给哪个组或哪位客服：/transfer orders 或 /transfer @客服编号")
            return
        where = args[0]
        if where.startswith("@"):
            to_agent = where[1:]
            self._answered.add((agent_id, conversation))
            result = self.desk.transfer_to_agent(agent_id, conversation, to_agent)
            if result != "ok":
                self._answered.discard((agent_id, conversation))
            await message.reply_text(f"会话 {conversation} 已转给 {self._name(to_agent)}。" if result == "ok"
                                     else TRANSFER_REFUSALS.get(result, f"转接失败（{result}）。"))
            return
        by_name = {v: k for k, v in GROUP_NAMES.items()}
        group = by_name.get(where, where)
        if group not in self.groups:
            await message.reply_text("没有这个组，可选：" + "、".join(_group_label(g) for g in self.groups))
            return
        self._answered.add((agent_id, conversation))
        if self.desk.transfer_to_group(agent_id, conversation, group):
            self.opened.discard((agent_id, conversation))
            await message.reply_text(f"会话 {conversation} 已转到 {_group_label(group)} 队列。")
        else:
            self._answered.discard((agent_id, conversation))
            await message.reply_text(TRANSFER_REFUSALS["not_yours"])

    async def _on_note(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        target = await self._chat_command(update, context)
        if target is None:
            return
        message, agent_id, conversation, args = target
        text = " ".join(args).strip()
        if not text:
            await message.reply_text("请写上备注内容：/note 文字")
            return
        try:
            self.desk.note(agent_id, conversation, text)
        except PermissionError:
            await message.reply_text(TRANSFER_REFUSALS["not_yours"])
            return
        await message.reply_text(f"已为会话 {conversation} 记下备注（顾客看不到）。")

    async def _on_to(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        allowed = await self._allowed(update)
        message = update.effective_message
        if not allowed or message is None:
            return
        parts = (message.text or "").split(maxsplit=2)
        if len(parts) < 3:
            await message.reply_text("用法：/to <会话编号> 文字")
            return
        await self._send(allowed, parts[1], parts[2], message)

    # -- an agent's words to the shopper ----------------------------------------------------------
    async def _on_text(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        user = update.effective_user
        if message is None or user is None or not self._in_desk(message) or not message.text:
            return
        private = message.chat.type == "private"
        replied = self._replied_conversation(message)
        if not private and replied is None:
            return  # agents talking among themselves in the desk chat
        if not self.is_agent(user):
            await message.reply_text(REFUSED_USER)
            return
        agent_id, name = self._enrol(user)
        if replied is None:
            held = self.queue.chats_of(agent_id)
            if len(held) != 1:
                await message.reply_text(
                    "您当前没有接待中的会话。" if not held else
                    f"您同时接待 {len(held)} 个会话，请回复对应会话的消息，或用 /to <会话编号> 文字。")
                return
            replied = held[0]
        await self._send((agent_id, name), replied, message.text, message)

    async def _send(self, agent: tuple[str, str], conversation: str, text: str, message: Message) -> None:
        agent_id, name = agent
        try:
            await self.desk.send(agent_id, name, conversation, text)
        except PermissionError:
            await message.reply_text(f"会话 {conversation} 不在您手上（可能已结束或已转出），消息没有发出。")
        except Exception:
            logger.exception("message of %s to %s", agent_id, conversation)
            await message.reply_text("发送失败（对话记录服务暂不可用），请稍后重试。",
                                     reply_parameters=ReplyParameters(message.message_id))

    async def _on_unsupported(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and self.is_agent(update.effective_user):
            await message.reply_text("目前只能转发文字消息给顾客。")

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            logger.warning("Telegram error: %s", error)
        else:
            logger.error("desk handler failed", exc_info=error)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def create_desk(settings: Settings, redis_url: str, backend: ShopBackend, *, rasa_url: Optional[str] = None,
                rasa_token: Optional[str] = None, poll_timeout: float = 10,
                heartbeat_seconds: Optional[float] = None) -> TelegramDesk:
    """The desk over a Redis URL, the shop backend and Rasa's HTTP API (for the transcript)."""
    queue = HandoffQueue(redis.Redis.from_url(redis_url))
    transcript = RasaTranscript(rasa_url or f"http://127.0.0.1:{settings.rasa_port}",
                                rasa_token if rasa_token is not None else settings.rasa_api_token)
    desk = AgentDesk(queue, Outbound(queue.redis, settings.retention_seconds), transcript, backend)
    return TelegramDesk(settings, desk, aioredis.Redis.from_url(redis_url), escalation_rules().groups,
                        poll_timeout=poll_timeout, heartbeat_seconds=heartbeat_seconds)


def _redis_url(settings: Settings) -> Optional[str]:
    """REDIS_URL, else the embedded Redis `make run` started (never a second one on the same files)."""
    from bot.runtime.redis_service import PORT_FILE, is_reachable
    from bot.runtime.secrets_store import load_or_create

    if settings.redis_url:
        return settings.redis_url if is_reachable(settings.redis_url) else None
    try:
        port = int((settings.state_dir / "redis" / PORT_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    password = settings.redis_password or load_or_create(settings.state_dir).redis_password
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    return url if is_reachable(url) else None


async def _serve(desk: TelegramDesk) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await desk.start()
    try:
        await stop.wait()
    finally:
        await desk.stop()


def main() -> int:
    settings = load_settings()
    missing = [name for name, value in (("TELEGRAM_DESK_TOKEN", settings.telegram_desk_token),
                                        ("TELEGRAM_DESK_CHAT", settings.telegram_desk_chat)) if not value]
    if missing:
        print(f"The Telegram desk needs {' and '.join(missing)}: the bot's token from @BotFather and the id of "
              "the agents' group (e.g. -1001234567890); TELEGRAM_AGENTS lists the Telegram user ids allowed "
              "to act.", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise, with the token in it
    if not settings.telegram_agents:
        logger.warning("TELEGRAM_AGENTS is empty: nobody can claim or answer on the desk")
    redis_url = _redis_url(settings)
    if redis_url is None:
        print("No Redis answers: start the assistant first (make run) or set REDIS_URL.", file=sys.stderr)
        return 2
    from bot.runtime.secrets_store import load_or_create
    from bot.shop import open_backend

    rasa_token = settings.rasa_api_token or load_or_create(settings.state_dir).rasa_api_token
    desk = create_desk(settings, redis_url, open_backend(settings.shop_db), rasa_token=rasa_token)
    asyncio.run(_serve(desk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
