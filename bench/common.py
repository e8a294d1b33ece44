"""What the channel benchmarks share: percentiles, one phase's record of timed turns, the CPU each process of
the run used, and the two ways of running turns against a channel and REST: one shopper at a time in same-turn
pairs, and many shoppers at once."""
from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

import aiohttp

from bench import conversations as convs

# One turn: (session, conversation number, what the shopper says, the phase to record it in).
Turn = Callable[[aiohttp.ClientSession, int, str, "Phase"], Awaitable[None]]
# One phase: (channel, concurrency, turns) run on fresh conversations.
PhaseRun = Callable[[str, int, int], Awaitable["Phase"]]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank value at `share` (0.5: the median) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class CpuMeter:
    """CPU seconds (user + system, all threads) the run's processes have used, from /proc: what the turns of a
    phase cost each part (the assistant, Redis, the action server, and the bench's own process with its
    clients and the channel's stand-in servers), which a saturated 2-core machine shares out among them."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._tick = os.sysconf("SC_CLK_TCK")

    @classmethod
    def of_stack(cls, stack: Any) -> CpuMeter:
        """The stack's processes (bot.runtime.runner.Stack), its embedded Redis and this process."""
        pids = {name: process.pid for name, process in stack.processes.items() if process.poll() is None}
        if stack.redis is not None and stack.redis.process is not None:
            pids["redis"] = stack.redis.process.pid
        pids["bench"] = os.getpid()
        return cls(pids)

    def read(self) -> dict[str, float]:
        used = {}
        for name, pid in self.pids.items():
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime
        return used

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """The CPU seconds each process has used since `before` (a `read()`)."""
        return {name: seconds - before[name] for name, seconds in self.read().items() if name in before}


def cpu_ms_per_turn(cpu_seconds: dict[str, float], turns: int) -> dict[str, float]:
    """CPU milliseconds a turn, by process."""
    return {name: round(seconds * 1000 / turns, 2) for name, seconds in sorted(cpu_seconds.items())}


def cpu_line(loaded: dict[str, Any], channel: str, stand_ins: str) -> str:
    """One line of the CPU each process used per turn at load, REST -> `channel` ("" when not measured)."""
    rest, through = loaded["rest"].get("cpu_ms_per_turn"), loaded[channel].get("cpu_ms_per_turn")
    if not rest or not through:
        return ""
    return (f"CPU ms per turn at c={loaded[channel].get('concurrency', '?')} (REST -> {channel}): "
            + ", ".join(f"{name} {rest[name]:.1f} -> {through.get(name, float('nan')):.1f}" for name in rest)
            + f" (bench: the clients{stand_ins})")


@dataclass
class Phase:
    """The turns one channel ran at one concurrency: latencies, wall time, errors by kind, empty answers."""

    channel: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    silent: int = 0  # turns the bot answered with nothing
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by process (CpuMeter), when measured

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def absorb(self, other: Phase) -> None:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.silent += other.silent
        for name, seconds in other.cpu_seconds.items():
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + seconds
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    def summary(self) -> dict[str, Any]:
        values = self.latencies_ms or [float("nan")]
        return {"concurrency": self.concurrency, "turns": len(self.latencies_ms), "p50_ms": round(percentile(values, 0.5), 1),
                "p99_ms": round(percentile(values, 0.99), 1), "mean_ms": round(statistics.fmean(values), 1),
                "turns_per_s": round(len(self.latencies_ms) / self.seconds, 2) if self.seconds else None,
                "errors": self.errors, "silent_turns": self.silent,
                **({"cpu_ms_per_turn": cpu_ms_per_turn(self.cpu_seconds, len(self.latencies_ms))}
                   if self.cpu_seconds and self.latencies_ms else {})}


async def run_phase(turn: Turn, channel: str, mix: Callable[[int], convs.Conversation], concurrency: int,
                    turns: int, first_conversation: int, meter: Optional[CpuMeter] = None) -> Phase:
    """`concurrency` shoppers at a time, each sending a conversation's turns one after another; with a
    `meter`, the CPU each process used meanwhile."""
    phase = Phase(channel, concurrency)
    state = {"sent": 0, "next": first_conversation}

    async def shopper(session: aiohttp.ClientSession) -> None:
        while state["sent"] < turns:
            index = state["next"]
            state["next"] += 1
            for step in mix(index).turns:
                if state["sent"] >= turns:
                    return
                state["sent"] += 1
                await turn(session, index, step.text, phase)

    connector = aiohttp.TCPConnector(limit=concurrency + 2)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        before = meter.read() if meter else {}
        started = time.perf_counter()
        await asyncio.gather(*(shopper(session) for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - started
        if meter:
            phase.cpu_seconds = meter.since(before)
    return phase


async def paired_serial(channel: str, channel_turn: Turn, rest_turn: Turn, mix: Callable[[int], convs.Conversation],
                        turns: int, first_conversation: int) -> tuple[Phase, Phase, list[float]]:
    """One shopper at a time, the same turn on the channel and over REST back to back (which goes first
    alternates; each channel has its own conversation), so a slow moment of a shared machine and a slow kind
    of turn hit both; also each pair's channel/REST latency ratio."""
    through, rest = Phase(channel, 1), Phase("rest", 1)
    ratios: list[float] = []
    connector = aiohttp.TCPConnector(limit=4)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        index, sent = first_conversation, 0
        while sent < turns:
            for step in mix(index).turns:
                if sent >= turns:
                    break
                pair = [(channel_turn, through), (rest_turn, rest)]
                before = (len(through.latencies_ms), len(rest.latencies_ms))
                for send, phase in pair if sent % 2 == 0 else pair[::-1]:
                    started = time.perf_counter()
                    await send(session, index, step.text, phase)
                    phase.seconds += time.perf_counter() - started
                if (len(through.latencies_ms), len(rest.latencies_ms)) == (before[0] + 1, before[1] + 1):
                    ratios.append(through.latencies_ms[-1] / rest.latencies_ms[-1])
                sent += 1
            index += 1
    return through, rest, ratios


async def alternating_rounds(channel: str, phase: PhaseRun, concurrency: int, turns: int, rounds: int
                             ) -> dict[str, Any]:
    """`rounds` rounds of `turns` turns at `concurrency` on the channel and over REST, which goes first
    alternating: each side's summary, each round's channel/REST p50 ratio and their median."""
    totals = {channel: Phase(channel, concurrency), "rest": Phase("rest", concurrency)}
    ratios = []
    for number in range(rounds):
        done = {}
        for name in (channel, "rest") if number % 2 == 0 else ("rest", channel):
            done[name] = await phase(name, concurrency, turns)
            totals[name].absorb(done[name])
        if done[channel].latencies_ms and done["rest"].latencies_ms:
            ratios.append(percentile(done[channel].latencies_ms, 0.5) / percentile(done["rest"].latencies_ms, 0.5))
    result: dict[str, Any] = {name: p.summary() for name, p in totals.items()}
    result["p50_ratio_by_round"] = [round(r, 3) for r in ratios]
    result["p50_ratio_median"] = round(statistics.median(ratios), 3) if ratios else None
    return result
