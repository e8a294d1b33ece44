"""The agents' console in a real headless Chromium, against the whole project (the `stack` fixture: Redis, Rasa,
the action server), so a claim reads the real tracker through Rasa's API and an agent's reply lands in the real
outbox. Two agents work at once, each in their own browser context (own cookies).

The console is the stack's own (`stack.console_url`), started by the Stack as `make run` starts it.

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM_PATH``); Playwright never downloads a browser here.
"""
from __future__ import annotations

import os
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from bot.config import PROJECT_ROOT
from bot.desk.accounts import Account, AccountStore
from bot.handoff.desk import RATING_QUESTION
from bot.handoff.outbound import Outbound
from bot.handoff.queue import Escalation, HandoffQueue

pytestmark = [pytest.mark.browser, pytest.mark.stack]

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOT_DIR = PROJECT_ROOT / "results" / "screenshots"
PASSWORD = "browser-desk-pw"
TIMEOUT_MS = 30_000
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


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


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def console_url(stack) -> Iterator[str]:
    """The stack's console, with two agents' accounts in the stack's state directory."""
    running = stack.stack
    store = AccountStore.in_state_dir(running.state_dir)
    for account in (Account.new("wang", "小王", PASSWORD, groups=["orders"], limit=2),
                    Account.new("li", "小李", PASSWORD, groups=["orders"], limit=2)):
        if store.get(account.login) is None:
            store.add(account)
    assert running.console_url, "make run (and the test stack) start the console"
    yield str(running.console_url).rstrip("/")


@pytest.fixture()
def handoff(stack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.stack.redis.url)
    yield client
    client.close()


@contextmanager
def agent_page(chromium: Browser, name: str) -> Iterator[Page]:
    """A desktop page in its own browser context that fails the test on script errors; a screenshot on failure."""
    context: BrowserContext = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    except BaseException:
        try:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / f"console_{name}.png"), full_page=True)
        except Exception:
            pass
        raise
    finally:
        context.close()
    assert not errors, f"JavaScript errors on {name}'s console: {errors}"


