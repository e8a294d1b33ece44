#!/usr/bin/env python
"""The e-mail channel's cost: the same turns through IMAP and SMTP and over REST, in one run.

    python bench/bench_channel_email.py                 # about 5-8 minutes on 2 CPUs
    python bench/bench_channel_email.py --quick         # fewer turns
    python bench/bench_channel_email.py --poll 0.5      # another polling interval (default 0.1 s)
    python bench/bench_channel_email.py --no-idle       # a mailbox without IMAP IDLE: polling only
    python bench/bench_channel_email.py --imap dovecot  # a real IMAP server (Debian's dovecot-imapd)

One stack (Redis, action server, Rasa with the REST and e-mail channels) plus, in this process, the IMAP
stand-in (tests/fakes/imap_server.py) as the service mailbox and an aiosmtpd server as the outgoing SMTP
server. A mail turn starts when the shopper's mail appears in the mailbox (the stand-in: as it is put there;
Dovecot: when its APPEND is done) and ends when the bot's answer (the
mail whose In-Reply-To is that mail) reaches the SMTP server: the channel's imaplib client has to notice it
(told by the server in IMAP IDLE, "* N EXISTS"; with --no-idle, by UID SEARCH UNSEEN every MAIL_POLL_SECONDS),
fetch it, strip the quoted history, run the turn and send the answer with smtplib (the mail is marked seen
afterwards, off the shopper's wait). Replies after the first mail quote the bot's previous answer and carry a
phone signature, as mail apps write them. A REST turn: `POST /webhooks/rest/webhook` until its answer. Both
replay bench/conversations.py (each conversation its own thread / sender), as the Telegram bench does:

1. one shopper at a time, the same turn by mail and over REST back to back (which goes first alternates): p50 /
   p99 of each channel, the e-mail overhead on p50 and the median of the pairs' latency ratios (a slow kind of
   turn, or a slow moment of the machine, hits both sides of a pair);
2. 20 shoppers at once, rounds alternating which channel goes first: turns a second and latency of each.

In IDLE (the stand-in offers it, as most hosted mailboxes do) a mail is seen as soon as it is delivered.
Polling (--no-idle), the interval dominates the e-mail overhead: a mail waits on average half an interval
before the channel sees it (plus up to one more when it lands during a poll). The bench polls every 0.1 s, far
shorter than a real deployment's (MAIL_POLL_SECONDS, 30 s by default), so with --no-idle the figure shows the
channel's own cost; add half the real interval for what a shopper waits on a server without IDLE.
With --imap dovecot the service mailbox is a real Dovecot (tests/dovecot.py) instead of the stand-in: what a
shopper waits on a real server, which tells an IDLE client of new mail after a delay of its own (about half a
second in Dovecot 2.3), so the figure is the server's delay plus the channel's cost, not the channel's alone.
Not a test: it prints figures and writes .state/bench/channel_email.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Callable, Optional, Union

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
from tests.dovecot import Dovecot  # noqa: E402
from tests.fakes.imap_server import ImapStandIn, SentMail, SmtpSink  # noqa: E402

SERVICE = "service@shop.test"
IMAP_USER, IMAP_PASSWORD = SERVICE, "bench-imap-secret"
CONCURRENCY = 20
TURN_TIMEOUT = 90.0


class MailBenchStack(Stack):
    """Stack whose Rasa reads a credentials file with the e-mail channel and gets the mail settings."""

    credentials_file: Path
    extra_env: dict[str, str]

    def _spawn(self, name: str, args: list[str], env: Optional[dict[str, str]] = None
               ) -> tuple[subprocess.Popen, Path]:
        if name == "rasa":
            args = [str(self.credentials_file) if arg == str(PROJECT_ROOT / "credentials.yml") else arg
                    for arg in args]
            env = {**(env or {}), **self.extra_env}
        return super()._spawn(name, args, env)


def shopper_mail(sender: str, subject: str, text: str, previous: Optional[SentMail]) -> tuple[bytes, str]:
    """A shopper's mail: a new thread, or a reply quoting the bot's previous answer, with a phone signature."""
    mail = EmailMessage()
    mail["From"] = f"顾客 <{sender}>"
    mail["To"] = SERVICE
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    mid = make_msgid(domain="example.com")
    mail["Message-ID"] = mid
    if previous is None:
        mail["Subject"] = subject
        mail.set_content(f"{text}\n\n发自我的iPhone\n")
    else:
        mail["Subject"] = previous["Subject"]
        mail["In-Reply-To"] = previous["Message-ID"]
        mail["References"] = f"{previous['References']} {previous['Message-ID']}".strip()
        quoted = "\n".join(f"> {line}" for line in previous.text.splitlines())
        mail.set_content(f"{text}\n\n发自我的iPhone\n\n在 2025年3月3日 10:00，小店智能客服 <{SERVICE}> 写道：\n{quoted}\n")
    return bytes(mail), mid


class Channels:
    def __init__(self, stack: Stack, imap: Union[ImapStandIn, Dovecot], smtp: SmtpSink, run_id: str) -> None:
        self.stack = stack
        self.cpu = CpuMeter.of_stack(stack)
        self.imap = imap
        self.smtp = smtp
        self.run_id = run_id
        self.last_answer: dict[int, SentMail] = {}

    async def rest_turn(self, session: aiohttp.ClientSession, conversation: int, text: str, phase: Phase) -> None:
        sender = f"bench-{self.run_id}-{conversation}"
        started = time.perf_counter()
        try:
            async with session.post(self.stack.rest_url, json={"sender": sender, "message": text},
                                    headers={"Authorization": f"Bearer {self.stack.api_key}"}) as reply:
                await reply.read()
                if reply.status != 200:
                    phase.error(f"HTTP {reply.status}")
                    return
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            phase.error(type(error).__name__)
            return
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)

    async def mail_turn(self, session: aiohttp.ClientSession, conversation: int, text: str, phase: Phase) -> None:
        sender = f"bench-{self.run_id}-{conversation}@example.com"
        raw, mid = shopper_mail(sender, f"咨询 {conversation}", text, self.last_answer.get(conversation))
        if isinstance(self.imap, Dovecot):
            await asyncio.to_thread(self.imap.deliver, raw)  # an APPEND: in the mailbox once it is done
            started = time.monotonic()  # the SMTP server stamps what it receives with time.monotonic() too
        else:
            started = time.monotonic()
            self.imap.deliver(raw)
        try:
            answer = await asyncio.to_thread(self.smtp.wait_for_reply, mid, TURN_TIMEOUT)
        except TimeoutError:
            phase.error("no answer")
            return
        self.last_answer[conversation] = answer
        phase.latencies_ms.append((answer.at - started) * 1000)


async def measure(channels: Channels, mix: Callable[[int], convs.Conversation], quick: bool) -> dict[str, Any]:
    # Each waiting shopper holds a thread (SmtpSink.wait_for_reply blocks): the default pool of cpu+4 threads
    # would hold the others back and measure the bench, not the channel.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=4 * CONCURRENCY))
    serial_turns = 80 if quick else 300
    # 20 shoppers: (turns a round, rounds), rounds alternating which channel goes first.
    turns, rounds = (80, 2) if quick else (120, 4)
    conversation = 0

    async def phase(channel: str, concurrency: int, turns: int) -> Phase:
        nonlocal conversation
        turn = channels.mail_turn if channel == "email" else channels.rest_turn
        result = await run_phase(turn, channel, mix, concurrency, turns, conversation, channels.cpu)
        conversation += turns + concurrency  # fresh conversations (and senders) for every phase
        return result

    for channel in ("email", "rest"):  # warm-up, not counted
        await phase(channel, 4, 24)
    mail, rest, pair_ratios = await paired_serial("email", channels.mail_turn, channels.rest_turn, mix, serial_turns,
                                                  conversation)
    conversation += serial_turns + 1
    results: dict[str, Any] = {"c1": {"email": mail.summary(), "rest": rest.summary(),
                                      "p50_ratio_median": round(statistics.median(pair_ratios), 3),
                                      "pairs": len(pair_ratios)}}
    results[f"c{CONCURRENCY}"] = await alternating_rounds("email", phase, CONCURRENCY, turns, rounds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns")
    parser.add_argument("--poll", type=float, default=0.1, help="MAIL_POLL_SECONDS for the run (default 0.1)")
    parser.add_argument("--no-idle", action="store_true", help="the mailbox offers no IMAP IDLE: polling only")
    parser.add_argument("--imap", choices=("stand-in", "dovecot"), default="stand-in",
                        help="the service mailbox: the IMAP stand-in (default) or a real Dovecot")
    parser.add_argument("--output", type=Path, help="default .state/bench/channel_email[_dovecot].json")
    args = parser.parse_args()
    args.output = args.output or PROJECT_ROOT / ".state" / "bench" / (
        "channel_email_dovecot.json" if args.imap == "dovecot" else "channel_email.json")
    settings = load_settings()
    model = model_path(settings.models_dir)
    if not model.exists():
        print(f"no model at {model}: run `make model`", file=sys.stderr)
        return 2
    if args.imap == "dovecot" and args.no_idle:
        parser.error("--no-idle needs the stand-in (Dovecot offers IDLE)")
    mailbox = Dovecot(IMAP_USER, IMAP_PASSWORD) if args.imap == "dovecot" else \
        ImapStandIn(IMAP_USER, IMAP_PASSWORD, idle=not args.no_idle)
    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp, mailbox as imap, SmtpSink() as smtp:
        state = Path(tmp)
        credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
        credentials["connectors.email.ShopEmailInput"] = None
        (state / "credentials.yml").write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
        stack = MailBenchStack.from_settings(settings, model, free_ports=True, web=False)
        assert isinstance(stack, MailBenchStack)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.credentials_file = state / "credentials.yml"
        stack.extra_env = {  # conversations of <= 8 turns: under the per-conversation rate limit
            "MAIL_ADDRESS": SERVICE, "MAIL_SMTP_HOST": "127.0.0.1", "MAIL_SMTP_PORT": str(smtp.port),
            "MAIL_SMTP_TLS": "none", "MAIL_IMAP_HOST": "127.0.0.1", "MAIL_IMAP_PORT": str(imap.port),
            "MAIL_IMAP_USER": IMAP_USER, "MAIL_IMAP_PASSWORD": IMAP_PASSWORD, "MAIL_IMAP_TLS": "none",
            "MAIL_POLL_SECONDS": str(args.poll)}
        ensure_database(stack.shop_db)
        mix = convs.shop_mix(convs.load_orders(stack.shop_db))
        watch = f"polling every {args.poll} s" if args.no_idle else f"IMAP IDLE (polling {args.poll} s if it fails)"
        print(f"==> starting the stack (Rasa with the REST and e-mail channels, {watch}; mailbox: {args.imap}) ...",
              flush=True)
        load_before = os.getloadavg()
        with stack:
            channels = Channels(stack, imap, smtp, uuid.uuid4().hex[:8])
            results = asyncio.run(measure(channels, mix, args.quick))
        load_after = os.getloadavg()
    serial, loaded = results["c1"], results[f"c{CONCURRENCY}"]
    overhead = (serial["email"]["p50_ms"] / serial["rest"]["p50_ms"] - 1) * 100
    print(f"\n{'':20}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'turns/s':>9}  errors")
    for label, figures in (("c=1", serial), (f"c={CONCURRENCY}", loaded)):
        for channel in ("rest", "email"):
            s = figures[channel]
            print(f"{label + ' ' + channel:20}{s['p50_ms']:9.1f}{s['p99_ms']:9.1f}{s['mean_ms']:9.1f}"
                  f"{s['turns_per_s'] or 0:9.2f}  {s['errors'] or '-'}")
    paired = ((serial["p50_ratio_median"] or float("nan")) - 1) * 100
    added = serial["email"]["p50_ms"] - serial["rest"]["p50_ms"]
    throughput = (loaded["email"]["turns_per_s"] / loaded["rest"]["turns_per_s"] - 1) * 100
    print(f"\nE-mail overhead on p50 at c=1: {overhead:+.1f} % ({added:+.1f} ms, p50 against p50); median of the "
          f"{serial['pairs']} same-turn pairs' ratios {paired:+.1f} % (target at most +10 %)")
    if args.no_idle:
        print(f"Polling every {args.poll * 1000:.0f} ms accounts for ~{args.poll * 500:.0f} ms of it on average; "
              f"with the default MAIL_POLL_SECONDS=30 a shopper waits ~15 s more on average.")
    elif isinstance(imap, ImapStandIn):
        print(f"IMAP IDLE: the server announces each mail; {sum('SEARCH' in c for c in imap.commands)} UNSEEN "
              f"searches and {sum(c.endswith(' IDLE') for c in imap.commands)} IDLEs for the whole run.")
    else:
        print("IMAP IDLE on Dovecot: each mail is announced after Dovecot's own notification delay.")
    print(f"E-mail at c={CONCURRENCY}: p50 {(loaded['email']['p50_ms'] / loaded['rest']['p50_ms'] - 1) * 100:+.1f} %, "
          f"throughput {throughput:+.1f} % vs REST")
    print(f"SMTP: {smtp.greetings} connections opened for {len(smtp.mails)} answers.")
    print(cpu_line(loaded, "email", ", and for e-mail the IMAP and SMTP stand-ins"))
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"at": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick,
                                       "poll_seconds": args.poll, "idle": not args.no_idle, "imap": args.imap,
                                       "results": results,
                                       "p50_overhead_percent_c1": round(overhead, 1),
                                       "p50_overhead_ms_c1": round(added, 1),
                                       "p50_overhead_percent_c1_paired": round(paired, 1),
                                       "throughput_change_percent_c20": round(throughput, 1),
                                       "load_average": [load_before[0], load_after[0]]}, indent=2),
                           encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
