#!/usr/bin/env python
"""The Telegram channel's cost: the same turns through Telegram's protocol and over REST, in one run.

    python bench/bench_channel_telegram.py            # about 4-6 minutes on 2 CPUs
    python bench/bench_channel_telegram.py --quick    # fewer turns

One stack (Redis, action server, Rasa with the REST and the Telegram channels, webhook mode) and the Bot API
stand-in (tests/fakes/telegram_api.py) in this process, playing Telegram. A Telegram turn: the update is POSTed
to `/webhooks/telegram/webhook` with the secret header, as Telegram does, and it ends when the bot's last
`sendMessage`/`sendPhoto` of that turn reaches the stand-in. A REST turn: `POST /webhooks/rest/webhook` with the
API key until its answer. Both replay the scripted shop conversations of bench/conversations.py (each
conversation its own chat / sender), in alternating rounds so a slow spell of the machine hits both:

1. one shopper at a time, each turn sent on both channels back to back (the first alternates): latency p50 /
   p99 of each channel, the Telegram overhead on p50, and the median of the pairs' Telegram/REST ratios, which a
   busy shared machine disturbs least (target: at most +10 %);
2. 20 shoppers at once: turns a second and latency of each channel.
Not a test: it prints figures and writes .state/bench/channel_telegram.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from bench import conversations as convs  # noqa: E402
from bench.common import CpuMeter, Phase, alternating_rounds, cpu_line, paired_serial, run_phase  # noqa: E402
from bot.config import PROJECT_ROOT, load_settings  # noqa: E402
from bot.runtime.runner import Stack  # noqa: E402
from bot.shop import ensure_database  # noqa: E402
from bot.tools.train import model_path  # noqa: E402
from tests.fakes.telegram_api import SECRET_HEADER, TelegramApiStandIn  # noqa: E402

TOKEN = "7770001:bench-shop-bot"
SECRET = "bench-secret_0123456789"
CONCURRENCY = 20


class Channels:
    """How a shopper's turn is sent and timed on each channel."""

    def __init__(self, stack: Stack, telegram: TelegramApiStandIn, run_id: str) -> None:
        self.stack = stack
        self.cpu = CpuMeter.of_stack(stack)
        self.telegram = telegram
        self.run_id = run_id
        self.webhook = f"http://127.0.0.1:{stack.rasa_port}/webhooks/telegram/webhook"
        self.update_id = 0
        self.chat_base = 5_000_000_000 + (uuid.uuid4().int % 10**6) * 1000

    async def rest_turn(self, session: aiohttp.ClientSession, conversation: int, text: str, phase: Phase) -> None:
        sender = f"bench-{self.run_id}-{conversation}"
        started = time.perf_counter()
        try:
            async with session.post(self.stack.rest_url, json={"sender": sender, "message": text},
                                    headers={"Authorization": f"Bearer {self.stack.api_key}"}) as reply:
                body = await reply.read()
                elapsed = (time.perf_counter() - started) * 1000
                if reply.status != 200:
                    phase.errors[f"HTTP {reply.status}"] = phase.errors.get(f"HTTP {reply.status}", 0) + 1
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            phase.errors[type(error).__name__] = phase.errors.get(type(error).__name__, 0) + 1
            return
        phase.latencies_ms.append(elapsed)
        phase.silent += not json.loads(body)

    async def telegram_turn(self, session: aiohttp.ClientSession, conversation: int, text: str, phase: Phase
                            ) -> None:
        chat_id = self.chat_base + conversation
        self.update_id += 1
        user = {"id": chat_id, "is_bot": False, "first_name": "顾客", "language_code": "zh-hans"}
        update = {"update_id": self.update_id, "message": {
            "message_id": self.update_id, "date": int(time.time()), "text": text, "from": user,
            "chat": {"id": chat_id, "type": "private", "first_name": "顾客"}}}
        mark = self.telegram.mark()
        started = time.monotonic()  # the stand-in stamps its calls with time.monotonic() too
        try:
            async with session.post(self.webhook, json=update, headers={SECRET_HEADER: SECRET}) as reply:
                await reply.read()
                returned = time.monotonic()
                if reply.status != 200:
                    phase.errors[f"HTTP {reply.status}"] = phase.errors.get(f"HTTP {reply.status}", 0) + 1
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            phase.errors[type(error).__name__] = phase.errors.get(type(error).__name__, 0) + 1
            return
        # The channel answers the webhook after the turn: every answer of it is recorded by now.
        answers = [c for c in self.telegram.calls(since=mark) if c.chat_id == chat_id
                   and c.method in ("sendMessage", "sendPhoto")]
        if not answers:
            phase.silent += 1
        phase.latencies_ms.append(((max(c.at for c in answers) if answers else returned) - started) * 1000)


