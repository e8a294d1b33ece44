"""The Telegram Bot API stand-in, driven by the real python-telegram-bot `Bot`."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Iterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken

from tests.fakes.telegram_api import SECRET_HEADER, TelegramApiStandIn, TgChat, TgUser, buttons_of

TOKEN = "777001:stand-in-test"
ALICE = TgUser(501, "Alice", "alice")
GROUP = TgChat.group(-100123, "客服台")


@pytest.fixture()
def telegram() -> Iterator[TelegramApiStandIn]:
    with TelegramApiStandIn() as server:
        server.add_bot(TOKEN, username="StandInBot")
        yield server


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_get_me_and_an_unknown_token(telegram: TelegramApiStandIn) -> None:
    async def scenario() -> None:
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            assert bot.username == "StandInBot" and bot.id == 777001
        with pytest.raises(InvalidToken):
            async with Bot("999:nope", base_url=telegram.base_url):
                pass

    run(scenario())
    assert telegram.calls("getMe", token="999:nope")[0].status == 401


def test_messages_buttons_edits_and_updates_round_trip(telegram: TelegramApiStandIn) -> None:
    telegram.add_chat(TOKEN, GROUP)

    async def scenario() -> None:
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("接入 Claim", callback_data="claim:c1")]])
            sent = await bot.send_message(GROUP.id, "新的人工请求 <b>c1</b>", parse_mode="HTML", reply_markup=markup)
            assert sent.text == "新的人工请求 c1" and sent.chat.id == GROUP.id and sent.message_id == 1
            assert sent.reply_markup is not None
            assert sent.reply_markup.inline_keyboard[0][0].callback_data == "claim:c1"

            telegram.press_button(TOKEN, ALICE, (GROUP.id, sent.message_id), text="接入")
            telegram.send_text(TOKEN, ALICE, GROUP, "/close solved")
            telegram.send_text(TOKEN, ALICE, GROUP, "收到", reply_to=sent.message_id)
            updates = await bot.get_updates(timeout=0)
            assert [u.update_id for u in updates] == [1, 2, 3]
            press, command, reply = updates
            assert press.callback_query is not None and press.callback_query.data == "claim:c1"
            assert press.callback_query.from_user.id == ALICE.id
            assert press.callback_query.message is not None and press.callback_query.message.message_id == 1
            assert command.message is not None and command.message.text == "/close solved"
            assert command.message.entities[0].type == "bot_command"
            assert reply.message is not None and reply.message.reply_to_message is not None
            assert reply.message.reply_to_message.message_id == sent.message_id

            assert await press.callback_query.answer("已接入")
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await press.callback_query.answer("twice")
            edited = await bot.edit_message_text("已由 Alice 接入", chat_id=GROUP.id, message_id=sent.message_id)
            assert edited is not True and telegram.message(TOKEN, GROUP.id, 1)["text"] == "已由 Alice 接入"
            assert buttons_of(telegram.message(TOKEN, GROUP.id, 1)) == []
            with pytest.raises(BadRequest, match="(?i)not modified"):
                await bot.edit_message_text("已由 Alice 接入", chat_id=GROUP.id, message_id=sent.message_id)
            with pytest.raises(LookupError):  # the button is gone: nobody can press it any more
                telegram.press_button(TOKEN, ALICE, (GROUP.id, 1))

            # The offset confirms what was read; a reply to a bot message carries it.
            assert await bot.get_updates(offset=4, timeout=0) == ()
            answer = await bot.send_message(GROUP.id, "好的", reply_parameters=ReplyParameters(3))
            assert answer.reply_to_message is not None and answer.reply_to_message.text == "收到"
            with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
                await bot.send_message(GROUP.id, "x", reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="d" * 65)]]))

    run(scenario())
    call = telegram.wait_for_call("answerCallbackQuery", lambda c: c.params.get("text") == "已接入", timeout=1)
    assert call.ok
    with pytest.raises(TimeoutError):
        telegram.wait_for_call("sendPhoto", timeout=0.2)


def test_a_long_poll_returns_as_soon_as_an_update_arrives(telegram: TelegramApiStandIn) -> None:
    threading.Timer(0.3, lambda: telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "你好")).start()

    async def scenario() -> float:
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            started = time.monotonic()
            updates = await bot.get_updates(timeout=10)
            assert len(updates) == 1 and updates[0].message is not None and updates[0].message.text == "你好"
            return time.monotonic() - started

    assert run(scenario()) < 5


def test_a_bot_cannot_write_first_to_a_user_or_an_unknown_group(telegram: TelegramApiStandIn) -> None:
    async def scenario() -> None:
        async with Bot(TOKEN, base_url=telegram.base_url) as bot:
            with pytest.raises(Forbidden):
                await bot.send_message(ALICE.id, "hi")
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(-100999, "hi")
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "/start")
            assert (await bot.send_message(ALICE.id, "hi")).chat.type == "private"
            photo = await bot.send_photo(ALICE.id, b"\x89PNG fake bytes", caption="商品图")
            assert photo.caption == "商品图" and photo.photo[-1].file_size == len(b"\x89PNG fake bytes")

    run(scenario())


def test_webhook_mode_posts_updates_with_the_secret_header(telegram: TelegramApiStandIn) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    async def scenario() -> None:
        async def hook(request: web.Request) -> web.Response:
            received.append((request.headers.get(SECRET_HEADER, ""), await request.json()))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/webhooks/telegram/webhook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/telegram/webhook"
        try:
            async with Bot(TOKEN, base_url=telegram.base_url) as bot:
                assert await bot.set_webhook(url, secret_token="s3cret-Token")
                info = await bot.get_webhook_info()
                assert info.url == url and info.pending_update_count == 0
                with pytest.raises(Conflict):
                    await bot.get_updates(timeout=0)
                telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "我的快递到哪了")
                delivery = await asyncio.to_thread(telegram.wait_for_delivery, lambda d: d.status == 200)
                assert delivery.update_id == 1
                assert received[0][0] == "s3cret-Token"
                update = Update.de_json(received[0][1], bot)
                assert update.message is not None and update.message.text == "我的快递到哪了"
                assert (await bot.get_webhook_info()).pending_update_count == 0
                assert await bot.delete_webhook()
                telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "在吗")
                assert [u.message.text for u in await bot.get_updates(timeout=0) if u.message] == ["在吗"]
        finally:
            await runner.cleanup()

    run(scenario())
    assert json.dumps(received[0][1], ensure_ascii=False).count("我的快递到哪了") == 1


def test_rasas_own_telegram_client_aiogram_works_too(telegram: TelegramApiStandIn) -> None:
    """Rasa's Telegram channel talks through aiogram 2: the stand-in answers it the same way."""
    from aiogram import Bot as AiogramBot
    from aiogram.bot.api import TelegramAPIServer
    from aiogram.types import InlineKeyboardButton as AiogramButton
    from aiogram.types import InlineKeyboardMarkup as AiogramMarkup

    telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "你好")

    async def scenario() -> None:
        bot = AiogramBot(TOKEN, server=TelegramAPIServer.from_base(telegram.url))
        try:
            assert (await bot.get_me()).username == "StandInBot"
            markup = AiogramMarkup(inline_keyboard=[[AiogramButton("是", callback_data="/affirm")]])
            sent = await bot.send_message(ALICE.id, "要帮您查订单吗？", reply_markup=markup)
            assert sent.reply_markup.inline_keyboard[0][0].callback_data == "/affirm"
            assert [u.message.text for u in await bot.get_updates()] == ["你好"]
        finally:
            await bot.session.close()

    run(scenario())
    assert telegram.calls("sendMessage")[0].params["chat_id"] == ALICE.id
