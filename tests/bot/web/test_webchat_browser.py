"""The web chat page in a real headless Chromium.

Three groups, all marked ``browser``:

* against the whole project (the ``stack`` fixture from tests/conftest.py: Rasa with
  the socketio channel, the action server and the web server): a product question,
  the order-status check (order number, then the phone's last four digits), and a
  reload that keeps the conversation;
* against a web server whose Rasa URL is a closed port: the disconnected banner;
* against a small fake Rasa socket.io server started here (it speaks the same
  events as the shop's socketio channel, session tokens included): the page's
  own behaviour (line breaks, text-only rendering, quick replies, Enter and empty
  input, length limit, "新对话", and the banner going away on reconnect),
  independent of what the real bot answers.

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM_PATH``); Playwright never
downloads a browser here.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bot.config import PROJECT_ROOT
from tests.processes import stop_process

pytestmark = pytest.mark.browser

REPO_ROOT = PROJECT_ROOT
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: dict[str, Any] = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True,
                         "device_scale_factor": 2}
SCREENSHOT_DIR = REPO_ROOT / "results" / "screenshots"

CONNECT_TIMEOUT_MS = 30_000
BOT_TIMEOUT_MS = 30_000
BANNER_TEXT = "连接已断开"

# How the project bot may phrase its two order questions.
ASKS_ORDER_NO = ("订单号", "订单编号", "单号")
ASKS_PHONE_LAST4 = ("后四位", "后4位", "尾号", "后 4 位", "后四个")


# ------------------------------------------------------------------ helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


# The fake Rasa and the web server it is paired with sign and check sessions with this key.
FAKE_SESSION_KEY = "browser-test-session-key"


def _start(cmd: Sequence[str], ready_url: str, what: str, timeout: float = 30.0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               SHOP_SESSION_KEY=FAKE_SESSION_KEY)
    proc = subprocess.Popen(list(cmd), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{out}")
        if _http_ok(ready_url):
            return proc
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"{what} not ready at {ready_url} after {timeout}s")


@contextmanager
def web_server(rasa_url: str) -> Iterator[str]:
    """`python -m bot.web.server` on a free port, pointed at `rasa_url`; yields the page URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(
        [sys.executable, "-m", "bot.web.server", "--host", "127.0.0.1", "--port", str(port), "--rasa-url", rasa_url],
        base + "/health", "web server",
    )
    try:
        yield base + "/"
    finally:
        stop_process(proc)


@contextmanager
def screenshot_on_failure(page: Page, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        try:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)
        except Exception:  # the page may be gone; the original failure matters
            pass
        raise


def bot_texts(page: Page) -> list[str]:
    return page.locator("#messages .msg.bot").all_inner_texts()


def transcript(page: Page) -> list[tuple[str, str]]:
    return page.eval_on_selector_all(
        "#messages .msg",
        "els => els.map(e => [e.classList.contains('user') ? 'user' : 'bot', e.innerText])",
    )


def wait_connected(page: Page) -> None:
    expect(page.locator("#conn-status")).to_have_attribute("data-state", "online", timeout=CONNECT_TIMEOUT_MS)
    expect(page.locator("#status-banner")).to_be_hidden()


def send(page: Page, text: str) -> int:
    """Type `text`, press Enter, check the user bubble; returns the bot message count before."""
    before = page.locator("#messages .msg.bot").count()
    box = page.locator("#input")
    box.fill(text)
    expect(page.locator("#send")).to_be_enabled(timeout=CONNECT_TIMEOUT_MS)
    box.press("Enter")
    expect(page.locator("#messages .msg.user").last).to_have_text(text)
    expect(box).to_have_value("")
    return before


def wait_bot_reply(page: Page, before: int, needles: Sequence[str], timeout: int = BOT_TIMEOUT_MS) -> str:
    """Wait until the bot messages after the first `before` contain any of `needles`; their text."""
    try:
        page.wait_for_function(
            """([before, needles]) => {
                const texts = [...document.querySelectorAll('#messages .msg.bot')].slice(before)
                    .map(e => e.innerText).join('\\n');
                return needles.some(n => texts.includes(n));
            }""",
            arg=[before, list(needles)],
            timeout=timeout,
        )
    except Exception as exc:  # a readable failure: what did the bot say instead?
        raise AssertionError(
            f"no bot answer containing any of {list(needles)} within {timeout} ms; "
            f"bot said: {bot_texts(page)[before:]!r}"
        ) from exc
    return "\n".join(bot_texts(page)[before:])


