#!/usr/bin/env python
"""What the WeChat channel adds to a turn: the same scripted turns through WeChat's protocol and over REST.

    python bench/bench_channel_wechat.py            # ~3-4 min
    python bench/bench_channel_wechat.py --quick    # smaller counts
    python bench/bench_channel_wechat.py --layer    # the channel layer alone (no model, ~10 s)

One stack (bot.runtime.runner.Stack, as `make run`: Redis, action server, Rasa)
with the WeChat channel enabled through a temporary credentials file and its API
pointed at the WeChat stand-in (tests/fakes/wechat_server.py). A WeChat turn is
what WeChat's server does: a signed XML callback POSTed to
/webhooks/wechat/webhook, timed until the passive XML reply is read; a REST turn
is POST /webhooks/rest/webhook with the API key. Both replay the same scripted
conversations (bench/conversations.py), each channel with its own shoppers.

- c=1: turn by turn, alternating which channel goes first, so each pair sees the
  same moment of the machine: p50/p99 of each, the overhead on p50 (target: at most
  +10 %) and the median of the paired differences.
- c=20: 20 shoppers at once, in rounds alternating the channels: turns a second,
  p50/p99, and how many WeChat answers missed the passive window (sent by the
  customer-service API instead).

Prints a table and writes .state/bench/wechat_channel.json. All traffic stays on
127.0.0.1; every process started here is stopped on exit or Ctrl-C.

`--layer`: no Rasa. The channel's blueprint and a REST-like route (screening,
rate limit, `connectors.deliver`) on one Sanic server in this process, with a bot
that answers at once and an embedded Redis: the p50 of each over alternating
turns, and the Redis commands a WeChat turn costs (`INFO commandstats`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import aiohttp  # noqa: E402
import conversations as convs  # noqa: E402

from bench.common import CpuMeter, cpu_line, cpu_ms_per_turn  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.runtime.runner import Stack  # noqa: E402
from bot.shop import ensure_database  # noqa: E402
from bot.tools.train import model_path  # noqa: E402
from tests.fakes.wechat_server import (  # noqa: E402
    WeChatServerStandIn,
    credentials_with_wechat,
    read_reply,
    signed_params,
    text_xml,
    wechat_env,
)

CONCURRENCY = 20
TIMEOUT = 60.0


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    errors: int = 0
    not_passive: int = 0  # WeChat: answered "success" (the answer went by the API)

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    def pct(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


class Channels:
    def __init__(self, stack: Stack, wechat: WeChatServerStandIn, session: aiohttp.ClientSession) -> None:
        self.stack, self.wechat, self.session = stack, wechat, session
        self.wechat_url = f"{stack.rasa_url}/webhooks/wechat/webhook"

    async def rest(self, sender: str, text: str) -> tuple[float, bool]:
        started = time.perf_counter()
        async with self.session.post(self.stack.rest_url, json={"sender": sender, "message": text},
                                     headers={"Authorization": f"Bearer {self.stack.api_key}"}) as reply:
            answer = await reply.json()
        seconds = time.perf_counter() - started
        return seconds, reply.status == 200 and bool(answer)

    async def wechat_turn(self, openid: str, text: str) -> tuple[float, bool]:
        """One callback as WeChat sends it: (seconds until the reply was read, whether it was a passive answer)."""
        body = text_xml(openid, text).encode()
        started = time.perf_counter()
        async with self.session.post(self.wechat_url, params=signed_params(self.wechat.token, openid), data=body,
                                     headers={"Content-Type": "text/xml"}) as reply:
            raw = await reply.text()
        seconds = time.perf_counter() - started
        if reply.status != 200:
            raise RuntimeError(f"WeChat callback answered {reply.status}: {raw[:200]}")
        return seconds, read_reply(raw) is not None


async def replay(channel: str, channels: Channels, conversation: convs.Conversation, shopper: str,
                 samples: Samples) -> None:
    for turn in conversation.turns:
        try:
            if channel == "rest":
                seconds, ok = await channels.rest(shopper, turn.text)
            else:
                seconds, ok = await channels.wechat_turn(shopper, turn.text)
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ValueError):
            samples.errors += 1
            continue
        samples.add(seconds)
        if channel == "wechat" and not ok:
            samples.not_passive += 1


def shopper(channel: str) -> str:
    return f"bench-{uuid.uuid4().hex[:12]}" if channel == "rest" else "obench" + uuid.uuid4().hex[:22]


async def paired_c1(channels: Channels, mix: Callable[[int], convs.Conversation], count: int,
                    start: int) -> tuple[Samples, Samples, list[float]]:
    """Both channels replay conversation i turn by turn, alternating which goes first: paired samples."""
    rest, wechat = Samples(), Samples()
    diffs: list[float] = []
    for i in range(start, start + count):
        conversation = mix(i)
        rest_id, wechat_id = shopper("rest"), shopper("wechat")
        for n, turn in enumerate(conversation.turns):
            one = convs.Conversation(conversation.name, (turn,))
            before = (len(rest.seconds), len(wechat.seconds))
            order = ("rest", "wechat") if (i + n) % 2 == 0 else ("wechat", "rest")
            for channel in order:
                await replay(channel, channels, one, rest_id if channel == "rest" else wechat_id,
                             rest if channel == "rest" else wechat)
            if (len(rest.seconds), len(wechat.seconds)) == (before[0] + 1, before[1] + 1):
                diffs.append(wechat.seconds[-1] - rest.seconds[-1])
    return rest, wechat, diffs


async def concurrent(channel: str, channels: Channels, mix: Callable[[int], convs.Conversation], count: int,
                     start: int, samples: Samples) -> float:
    """`count` conversations over `channel` by CONCURRENCY shoppers at once; the seconds it took."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(start, start + count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await replay(channel, channels, mix(i), shopper(channel), samples)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def measure(stack: Stack, wechat: WeChatServerStandIn, quick: bool) -> dict[str, Any]:
    mix = convs.shop_mix(convs.load_orders(stack.shop_db))
    c1_conversations, c20_conversations, rounds = (25, 60, 2) if quick else (60, 160, 3)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        channels = Channels(stack, wechat, session)
        print("==> warm-up", flush=True)
        await paired_c1(channels, mix, 8, 0)
        await concurrent("wechat", channels, mix, 20, 100, Samples())
        await concurrent("rest", channels, mix, 20, 200, Samples())
        print(f"==> c=1: {c1_conversations} conversations over each channel, turn by turn", flush=True)
        rest1, wechat1, diffs = await paired_c1(channels, mix, c1_conversations, 1000)
        print(f"==> c={CONCURRENCY}: {c20_conversations} conversations over each channel in {rounds} rounds",
              flush=True)
        rest20, wechat20 = Samples(), Samples()
        took = {"rest": 0.0, "wechat": 0.0}
        meter = CpuMeter.of_stack(stack)
        cpu: dict[str, dict[str, float]] = {"rest": {}, "wechat": {}}
        per_round = c20_conversations // rounds
        for r in range(rounds):
            order = ("rest", "wechat") if r % 2 == 0 else ("wechat", "rest")
            for channel in order:
                before = meter.read()
                took[channel] += await concurrent(channel, channels, mix, per_round, 5000 + r * 1000 + len(channel),
                                                  rest20 if channel == "rest" else wechat20)
                for name, seconds in meter.since(before).items():
                    cpu[channel][name] = cpu[channel].get(name, 0.0) + seconds
    result: dict[str, Any] = {"c1": {}, f"c{CONCURRENCY}": {}}
    for name, samples in (("rest", rest1), ("wechat", wechat1)):
        result["c1"][name] = {"turns": len(samples.seconds), "errors": samples.errors,
                              "p50_ms": samples.pct(0.5), "p99_ms": samples.pct(0.99)}
    result["c1"]["wechat"]["not_passive"] = wechat1.not_passive
    result["c1"]["overhead_p50_pct"] = 100 * (wechat1.pct(0.5) / rest1.pct(0.5) - 1)
    result["c1"]["paired_median_diff_ms"] = statistics.median(diffs) * 1000 if diffs else float("nan")
    for name, samples in (("rest", rest20), ("wechat", wechat20)):
        result[f"c{CONCURRENCY}"][name] = {
            "turns": len(samples.seconds), "errors": samples.errors, "turns_per_second": len(samples.seconds) / took[name],
            "p50_ms": samples.pct(0.5), "p99_ms": samples.pct(0.99), "concurrency": CONCURRENCY,
            "cpu_ms_per_turn": cpu_ms_per_turn(cpu[name], max(1, len(samples.seconds)))}
    result[f"c{CONCURRENCY}"]["wechat"]["not_passive"] = wechat20.not_passive
    result["token_calls"] = wechat.token_calls
    return result