async def measure(channels: Channels, mix: Callable[[int], convs.Conversation], quick: bool) -> dict[str, Any]:
    serial_turns = 80 if quick else 300
    # 20 shoppers: (turns a round, rounds), short rounds alternating which channel goes first.
    plan = {CONCURRENCY: (80, 2)} if quick else {CONCURRENCY: (120, 4)}
    conversation = 0

    async def phase(channel: str, concurrency: int, turns: int) -> Phase:
        nonlocal conversation
        turn = channels.telegram_turn if channel == "telegram" else channels.rest_turn
        result = await run_phase(turn, channel, mix, concurrency, turns, conversation, channels.cpu)
        conversation += turns + concurrency  # fresh conversations (and chats) for every phase
        return result

    for channel in ("telegram", "rest"):  # warm-up, not counted
        await phase(channel, 4, 40)
    results: dict[str, Any] = {}
    telegram, rest, pair_ratios = await paired_serial("telegram", channels.telegram_turn, channels.rest_turn, mix,
                                                      serial_turns, conversation)
    conversation += serial_turns + 1
    results["c1"] = {"telegram": telegram.summary(), "rest": rest.summary(),
                     "p50_ratio_median": round(statistics.median(pair_ratios), 3),
                     "pairs": len(pair_ratios)}
    for concurrency, (turns, rounds) in plan.items():
        results[f"c{concurrency}"] = await alternating_rounds("telegram", phase, concurrency, turns, rounds)
    return results


def credentials_with_telegram(path: Path) -> Path:
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    credentials["connectors.telegram.ShopTelegramInput"] = None
    path.write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / ".state" / "bench" / "channel_telegram.json")
    args = parser.parse_args()
    settings = load_settings()
    model = model_path(settings.models_dir)
    if not model.exists():
        print(f"no model at {model}: run `make model`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as tmp, \
            TelegramApiStandIn(strict_chats=False) as telegram:
        state = Path(tmp)
        telegram.add_bot(TOKEN, username="BenchShopBot")
        stack = Stack.from_settings(settings, model, free_ports=True, web=False)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.credentials_file = credentials_with_telegram(state / "credentials.yml")
        stack.extra_env = {"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                           "TELEGRAM_PUBLIC_URL": f"http://127.0.0.1:{stack.rasa_port}",
                           "TELEGRAM_API_URL": telegram.url}  # conversations of <= 8 turns: under the rate limit
        ensure_database(stack.shop_db)
        mix = convs.shop_mix(convs.load_orders(stack.shop_db))
        print("==> starting the stack (Rasa with the REST and Telegram channels) ...", flush=True)
        load_before = os.getloadavg()
        with stack:
            telegram.wait_for_call("setWebhook", timeout=120)
            channels = Channels(stack, telegram, uuid.uuid4().hex[:8])
            results = asyncio.run(measure(channels, mix, args.quick))
        load_after = os.getloadavg()
    serial, loaded = results["c1"], results[f"c{CONCURRENCY}"]
    overhead = (serial["telegram"]["p50_ms"] / serial["rest"]["p50_ms"] - 1) * 100
    print(f"\n{'':22}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'turns/s':>9}  errors / silent")
    for label, figures in (("c=1", serial), (f"c={CONCURRENCY}", loaded)):
        for channel in ("rest", "telegram"):
            s = figures[channel]
            print(f"{label + ' ' + channel:22}{s['p50_ms']:9.1f}{s['p99_ms']:9.1f}{s['mean_ms']:9.1f}"
                  f"{s['turns_per_s'] or 0:9.2f}  {s['errors'] or '-'} / {s['silent_turns']}")
    throughput = (loaded["telegram"]["turns_per_s"] / loaded["rest"]["turns_per_s"] - 1) * 100
    paired = (serial["p50_ratio_median"] - 1) * 100
    print(f"\nTelegram overhead on p50 at c=1: {overhead:+.1f} % (p50 against p50); median of the "
          f"{serial['pairs']} same-turn pairs' ratios {paired:+.1f} % (target at most +10 %)")
    print(f"Telegram p50 at c={CONCURRENCY}: {(loaded['telegram']['p50_ms'] / loaded['rest']['p50_ms'] - 1) * 100:+.1f} %, "
          f"throughput {throughput:+.1f} % vs REST")
    print(cpu_line(loaded, "telegram", ", and for Telegram the Bot API stand-in"))
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick,
                                       "results": results, "p50_overhead_percent_c1": round(overhead, 1),
                                       "p50_overhead_percent_c1_paired": round(paired, 1),
                                       "throughput_change_percent_c20": round(throughput, 1),
                                       "load_average": [load_before[0], load_after[0]]}, indent=2),
                           encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
