#!/usr/bin/env python
"""REST latency and throughput of the shop assistant against Rasa's own starter bot.

    python bench/bench_rest.py            # full run (~10-15 min with the starter's training)
    python bench/bench_rest.py --quick    # smaller request counts
    python bench/bench_rest.py --train    # also time a full `rasa train` of our model (slow)

Both bots serve REST with --enable-api, an auth token and CORS, each on a
fresh embedded Redis. Ours is started by bot.runtime.runner.Stack exactly as `make run`
does (Redis, action server, `python -m bot.dialogue.rasa_server run` with our tracker
store and bot.dialogue.rasa_speedups); the starter is `rasa init --no-prompt` in a
temporary directory, served by stock `rasa run` with Rasa's own
RedisTrackerStore: the baseline is Rasa as it ships.
Both bots run side by side. Each gets a warm-up; then scripted conversations
(bench/conversations.py) at concurrency 1 and 20 are sent in rounds that
alternate between the bots (starter, ours, ours, starter, ...), so a slow spell
of the machine hits both and each round gives a paired ratio; then long
conversations (latency at turn 5 vs turn 200) and the resident memory of each
process tree. Prints a table and writes the
figures to .state/bench/latest.json. Not a test: it exits 0 whenever the bots ran
(1 when one could not be trained, started or kept running; 130 on Ctrl-C).

All traffic stays on 127.0.0.1; every phase is bounded in requests and seconds;
every process started here is stopped on exit, error, Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):  # `bot` from the project, `conversations` from bench/
    if _path not in sys.path:
        sys.path.insert(0, _path)

# Before anything starts Rasa: no telemetry leaves the machine, quiet TensorFlow.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import aiohttp  # noqa: E402
import conversations as convs  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402

from bot.config import PROJECT_ROOT, load_settings  # noqa: E402
from bot.runtime.redis_service import RedisServer, free_port, start_embedded  # noqa: E402
from bot.runtime.runner import Stack, server_thread_env, wait_http  # noqa: E402

PY = sys.executable
REQUEST_TIMEOUT = 60.0  # seconds for one REST turn before it counts as an error
START_TIMEOUT = 240.0
TRAIN_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Budget:
    warmup_turns: int
    c1_turns: int
    c20_turns: int
    long_turns: int
    long_repeats: int
    phase_seconds: float  # each of warm-up, c=1, c=20 stops at its turn count or after this
    long_seconds: float
    rounds: int  # c=1 and c=20 are split into this many rounds per bot, alternating between the bots


FULL = Budget(warmup_turns=80, c1_turns=300, c20_turns=900, long_turns=202, long_repeats=3, phase_seconds=240,
              long_seconds=600, rounds=3)
QUICK = Budget(warmup_turns=40, c1_turns=80, c20_turns=240, long_turns=202, long_repeats=1, phase_seconds=90,
               long_seconds=180, rounds=2)
HIGH_CONCURRENCY = 20
WARMUP_CONCURRENCY = 4
EARLY_TURN, LATE_TURN = 5, 200  # long-conversation probe: median of the 5 turns centred on each


# --------------------------------------------------------------------------- processes


def _stop_group(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM the process group we started, SIGKILL it when it does not go."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _uninterrupted(stop: Callable[[], None]) -> None:
    """Run a clean-up with Ctrl-C and SIGTERM held off, so a second Ctrl-C cannot leave processes behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def timed_run(args: Sequence[str], cwd: Path, env: dict[str, str], log: Path, timeout: float = TRAIN_TIMEOUT) -> float:
    """Run a command to completion in its own process group; seconds it took. Stopped on any interruption."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        started = time.monotonic()
        process = subprocess.Popen(list(args), cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except BaseException:
            _stop_group(process, timeout=10)
            raise
        seconds = time.monotonic() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... exited with {code}; log {log}:\n{_log_tail(log)}")
    return seconds


def server_env(redis_url: str) -> dict[str, str]:
    """The environment bot.runtime.runner.Stack gives its Rasa server, for the starter bot."""
    settings = load_settings()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
        REDIS_URL=redis_url,
        MAX_MESSAGE_CHARS=str(settings.max_message_chars),
        SANIC_REQUEST_MAX_SIZE=str(settings.max_body_bytes),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    env.update(server_thread_env())
    return env


def tree_rss(pid: Optional[int]) -> Optional[int]:
    """Resident bytes of a process and all its descendants."""
    if pid is None:
        return None
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return None
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class OursBot:
    """The project's assistant, started exactly as `make run` does (bot.runtime.runner.Stack), without the web page."""

    name = "ours"

    def __init__(self, model: Path, workdir: Path) -> None:
        self.model = model
        self.stack = Stack.from_settings(load_settings(), model, free_ports=True, web=False)
        # Runtime files (endpoints, logs, Redis) in the bench's own directory, and always a fresh
        # embedded Redis like the starter's: never a configured REDIS_URL with old conversations in it.
        # The shop database stays the project's (settings.shop_db).
        self.stack.state_dir = workdir
        self.stack.redis_url = None

    def start(self) -> None:
        self.stack.start(timeout=START_TIMEOUT)

    @property
    def rest_url(self) -> str:
        return self.stack.rest_url.replace("//localhost:", "//127.0.0.1:")

    @property
    def headers(self) -> dict[str, str]:
        """The API key the app's backend would send (ours requires one)."""
        return {"Authorization": f"Bearer {self.stack.api_key}"}

    def pids(self) -> dict[str, Optional[int]]:
        procs = self.stack.processes
        redis = self.stack.redis
        return {
            "rasa_server": procs["rasa"].pid if "rasa" in procs else None,
            "action_server": procs["actions"].pid if "actions" in procs else None,
            "redis": redis.process.pid if redis and redis.process else None,
        }

    def dead(self) -> list[str]:
        return [name for name, p in self.stack.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        self.stack.stop()


class StarterBot:
    """Rasa's `rasa init` bot, served with our server settings and Rasa's own Redis tracker store."""

    name = "starter"

    def __init__(self, project: Path, model: Path, workdir: Path) -> None:
        self.project = project
        self.model = model
        self.workdir = workdir
        self.port = free_port()
        self.actions_port: Optional[int] = None
        self.redis: Optional[RedisServer] = None
        self.processes: dict[str, subprocess.Popen] = {}

    def _needs_actions(self) -> bool:
        domain = yaml.safe_load((self.project / "domain.yml").read_text(encoding="utf-8")) or {}
        return bool(domain.get("actions") or domain.get("forms"))

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / "logs" / f"starter-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            process = subprocess.Popen(args, cwd=self.project, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes[name] = process
        return process, log

    def start(self) -> None:
        try:
            # What Stack does with no REDIS_URL: bot.runtime.redis_service.start_embedded(<state>/redis).
            self.redis = start_embedded(self.workdir / "redis")
            # Rasa's stock RedisTrackerStore: the baseline is Rasa as it ships.
            redis_address = urlparse(self.redis.url)
            endpoints: dict[str, Any] = {"tracker_store": {
                "type": "redis", "url": redis_address.hostname, "port": redis_address.port,
                "db": int(redis_address.path.lstrip("/") or 0)}}
            env = server_env(self.redis.url)
            if self._needs_actions():
                self.actions_port = free_port()
                endpoints["action_endpoint"] = {"url": f"http://127.0.0.1:{self.actions_port}/webhook"}
                actions, actions_log = self._spawn(
                    "actions", [PY, "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.actions_port)], env)
                wait_http(f"http://127.0.0.1:{self.actions_port}/health", actions, START_TIMEOUT, actions_log)
            endpoints_file = self.workdir / "starter-endpoints.yml"
            endpoints_file.write_text(yaml.safe_dump(endpoints), encoding="utf-8")
            credentials_file = self.workdir / "starter-credentials.yml"
            credentials_file.write_text("rest:\n", encoding="utf-8")  # Rasa's stock REST channel
            rasa, rasa_log = self._spawn("rasa", [
                PY, "-m", "rasa", "run", "--model", str(self.model), "--port", str(self.port),
                "--interface", "127.0.0.1",
                "--credentials", str(credentials_file), "--endpoints", str(endpoints_file),
                "--enable-api", "--auth-token", secrets.token_hex(16), "--cors", "*",
            ], env)
            wait_http(f"http://127.0.0.1:{self.port}/webhooks/rest/", rasa, START_TIMEOUT, rasa_log)
        except BaseException:
            self.stop()
            raise

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/rest/webhook"

    @property
    def headers(self) -> dict[str, str]:
        return {}  # Rasa's stock REST channel takes no credentials

    def pids(self) -> dict[str, Optional[int]]:
        return {
            "rasa_server": self.processes["rasa"].pid if "rasa" in self.processes else None,
            "action_server": self.processes["actions"].pid if "actions" in self.processes else None,
            "redis": self.redis.process.pid if self.redis and self.redis.process else None,
        }

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            _stop_group(process)
        self.processes.clear()
        if self.redis:
            self.redis.stop()
            self.redis = None


# --------------------------------------------------------------------------- load


@dataclass
class Phase:
    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, successful turns only
    errors: dict[str, int] = field(default_factory=dict)
    expected: int = 0  # turns that carry an expectation
    hits: int = 0  # ... whose replies matched it
    empty: int = 0  # successful turns with no bot reply at all
    misses: dict[str, dict[str, Any]] = field(default_factory=dict)  # "script#turn" -> count and an example
    by_turn: dict[str, list[float]] = field(default_factory=dict)  # "script#turn" -> latencies (s)
    conversations: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies)
        return {
            "concurrency": self.concurrency,
            "turns": len(ms),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "conversations": self.conversations,
            "seconds": round(self.seconds, 2),
            "throughput_tps": round(len(ms) / self.seconds, 2) if self.seconds > 0 else None,
            "p50_ms": _pct(ms, 50),
            "p90_ms": _pct(ms, 90),
            "p99_ms": _pct(ms, 99),
            "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
            "max_ms": round(ms[-1], 1) if ms else None,
            "path_hits": self.hits,
            "path_expected": self.expected,
            "empty_replies": self.empty,
            "path_misses": self.misses,
            "slowest_turns_p50_ms": self.slowest(),
        }

    def absorb(self, other: Phase) -> None:
        """Add another round of the same phase."""
        self.latencies += other.latencies
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        self.expected += other.expected
        self.hits += other.hits
        self.empty += other.empty
        for where, miss in other.misses.items():
            mine = self.misses.setdefault(where, {**miss, "count": 0})
            mine["count"] += miss["count"]
        for where, values in other.by_turn.items():
            self.by_turn.setdefault(where, []).extend(values)
        self.conversations += other.conversations
        self.seconds += other.seconds

    def slowest(self, count: int = 6) -> dict[str, float]:
        """The scripted turns with the highest median latency: where the time goes."""
        medians = {k: statistics.median(v) * 1000 for k, v in self.by_turn.items() if v}
        top = sorted(medians.items(), key=lambda kv: kv[1], reverse=True)[:count]
        return {k: round(v, 1) for k, v in top}


def _pct(sorted_values: Sequence[float], pct: float) -> Optional[float]:
    """Percentile with linear interpolation between closest ranks."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * pct / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return round(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo), 1)


async def send_turn(session: aiohttp.ClientSession, url: str, sender: str, turn: convs.Turn,
                    phase: Phase, where: str = "") -> Optional[float]:
    """POST one message; record latency, errors and whether the reply was on the scripted path."""
    started = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": turn.text}) as response:
            body = await response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                kind = f"HTTP {response.status}"
                phase.errors[kind] = phase.errors.get(kind, 0) + 1
                return None
        replies = json.loads(body)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        kind = type(error).__name__
        phase.errors[kind] = phase.errors.get(kind, 0) + 1
        return None
    phase.latencies.append(elapsed)
    if where and not where.startswith("long#"):
        phase.by_turn.setdefault(where, []).append(elapsed)
    text = "\n".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))
    if not replies:
        phase.empty += 1
    if turn.expect:
        phase.expected += 1
        if any(e in text for e in turn.expect):
            phase.hits += 1
        else:
            miss = phase.misses.setdefault(where, {"count": 0, "message": turn.text, "expected": list(turn.expect),
                                                   "reply": text[:300]})
            miss["count"] += 1
    return elapsed


def _session(concurrency: int, headers: dict[str, str]) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency + 2),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        headers=headers,
    )


async def run_load(url: str, mix: Callable[[int], convs.Conversation], name: str, concurrency: int,
                   max_turns: int, max_seconds: float, tag: str, first_index: int = 0,
                   headers: Optional[dict[str, str]] = None) -> Phase:
    """`concurrency` conversations at a time, each sending its turns one after the other, until
    `max_turns` turns were sent or `max_seconds` passed. Every conversation has its own sender id;
    conversation i of the run is `mix(first_index + i)`."""
    phase = Phase(name, concurrency)
    state = {"sent": 0, "next": first_index}
    deadline = time.monotonic() + max_seconds

    def exhausted() -> bool:
        return state["sent"] >= max_turns or time.monotonic() >= deadline

    async def worker(session: aiohttp.ClientSession) -> None:
        while not exhausted():
            index = state["next"]
            state["next"] += 1
            phase.conversations += 1
            sender = f"{tag}-{name}-{index:05d}"
            conversation = mix(index)
            for number, turn in enumerate(conversation.turns, start=1):
                if exhausted():
                    return
                state["sent"] += 1
                await send_turn(session, url, sender, turn, phase, f"{conversation.name}#{number}")

    async with _session(concurrency, headers or {}) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - started
    return phase


def _window(runs: list[list[Optional[float]]], turn: int) -> tuple[Optional[float], Optional[int]]:
    """Median latency (ms) over the 5 turns centred on `turn` (1-based) of every run; and the centre used
    (shifted to fit when a run stopped early)."""
    n = min((len(r) for r in runs), default=0)
    if n == 0:
        return None, None
    centre = max(3, min(turn, n - 2)) if n >= 5 else (n + 1) // 2
    chunk = [x for r in runs for x in r[max(0, centre - 3):centre + 2] if x is not None]
    return (round(statistics.median(chunk) * 1000, 1) if chunk else None), centre


async def long_conversation(url: str, mix: Callable[[int], convs.Conversation], turns: int, repeats: int,
                            max_seconds: float, tag: str, headers: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """`repeats` conversations of `turns` turns, one after the other; latency around turn 5 against
    around turn 200 (median over the 5 turns centred there, pooled over the repeats)."""
    phase = Phase("long", 1)
    runs: list[list[Optional[float]]] = []
    deadline = time.monotonic() + max_seconds
    script = convs.long_turns(mix, turns)
    async with _session(1, headers or {}) as session:
        for repeat in range(repeats):
            if time.monotonic() >= deadline:
                break
            latencies: list[Optional[float]] = []
            runs.append(latencies)
            sender = f"{tag}-long-{repeat}"
            for number, turn in enumerate(script, start=1):
                if time.monotonic() >= deadline:
                    break
                latencies.append(await send_turn(session, url, sender, turn, phase, f"long#{number}"))
    early, early_at = _window(runs, EARLY_TURN)
    late, late_at = _window(runs, LATE_TURN)
    return {
        "conversations": len(runs),
        "turns": [len(r) for r in runs],
        "errors": sum(phase.errors.values()),
        f"turn{EARLY_TURN}_ms": early,
        f"turn{LATE_TURN}_ms": late,
        "late_turn_measured": late_at,
        "ratio": round(late / early, 2) if early and late else None,
        "path_hits": phase.hits,
        "path_expected": phase.expected,
        "path_misses": phase.misses,
        "latencies_ms": [[round(x * 1000, 1) if x is not None else None for x in r] for r in runs],
    }


# --------------------------------------------------------------------------- both bots


@dataclass
class Contender:
    """A started bot, the conversations it gets, and what is known about it before the load."""

    bot: OursBot | StarterBot
    mix: Callable[[int], convs.Conversation]
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.bot.name

    def check_alive(self) -> None:
        dead = self.bot.dead()
        if dead:
            raise RuntimeError(f"{self.name}: {', '.join(dead)} stopped during the benchmark; see the logs")


def _round_figures(phase: Phase) -> dict[str, Any]:
    summary = phase.summary()
    return {"turns": summary["turns"], "throughput_tps": summary["throughput_tps"], "p50_ms": summary["p50_ms"]}


def measure(contenders: list[Contender], budget: Budget, run_id: str) -> dict[str, dict[str, Any]]:
    """Load every running bot; each contender's result (phases, rounds, long, rss) by bot name."""
    for c in contenders:
        c.result.update(rest_url=c.bot.rest_url, phases={}, rounds={})
        c.result["rss_idle_mb"] = _mb_dict({k: tree_rss(pid) for k, pid in c.bot.pids().items()})
    tag = f"bench-{run_id}"
    for c in contenders:
        print(f"    {c.name}: warmup ({budget.warmup_turns} turns max, concurrency {WARMUP_CONCURRENCY})", flush=True)
        phase = asyncio.run(run_load(c.bot.rest_url, c.mix, "warmup", WARMUP_CONCURRENCY, budget.warmup_turns,
                                     budget.phase_seconds, f"{tag}-{c.name}", headers=c.bot.headers))
        c.result["phases"]["warmup"] = phase.summary()
        _print_phase(c.name, c.result["phases"]["warmup"])
        c.check_alive()
    for name, concurrency, turns in (("c1", 1, budget.c1_turns),
                                     (f"c{HIGH_CONCURRENCY}", HIGH_CONCURRENCY, budget.c20_turns)):
        merged = {c.name: Phase(name, concurrency) for c in contenders}
        rounds: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contenders}
        print(f"    {name}: {budget.rounds} rounds of {turns // budget.rounds} turns per bot, concurrency "
              f"{concurrency}, alternating", flush=True)
        for number in range(budget.rounds):
            order = contenders if number % 2 == 0 else list(reversed(contenders))
            for c in order:
                phase = asyncio.run(run_load(c.bot.rest_url, c.mix, f"{name}r{number}", concurrency,
                                             turns // budget.rounds, budget.phase_seconds / budget.rounds,
                                             f"{tag}-{c.name}", first_index=number * 10_000,
                                             headers=c.bot.headers))
                merged[c.name].absorb(phase)
                rounds[c.name].append(_round_figures(phase))
                figures = rounds[c.name][-1]
                print(f"      round {number + 1} {c.name}: {figures['turns']} turns, {figures['throughput_tps']} "
                      f"turns/s, p50 {figures['p50_ms']} ms", flush=True)
                c.check_alive()
        for c in contenders:
            c.result["phases"][name] = merged[c.name].summary()
            c.result["rounds"][name] = rounds[c.name]
            _print_phase(c.name, c.result["phases"][name])
    for c in contenders:
        print(f"    {c.name}: long conversation ({budget.long_repeats} x {budget.long_turns} turns)", flush=True)
        long = asyncio.run(long_conversation(c.bot.rest_url, c.mix, budget.long_turns, budget.long_repeats,
                                             budget.long_seconds, f"{tag}-{c.name}", headers=c.bot.headers))
        c.result["long"] = long
        print(f"      turn {EARLY_TURN}: {long[f'turn{EARLY_TURN}_ms']} ms, turn {long['late_turn_measured']}: "
              f"{long[f'turn{LATE_TURN}_ms']} ms, ratio {long['ratio']}", flush=True)
        c.check_alive()
        c.result["rss_mb"] = _mb_dict({k: tree_rss(pid) for k, pid in c.bot.pids().items()})
    return {c.name: c.result for c in contenders}


def _mb_dict(values: dict[str, Optional[int]]) -> dict[str, Optional[float]]:
    out = {k: (round(v / 2**20, 1) if v is not None else None) for k, v in values.items()}
    present = [v for v in values.values() if v is not None]
    out["total"] = round(sum(present) / 2**20, 1) if present else None
    return out


def _print_phase(bot: str, s: dict[str, Any]) -> None:
    print(f"      {bot}: {s['turns']} turns in {s['seconds']} s: {s['throughput_tps']} turns/s, p50 {s['p50_ms']} ms, "
          f"p99 {s['p99_ms']} ms, errors {s['errors']}, path hits {s['path_hits']}/{s['path_expected']}", flush=True)


def prepare_starter(workdir: Path) -> Contender:
    """`rasa init` in `workdir`, a timed `rasa train --force`, then the starter bot started."""
    project = workdir / "starter"
    project.mkdir(parents=True)
    env = dict(os.environ, RASA_CACHE_DIRECTORY=str(workdir / "cache-starter"))
    print("==> starter: rasa init --no-prompt (creates the project and trains it once)", flush=True)
    init_seconds = timed_run([PY, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(project)], workdir, env,
                             workdir / "logs" / "starter-init.log")
    print(f"    rasa init took {init_seconds:.1f} s; now timing `rasa train --force`", flush=True)
    train_seconds = timed_run(
        [PY, "-m", "rasa", "train", "--fixed-model-name", "starter", "--out", "models", "--force"], project, env,
        workdir / "logs" / "starter-train.log")
    model = project / "models" / "starter.tar.gz"
    print(f"    trained {model.name} in {train_seconds:.1f} s", flush=True)
    bot = StarterBot(project, model, workdir)
    print("==> starter: starting Redis + Rasa server", flush=True)
    bot.start()
    return Contender(bot, convs.starter_mix(), {
        "model": str(model), "training_seconds": round(train_seconds, 1), "init_seconds": round(init_seconds, 1),
        "mean_turns_per_conversation": round(convs.mean_turns(convs.starter_mix()), 2)})


def prepare_ours(model: Path, workdir: Path, train: bool) -> Contender:
    """Optionally a timed `rasa train --force` of our project, then our bot started as `make run` does."""
    train_seconds = None
    if train:
        out = workdir / "train-ours"
        env = dict(os.environ, RASA_CACHE_DIRECTORY=str(workdir / "cache-ours"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
        print(f"==> ours: timing `rasa train --force` into {out} (slow)", flush=True)
        train_seconds = timed_run([PY, "-m", "rasa", "train", "--fixed-model-name", "shop", "--out", str(out),
                                   "--force"], PROJECT_ROOT, env, workdir / "logs" / "ours-train.log")
        print(f"    trained in {train_seconds:.1f} s", flush=True)
    bot = OursBot(model, workdir / "ours")
    print("==> ours: starting Redis + action server + Rasa server (bot.runtime.runner.Stack)", flush=True)
    bot.start()
    try:
        orders = convs.load_orders(bot.stack.shop_db)
    except BaseException:
        _uninterrupted(bot.stop)
        raise
    print(f"    {len(orders)} seeded orders for the order checks", flush=True)
    mix = convs.shop_mix(orders)
    return Contender(bot, mix, {
        "model": str(model), "training_seconds": round(train_seconds, 1) if train_seconds else None,
        "mean_turns_per_conversation": round(convs.mean_turns(mix), 2)})


# --------------------------------------------------------------------------- report


def _get(result: Optional[dict[str, Any]], *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def build_rows(ours: Optional[dict[str, Any]], starter: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """(metric, ours, starter, ratio, target) rows; target is 'higher' / 'lower' / None."""
    hc = f"c{HIGH_CONCURRENCY}"
    spec = [
        ("training time (s)", ("training_seconds",), None),
        ("c=1  throughput (turns/s)", ("phases", "c1", "throughput_tps"), "higher"),
        ("c=1  p50 latency (ms)", ("phases", "c1", "p50_ms"), "lower"),
        ("c=1  p99 latency (ms)", ("phases", "c1", "p99_ms"), None),
        (f"c={HIGH_CONCURRENCY} throughput (turns/s)", ("phases", hc, "throughput_tps"), "higher"),
        (f"c={HIGH_CONCURRENCY} p50 latency (ms)", ("phases", hc, "p50_ms"), "lower"),
        (f"c={HIGH_CONCURRENCY} p99 latency (ms)", ("phases", hc, "p99_ms"), None),
        (f"long conv: turn {EARLY_TURN} (ms)", ("long", f"turn{EARLY_TURN}_ms"), None),
        (f"long conv: turn {LATE_TURN} (ms)", ("long", f"turn{LATE_TURN}_ms"), None),
        (f"long conv: turn {LATE_TURN}/{EARLY_TURN}", ("long", "ratio"), None),
        ("RSS rasa server (MB)", ("rss_mb", "rasa_server"), None),
        ("RSS action server (MB)", ("rss_mb", "action_server"), None),
        ("RSS redis (MB)", ("rss_mb", "redis"), None),
        ("RSS total (MB)", ("rss_mb", "total"), None),
    ]
    rows = []
    for label, path, target in spec:
        a, b = _get(ours, *path), _get(starter, *path)
        ratio = round(a / b, 2) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None
        holds = None
        if target and isinstance(a, (int, float)) and isinstance(b, (int, float)):
            holds = a >= b if target == "higher" else a <= b
        rows.append({"metric": label, "ours": a, "starter": b, "ratio": ratio, "target": target, "holds": holds})
    for label, key in (("errors (all phases)", "errors"), ("scripted path hits", "hits")):
        a, b = _phase_totals(ours, key), _phase_totals(starter, key)
        rows.append({"metric": label, "ours": a, "starter": b, "ratio": None, "target": None, "holds": None})
    return rows


def _phase_totals(result: Optional[dict[str, Any]], key: str) -> Optional[str | int]:
    if not result:
        return None
    phases = list(result.get("phases", {}).values()) + [result.get("long", {})]
    if key == "errors":
        return sum(p.get("errors", 0) for p in phases)
    hits = sum(p.get("path_hits", 0) for p in phases)
    expected = sum(p.get("path_expected", 0) for p in phases)
    return f"{hits}/{expected}" if expected else "-"


def paired_round_notes(ours: Optional[dict[str, Any]], starter: Optional[dict[str, Any]]) -> list[str]:
    """Ours/starter throughput ratio of each round: how much of a difference is the machine's noise."""
    notes = []
    for name in ("c1", f"c{HIGH_CONCURRENCY}"):
        pairs = zip(_get(ours, "rounds", name) or [], _get(starter, "rounds", name) or [])
        ratios = [round(a["throughput_tps"] / b["throughput_tps"], 2) for a, b in pairs
                  if a.get("throughput_tps") and b.get("throughput_tps")]
        if ratios:
            notes.append(f"{name} throughput ours/starter by round: {', '.join(map(str, ratios))} "
                         f"(median {statistics.median(ratios):.2f})")
    return notes


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ("metric", "ours", "starter", "ours/starter", "target")
    lines = []
    for row in rows:
        target = ""
        if row["target"]:
            sign = ">=" if row["target"] == "higher" else "<="
            verdict = "-" if row["holds"] is None else ("yes" if row["holds"] else "NO")
            target = f"{sign} starter: {verdict}"
        lines.append((row["metric"], _fmt(row["ours"]), _fmt(row["starter"]), _fmt(row["ratio"]), target))
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(5)]
    rule = "-+-".join("-" * w for w in widths)
    print()
    print(" | ".join(h.ljust(w) if i == 0 else h.rjust(w) if i < 4 else h.ljust(w)
                     for i, (h, w) in enumerate(zip(header, widths))))
    print(rule)
    for line in lines:
        print(" | ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    verdicts = [r["holds"] for r in rows if r["target"]]
    if verdicts and all(v is not None for v in verdicts):
        print(f"\ntarget (throughput >= starter and p50 <= starter at c=1 and c={HIGH_CONCURRENCY}): "
              f"{'HOLDS' if all(verdicts) else 'DOES NOT HOLD'}")


# --------------------------------------------------------------------------- main


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    from bot.tools.train import model_path

    settings = load_settings()
    parser = argparse.ArgumentParser(description="REST latency/throughput of the shop bot vs Rasa's starter bot")
    parser.add_argument("--quick", action="store_true", help="fewer requests and one long conversation")
    parser.add_argument("--train", action="store_true", help="also time a full `rasa train` of our model (slow)")
    parser.add_argument("--model", type=Path, default=model_path(settings.models_dir), help="our model (%(default)s)")
    parser.add_argument("--only", choices=("ours", "starter"), help="benchmark one bot only (no ratios)")
    parser.add_argument("--output", type=Path, default=settings.state_dir / "bench" / "latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, starter project)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _raise_interrupt)
    budget = QUICK if args.quick else FULL
    run_id = datetime.now().strftime("%H%M%S") + "-" + secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    load_before = os.getloadavg()
    meta = {
        "run_id": run_id, "started_at": datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
        "budget": budget.__dict__, "python": platform.python_version(), "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load_before], "platform": platform.platform(),
    }
    try:
        import rasa

        meta["rasa"] = rasa.__version__
    except ImportError:
        pass
    print(f"==> REST benchmark ({'quick' if args.quick else 'full'}), work directory {workdir}")
    print(f"    {os.cpu_count()} CPUs, load average {load_before[0]:.2f} "
          "(other work on the machine, e.g. a training, skews the figures)", flush=True)
    ours = starter = None
    notes: list[str] = []
    failed: list[str] = []

    def attempt(name: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
            failed.append(name)
            notes.append(f"{name} failed: {str(error).splitlines()[0]}")
            print(f"!! {name} failed: {error}", file=sys.stderr, flush=True)
            return None

    started = time.monotonic()
    original_sigint = signal.getsignal(signal.SIGINT)
    contenders: list[Contender] = []
    try:
        if args.only != "ours":
            contender = attempt("starter", lambda: prepare_starter(workdir))
            contenders += [contender] if contender else []
        if args.only != "starter":
            if args.model.exists():
                contender = attempt("ours", lambda: prepare_ours(args.model, workdir, args.train))
                contenders += [contender] if contender else []
                if contender and not args.train:
                    notes.append("our training time was not measured: pass --train to time a full `rasa train`")
            else:
                notes.append(f"no model at {args.model}: run `make model` (python -m bot.tools.train) first")
                print(f"!! {notes[-1]}; reporting the starter bot only", flush=True)
        results = (attempt("load", lambda: measure(contenders, budget, run_id)) if contenders else None) or {}
        ours, starter = results.get("ours"), results.get("starter")
    except KeyboardInterrupt:
        print("\n!! interrupted; stopped everything", file=sys.stderr, flush=True)
        failed.append("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for contender in contenders:
            _uninterrupted(contender.bot.stop)
        if failed or args.keep:
            print(f"    work directory with logs kept: {workdir}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, original_sigint)

    rows = build_rows(ours, starter)
    print_table(rows)
    notes += paired_round_notes(ours, starter)
    for note in notes:
        print(f"note: {note}")
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report = {"meta": meta, "ours": ours, "starter": starter, "table": rows, "notes": notes}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nfigures written to {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