def report(result: dict[str, Any]) -> None:
    c1, cn = result["c1"], result[f"c{CONCURRENCY}"]
    print(f"""
                      REST            WeChat (signed XML -> passive reply)
c=1   turns           {c1['rest']['turns']:<15} {c1['wechat']['turns']} (errors {c1['wechat']['errors']}, not passive {c1['wechat']['not_passive']})
      p50 ms          {c1['rest']['p50_ms']:<15.1f} {c1['wechat']['p50_ms']:.1f}
      p99 ms          {c1['rest']['p99_ms']:<15.1f} {c1['wechat']['p99_ms']:.1f}
      overhead on p50: {c1['overhead_p50_pct']:+.1f} % (target <= +10 %); median paired difference {c1['paired_median_diff_ms']:+.1f} ms
c={CONCURRENCY}  turns/s         {cn['rest']['turns_per_second']:<15.1f} {cn['wechat']['turns_per_second']:.1f}
      p50 ms          {cn['rest']['p50_ms']:<15.1f} {cn['wechat']['p50_ms']:.1f}
      p99 ms          {cn['rest']['p99_ms']:<15.1f} {cn['wechat']['p99_ms']:.1f}
      errors          {cn['rest']['errors']:<15} {cn['wechat']['errors']} (not passive {cn['wechat']['not_passive']})
{cpu_line(cn, "wechat", ", and for WeChat the WeChat servers' stand-in")}
""")