def stored_session_id(page: Page) -> str:
    return page.evaluate("() => window.xiaodianChat.sessionId()")


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def phone(chromium: Browser) -> Iterator[Page]:
    """A fresh phone-sized page (own cookies and localStorage) that fails the test on script errors."""
    context = chromium.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# ------------------------------------------------- the whole project (stack)


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_product_and_order_status_then_reload_keeps_history(stack, phone: Page):
    order = stack.sample_order
    page = phone
    with screenshot_on_failure(page, "webchat_stack_flow"):
        page.goto(stack.web_url)
        expect(page).to_have_title("小店客服")
        wait_connected(page)

        # a product question gets a price
        before = send(page, "小米的手环多少钱")
        wait_bot_reply(page, before, ("¥", "元"))
        expect(page.locator("#typing")).to_be_hidden()

        # order status: order number, then the phone's last four digits
        before = send(page, "查一下我的订单")
        wait_bot_reply(page, before, ASKS_ORDER_NO)
        before = send(page, order.order_no)
        wait_bot_reply(page, before, ASKS_PHONE_LAST4)
        before = send(page, order.phone_last4)
        wait_bot_reply(page, before, (order.status_label,))

        history = transcript(page)
        session_id = stored_session_id(page)
        assert [t for who, t in history if who == "user"] == [
            "小米的手环多少钱", "查一下我的订单", order.order_no, order.phone_last4,
        ]

        # a reload shows the same conversation and keeps the session
        page.reload()
        expect(page.locator("#messages .msg")).to_have_count(len(history))
        assert transcript(page) == history
        assert stored_session_id(page) == session_id
        wait_connected(page)
        expect(page.locator("#send")).to_be_disabled()  # empty input

        # Rasa holds the same conversation under the page's session id
        query = urllib.parse.urlencode({"token": stack.stack.api_token})
        tracker_url = f"{stack.rasa_url.rstrip('/')}/conversations/{session_id}/tracker?{query}"
        with urllib.request.urlopen(tracker_url, timeout=10) as resp:
            tracker = json.load(resp)
        said = [e.get("text") for e in tracker.get("events", []) if e.get("event") == "user"]
        assert "查一下我的订单" in said and order.order_no in said


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_purged_conversation_is_forgotten_by_the_page(stack, phone: Page):
    """A shopper asks the shop to delete their data: the page that held the conversation clears it on the next visit."""
    from tests.security.test_personal_data import run_purge

    page = phone
    with screenshot_on_failure(page, "webchat_purged"):
        page.goto(stack.web_url)
        wait_connected(page)
        before = send(page, "小米的手环多少钱")
        wait_bot_reply(page, before, ("¥", "元"))
        session_id = stored_session_id(page)
        assert page.locator("#messages .msg").count() >= 2

        report = run_purge(stack, "--conversation", session_id)
        assert session_id in report["conversations"] and report["removed"]["conversations"] == 1

        page.reload()
        wait_connected(page)
        expect(page.locator("#messages .msg")).to_have_count(0)
        assert stored_session_id(page) != session_id
        stored = page.evaluate("() => window.localStorage.getItem('xiaodian-webchat:v1')") or ""
        assert "小米的手环多少钱" not in stored and session_id not in stored


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_an_agents_messages_reach_the_page_live_and_after_it_was_closed(stack, chromium: Browser):
    """Hand-off in the browser: the shopper asks for a person, an agent answers (pushed over Socket.IO), the
    page is closed while the agent writes again, and the reopened page shows that message once."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import redis

    from bot.handoff.desk import AgentDesk
    from bot.handoff.outbound import Outbound
    from bot.handoff.presence import Status, heartbeat
    from bot.handoff.queue import AgentProfile, HandoffQueue
    from bot.handoff.transcript import RasaTranscript

    def run(coroutine: Any) -> Any:  # Playwright's sync API holds this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    client = redis.Redis.from_url(stack.stack.redis.url)
    queue = HandoffQueue(client)
    queue.register(AgentProfile("web-agent", "小周", ("presales", "orders", "aftersales", "complaints"), 50))
    desk = AgentDesk(queue, Outbound(client, 3600), RasaTranscript(stack.rasa_url, stack.stack.api_token),
                     stack.backend)
    context = chromium.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    try:
        with screenshot_on_failure(page, "webchat_handoff"):
            page.goto(stack.web_url)
            wait_connected(page)
            before = send(page, "转人工")
            wait_bot_reply(page, before, ("正在为您转接",))
            session_id = stored_session_id(page)

            before = page.locator("#messages .msg.bot").count()
            heartbeat(client, "web-agent", Status.ONLINE, grace_seconds=120)  # the console's dispatch assigns it
            wait_bot_reply(page, before, ("我是人工客服小周",))
            expect(page.locator("[data-testid=msg-agent]").last).to_have_text("人工客服 小周")

            before = send(page, "<img src=x onerror=alert(1)>我的订单还没发货")
            page.wait_for_timeout(500)
            assert page.locator("#messages .msg.bot").count() == before  # the bot keeps quiet
            page.close()  # the shopper leaves; the agent answers meanwhile
            run(desk.send("web-agent", "小周", session_id, "已帮您催仓库，今天发出"))

            page = context.new_page()
            page.goto(stack.web_url)
            wait_connected(page)
            expect(page.locator("#messages .msg.bot").last).to_contain_text("已帮您催仓库，今天发出",
                                                                          timeout=BOT_TIMEOUT_MS)
            page.wait_for_timeout(500)
            assert sum("已帮您催仓库" in t for t in bot_texts(page)) == 1  # once, however it was delivered
            run(desk.close("web-agent", session_id, "solved"))
            expect(page.locator("#messages .msg.bot").last).to_contain_text("打个分", timeout=BOT_TIMEOUT_MS)
            before = page.locator("#messages .msg.bot").count()
            page.locator(".quick-reply", has_text="5 分").last.click()
            wait_bot_reply(page, before, ("感谢您的五星好评",))
    finally:
        context.close()
        for conversation in queue.chats_of("web-agent"):
            run(desk.close("web-agent", conversation, "solved"))
        client.delete("shop:handoff:alive:web-agent")


# ----------------------------------------------------- Rasa is not reachable


@pytest.mark.timeout(120)
def test_banner_when_rasa_is_unreachable(phone: Page):
    dead_rasa = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    page = phone
    with web_server(dead_rasa) as url, screenshot_on_failure(page, "webchat_dead_rasa"):
        page.goto(url)
        banner = page.locator("#status-banner")
        expect(banner).to_be_visible(timeout=CONNECT_TIMEOUT_MS)
        expect(banner).to_contain_text(BANNER_TEXT)
        expect(page.locator("#conn-status")).to_have_attribute("data-state", "offline")

        # sending is off while away, and the draft is kept
        box = page.locator("#input")
        box.fill("我的快递到哪了")
        expect(page.locator("#send")).to_be_disabled()
        box.press("Enter")
        expect(box).to_have_value("我的快递到哪了")
        expect(page.locator("#messages .msg")).to_have_count(0)
        expect(banner).to_be_visible()


# ------------------------------------------ the page against a fake Rasa server

FAKE_RASA = textwrap.dedent(
    r'''
    """Speaks the shop's socketio channel (a session token binds each connection) with canned answers."""
    import asyncio, os, sys
    import socketio
    from aiohttp import web
    from bot.guard.identity import SessionTokens

    tokens = SessionTokens(os.environ["SHOP_SESSION_KEY"], 3600)

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app, socketio_path="/socket.io/")
    turns = {}

    async def health(_):
        return web.json_response({"status": "ok"})

    app.router.add_get("/", health)

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        session_id = tokens.session_of((auth or {}).get("token"))
        if session_id is None:
            raise ConnectionRefusedError("no session token")
        await sio.save_session(sid, {"session_id": session_id})
        await sio.enter_room(sid, session_id)

    @sio.on("session_request")
    async def session_request(sid, data):
        await sio.emit("session_confirm", (await sio.get_session(sid))["session_id"], room=sid)

    @sio.on("user_uttered")
    async def user_uttered(sid, data):
        session_id = (await sio.get_session(sid))["session_id"]
        if data.get("session_id") != session_id:
            await sio.emit("error", {"message": "another conversation"}, room=sid)
            return
        text = data.get("message", "")
        turns[session_id] = turns.get(session_id, 0) + 1

        async def say(message):
            await sio.emit("bot_uttered", message, room=session_id)

        if text == "选项":
            await say({"text": "请选择您要办理的业务：", "quick_replies": [
                {"content_type": "text", "title": "查询订单", "payload": "/check_order"},
                {"content_type": "text", "title": "申请退货", "payload": "/request_return"}]})
        elif text == "按钮":
            await say({"text": "是否需要发票？", "buttons": [
                {"title": "需要", "payload": "/affirm"}, {"title": "不需要", "payload": "/deny"}]})
        elif text == "多行":
            await say({"text": "第一行\n第二行\n第三行"})
        elif text == "注入":
            await say({"text": "<img src=x onerror=\"window.__pwned=1\"><b>粗体</b>"})
        elif text == "慢":
            await asyncio.sleep(2)
            await say({"text": "久等了"})
        elif text == "拒收":  # how the shop's channel answers a message it refuses
            await sio.emit("error", {"message": "message refused"}, room=sid)
        elif text == "轮次":
            await say({"text": "本会话第 %d 轮" % turns[session_id]})
        else:
            await say({"text": "收到：" + text})

    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
    '''
)


class FakeRasa:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = _start([sys.executable, "-c", FAKE_RASA, str(self.port)], self.url + "/", "fake Rasa")

    def stop(self) -> None:
        """Kill it outright, like a crashed server (open sockets just drop)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def fake_rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fake_web_url(fake_rasa: FakeRasa) -> Iterator[str]:
    with web_server(fake_rasa.url) as url:
        yield url


@pytest.fixture
def fake_page(fake_rasa: FakeRasa, fake_web_url: str, phone: Page) -> Page:
    """A fresh phone page (empty localStorage) connected to the fake Rasa."""
    if fake_rasa.proc is None or fake_rasa.proc.poll() is not None:
        fake_rasa.start()  # a failed test may have left it stopped
    phone.goto(fake_web_url)
    wait_connected(phone)
    return phone


@pytest.mark.timeout(120)
def test_text_keeps_line_breaks_and_is_never_html(fake_page: Page):
    page = fake_page
    before = send(page, "多行")
    wait_bot_reply(page, before, ("第三行",))
    assert bot_texts(page)[-1] == "第一行\n第二行\n第三行"
    box = page.locator("#messages .msg.bot").last.bounding_box()
    assert box and box["height"] > 60, "three lines should render as three lines"

    before = send(page, "注入")
    wait_bot_reply(page, before, ("<b>粗体</b>",))
    assert page.locator("#messages .msg img, #messages .msg b").count() == 0
    assert page.evaluate("() => window.__pwned") is None

    # what the shopper types is text too
    before = send(page, "<i>斜体</i>")
    wait_bot_reply(page, before, ("收到：<i>斜体</i>",))
    assert page.locator("#messages .msg i").count() == 0


@pytest.mark.timeout(120)
def test_quick_replies_send_payload_show_title_and_go_away(fake_page: Page):
    page = fake_page
    before = send(page, "选项")
    wait_bot_reply(page, before, ("请选择",))
    replies = page.locator(".quick-reply")
    expect(replies).to_have_count(2)
    expect(replies.first).to_have_text("查询订单")

    before = page.locator("#messages .msg.bot").count()
    replies.first.click()
    expect(page.locator("#messages .msg.user").last).to_have_text("查询订单")  # the title, not the payload
    expect(page.locator(".quick-reply")).to_have_count(0)
    wait_bot_reply(page, before, ("收到：/check_order",))  # the payload went to the bot

    # Rasa's {buttons: [...]} form works the same; typing instead also clears them
    before = send(page, "按钮")
    wait_bot_reply(page, before, ("发票",))
    expect(page.locator(".quick-reply")).to_have_count(2)
    send(page, "随便说点")
    expect(page.locator(".quick-reply")).to_have_count(0)
    assert "/check_order" not in [t for who, t in transcript(page) if who == "user"]


@pytest.mark.timeout(120)
def test_enter_empty_input_limit_and_typing_indicator(fake_page: Page):
    page = fake_page
    box = page.locator("#input")

    # empty or blank input sends nothing
    box.press("Enter")
    box.fill("   ")
    expect(page.locator("#send")).to_be_disabled()
    box.press("Enter")
    expect(page.locator("#messages .msg")).to_have_count(0)

    # 500 characters at most, with a counter
    box.fill("")
    box.press_sequentially("你好")
    expect(page.locator("#counter")).to_have_text("2/500")
    box.fill("好" * 600)
    assert len(box.input_value()) == 500
    expect(page.locator("#counter")).to_have_text("500/500")

    # Shift+Enter is a new line, Enter sends; the typing indicator shows until the answer
    box.fill("")
    box.press_sequentially("慢")
    expect(page.locator("#typing")).to_be_hidden()
    box.press("Enter")
    expect(page.locator("#typing")).to_be_visible()
    expect(page.locator("#messages .msg.bot").last).to_have_text("久等了", timeout=BOT_TIMEOUT_MS)
    expect(page.locator("#typing")).to_be_hidden()

    # a message the server refuses: a notice instead of an endless typing indicator
    box.fill("拒收")
    box.press("Enter")
    expect(page.locator(".notice")).to_be_visible(timeout=BOT_TIMEOUT_MS)
    expect(page.locator("#typing")).to_be_hidden()

    box.press_sequentially("第一行")
    box.press("Shift+Enter")
    box.press_sequentially("第二行")
    expect(box).to_have_value("第一行\n第二行")
    page.locator("#send").click()
    expect(page.locator("#messages .msg.user").last).to_have_text("第一行\n第二行")


@pytest.mark.timeout(120)
def test_reload_keeps_session_and_new_chat_starts_over(fake_page: Page):
    page = fake_page
    send(page, "轮次")
    expect(page.locator("#messages .msg.bot").last).to_have_text("本会话第 1 轮", timeout=BOT_TIMEOUT_MS)
    session_id = stored_session_id(page)
    history = transcript(page)

    page.reload()
    expect(page.locator("#messages .msg")).to_have_count(len(history))
    assert transcript(page) == history
    wait_connected(page)
    assert stored_session_id(page) == session_id
    send(page, "轮次")  # the server sees the same session go on
    expect(page.locator("#messages .msg.bot").last).to_have_text("本会话第 2 轮", timeout=BOT_TIMEOUT_MS)

    page.locator("#new-chat").click()
    expect(page.locator("#messages .msg")).to_have_count(0)
    wait_connected(page)
    assert stored_session_id(page) != session_id
    send(page, "轮次")
    expect(page.locator("#messages .msg.bot").last).to_have_text("本会话第 1 轮", timeout=BOT_TIMEOUT_MS)
    expect(page.locator("#messages .msg")).to_have_count(2)

    page.reload()
    expect(page.locator("#messages .msg")).to_have_count(2)


@pytest.mark.timeout(180)
def test_banner_while_server_away_then_gone_on_reconnect(fake_rasa: FakeRasa, fake_page: Page):
    page = fake_page
    banner = page.locator("#status-banner")
    box = page.locator("#input")
    before = send(page, "在吗")
    wait_bot_reply(page, before, ("收到：在吗",))

    fake_rasa.stop()
    expect(banner).to_be_visible(timeout=CONNECT_TIMEOUT_MS)
    expect(banner).to_have_text("连接已断开，正在重新连接…")
    box.fill("断线时写的草稿")
    expect(page.locator("#send")).to_be_disabled()
    box.press("Enter")
    expect(box).to_have_value("断线时写的草稿")
    expect(page.locator("#messages .msg.user")).to_have_count(1)

    fake_rasa.start()  # same port
    expect(banner).to_be_hidden(timeout=CONNECT_TIMEOUT_MS)
    expect(page.locator("#send")).to_be_enabled()
    box.press("Enter")
    expect(page.locator("#messages .msg.bot").last).to_have_text("收到：断线时写的草稿", timeout=BOT_TIMEOUT_MS)