def log_in(page: Page, url: str, login: str, password: str = PASSWORD) -> None:
    page.goto(url)
    expect(page.locator("#login-view")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator("#login-name").fill(login)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()


def wait_for(check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.mark.timeout(300)
def test_login_refused_with_a_wrong_password(console_url: str, chromium: Browser) -> None:
    with agent_page(chromium, "wrong_password") as page:
        log_in(page, console_url, "wang", "not-the-password")
        expect(page.locator("#login-error")).to_have_text("登录名或密码错误", timeout=TIMEOUT_MS)
        expect(page.locator("#console-view")).to_be_hidden()
        assert page.context.cookies() == []


@pytest.mark.timeout(300)
def test_two_agents_work_the_queue_at_once(stack, console_url: str, chromium: Browser, handoff: redis.Redis) -> None:
    queue, outbound = HandoffQueue(handoff), Outbound(handoff, 3600)
    shoppers = {f"desk-{uuid.uuid4().hex[:10]}": text for text in ("我的快递怎么还没到", "帮我查一下物流")}
    for sender, text in shoppers.items():  # a real conversation with the bot first: the transcript the agent sees
        stack.say(sender, text)

    with agent_page(chromium, "wang") as wang, agent_page(chromium, "li") as li:
        for page, login in ((wang, "wang"), (li, "li")):
            log_in(page, console_url, login)
            expect(page.locator("#console-view")).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#conn-state")).to_have_attribute("data-state", "online", timeout=TIMEOUT_MS)
            expect(page.locator("#status-online")).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT_MS)

        for sender, text in shoppers.items():  # one at a time, as in test_server (a dispatch pass's race)
            queue.enqueue(Escalation(sender, "orders", "shopper_request", 1, "rest", 0.5,
                                     {"last_message": XSS + text}))
            wait_for(lambda: not queue.waiting("orders"), what="a dispatch")
            time.sleep(0.5)

        # each agent gets one of the two, not the same one
        held: dict[str, str] = {}
        for name, page in (("wang", wang), ("li", li)):
            expect(page.locator("#my-chats .chat-item")).to_have_count(1, timeout=TIMEOUT_MS)
            held[name] = page.locator("#my-chats .chat-item").first.get_attribute("data-conv") or ""
        assert set(held.values()) == set(shoppers)

        # the claim shows the context: the shopper's words with their intent, the reason, the last message as text
        conv = held["wang"]
        expect(wang.locator("#messages .msg.shopper .bubble").first).to_have_text(shoppers[conv], timeout=TIMEOUT_MS)
        expect(wang.locator("#messages .msg.shopper .nlu").first).to_contain_text("意图")
        expect(wang.locator("#messages .msg.agent").first).to_contain_text("人工客服小王")  # the greeting
        expect(wang.locator("#ctx-escalation")).to_contain_text("顾客要求人工")
        expect(wang.locator("#ctx-escalation")).to_contain_text(XSS + shoppers[conv])

        # the shopper writes HTML (the ownership gate keeps it from the bot and passes it on): text, nothing runs
        stack.say(conv, XSS)
        expect(wang.locator("#messages .msg.shopper .bubble").last).to_have_text(XSS, timeout=TIMEOUT_MS)
        assert wang.locator("#chat img, #chat script, #context-pane img").count() == 0
        assert wang.evaluate("() => window.__pwned") is None

        # a canned reply, then the agent's own words, reach the shopper's outbox
        wang.locator(".canned-btn", has_text="请稍等").click()
        expect(wang.locator("#reply")).to_have_value("好的，我这边帮您查询一下，请您稍等 1～2 分钟哦～")
        wang.locator("#reply").fill("您好，包裹已到您所在城市，预计明天送达～")
        wang.locator("#reply").press("Enter")
        expect(wang.locator("#messages .msg.agent .bubble").last).to_have_text("您好，包裹已到您所在城市，预计明天送达～",
                                                                              timeout=TIMEOUT_MS)
        wait_for(lambda: any(m["text"] == "您好，包裹已到您所在城市，预计明天送达～" and m["from"] == "agent"
                             for _, m in outbound.since(conv)), what="the reply in the outbox")

        # transfer: wang hands the chat to li, who now holds both
        wang.locator("#transfer-target").select_option("agent:li")
        wang.locator("#transfer").click()
        expect(wang.locator("#my-chats .chat-item")).to_have_count(0, timeout=TIMEOUT_MS)
        expect(li.locator("#my-chats .chat-item")).to_have_count(2, timeout=TIMEOUT_MS)
        expect(li.locator(f'#my-chats .chat-item[data-conv="{conv}"]')).to_be_visible()
        assert queue.chats_of("li") == sorted(shoppers)

        # close: li ends it as solved; the shopper is asked for a rating, the bot has the conversation again
        li.locator(f'#my-chats .chat-item[data-conv="{conv}"]').click()
        expect(li.locator("#chat-pane")).to_have_attribute("data-conv", conv)
        expect(li.locator("#messages .msg.shopper .bubble").last).to_have_text(XSS, timeout=TIMEOUT_MS)
        li.locator("#resolution").select_option("solved")
        li.locator("#close-chat").click()
        expect(li.locator("#my-chats .chat-item")).to_have_count(1, timeout=TIMEOUT_MS)
        wait_for(lambda: outbound.since(conv)[-1][1]["text"] == RATING_QUESTION, what="the rating question")
        assert queue.escalation(conv) == {} and queue.chats_of("li") == [held["li"]]

        for page in (wang, li):  # log out: li's last chat goes back to the queue at once
            page.locator("#logout").click()
            expect(page.locator("#login-view")).to_be_visible(timeout=TIMEOUT_MS)
        assert queue.waiting("orders") == [held["li"]]
        queue.withdraw(held["li"], "test over")