async def measure_layer(redis_url: str, turns: int) -> dict[str, Any]:
    """The channel layer alone: WeChat's callback against a REST-like route, same trivial bot (module docstring)."""
    import dataclasses

    import redis
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from sanic import Sanic, response

    from bot.guard.rate_limit import rate_limiter
    from bot.guard.screening import screen_message
    from bot.runtime.redis_service import free_port
    from connectors.deliver import deliver
    from connectors.wechat import ShopWeChatInput

    async def bot(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": f"你说：{message.text}"})

    with WeChatServerStandIn() as wechat:
        settings = dataclasses.replace(load_settings(), redis_url=redis_url, wechat_app_id=wechat.app_id,
                                       wechat_app_secret=wechat.secret, wechat_token=wechat.token,
                                       wechat_aes_key=None, wechat_api_url=wechat.base_url)
        Sanic.test_mode = True
        app = Sanic(f"wechat_layer_{uuid.uuid4().hex[:8]}")
        app.blueprint(ShopWeChatInput(settings=settings).blueprint(bot), url_prefix="/webhooks/wechat")

        @app.post("/rest")
        async def rest_route(request: Any) -> Any:
            body = request.json
            screened = screen_message(body["message"], 500)
            rate_limiter().allow_message(body["sender"])
            collector = CollectingOutputChannel()
            await deliver(bot, UserMessage(screened.text, collector, body["sender"], input_channel="rest"), request.app)
            return response.json(collector.messages)

        port = free_port()
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        url = f"http://127.0.0.1:{port}"
        counter = redis.Redis.from_url(redis_url)
        try:
            async with aiohttp.ClientSession() as session:
                async def wechat_turn(openid: str, text: str) -> float:
                    body = text_xml(openid, text).encode()
                    started = time.perf_counter()
                    async with session.post(f"{url}/webhooks/wechat/webhook", data=body,
                                            params=signed_params(wechat.token, openid)) as reply:
                        raw = await reply.text()
                    seconds = time.perf_counter() - started
                    if read_reply(raw) is None:
                        raise RuntimeError(f"no passive reply: {raw[:200]}")
                    return seconds

                async def rest_turn(sender: str, text: str) -> float:
                    started = time.perf_counter()
                    async with session.post(f"{url}/rest", json={"sender": sender, "message": text}) as reply:
                        await reply.json()
                    return time.perf_counter() - started

                def calls() -> dict[str, int]:
                    return {k: v["calls"] for k, v in counter.info("commandstats").items()}

                for _ in range(30):  # warm-up
                    await wechat_turn(shopper("wechat"), "你好")
                    await rest_turn(shopper("rest"), "你好")
                before = calls()
                for _ in range(100):
                    await wechat_turn(shopper("wechat"), "你好")
                await asyncio.sleep(0.5)  # what a turn leaves running in the background counts too
                after = calls()
                per_turn = {k[len("cmdstat_"):]: (after[k] - before.get(k, 0)) / 100 for k in after
                            if after[k] - before.get(k, 0) >= 50 and k not in ("cmdstat_info", "cmdstat_auth")}
                rest, wechat_samples = Samples(), Samples()
                for i in range(turns // 3):
                    openid, sender = shopper("wechat"), shopper("rest")
                    for n in range(3):
                        text = f"第{n}句"
                        if (i + n) % 2:
                            wechat_samples.add(await wechat_turn(openid, text))
                            rest.add(await rest_turn(sender, text))
                        else:
                            rest.add(await rest_turn(sender, text))
                            wechat_samples.add(await wechat_turn(openid, text))
        finally:
            counter.close()
            await server.before_stop()
            server.close()
            await server.after_stop()
    return {"turns": len(rest.seconds), "rest_p50_ms": rest.pct(0.5), "wechat_p50_ms": wechat_samples.pct(0.5),
            "difference_p50_ms": wechat_samples.pct(0.5) - rest.pct(0.5), "redis_calls_per_wechat_turn": per_turn}


def layer(turns: int) -> int:
    import tempfile

    from bot.runtime.redis_service import start_embedded

    with tempfile.TemporaryDirectory() as work:
        redis_server = start_embedded(Path(work), persist=False, password="layer")
        os.environ["REDIS_URL"] = redis_server.url  # the rate limiter's Redis
        try:
            result = asyncio.run(measure_layer(redis_server.url, turns))
        finally:
            redis_server.stop()
    print(f"""
channel layer alone ({result['turns']} turns each, alternating, trivial bot):
  REST-like route p50 {result['rest_p50_ms']:.2f} ms, WeChat callback p50 {result['wechat_p50_ms']:.2f} ms, \
difference {result['difference_p50_ms']:+.2f} ms
  Redis commands per WeChat turn: {json.dumps(result['redis_calls_per_wechat_turn'], sort_keys=True)}
""")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--layer", action="store_true",
                        help="the channel layer alone: no Rasa, a trivial bot, Redis commands per turn")
    args = parser.parse_args()
    if args.layer:
        return layer(300 if args.quick else 900)
    settings = load_settings()
    model = model_path(settings.models_dir)
    if not model.exists():
        print(f"no model at {model}: run `make model`", file=sys.stderr)
        return 1
    state = settings.state_dir / "bench" / "wechat"
    state.mkdir(parents=True, exist_ok=True)
    with WeChatServerStandIn() as wechat:
        stack = Stack.from_settings(settings, model, free_ports=True, web=False)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.credentials_file = credentials_with_wechat(state / "credentials.yml")
        stack.extra_env = wechat_env(wechat)
        ensure_database(stack.shop_db)
        print("==> starting the stack with the WeChat channel", flush=True)
        try:
            with stack:
                wechat.callback_url = f"{stack.rasa_url}/webhooks/wechat/webhook"
                result = asyncio.run(measure(stack, wechat, args.quick))
        except KeyboardInterrupt:
            return 130
    report(result)
    out = settings.state_dir / "bench" / "wechat_channel.json"
    out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
