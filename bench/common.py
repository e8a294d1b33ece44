"""What the channel benchmarks share: percentiles and one phase's record of timed turns."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank value at `share` (0.5: the median) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclass
class Phase:
    """The turns one channel ran at one concurrency: latencies, wall time, errors by kind, empty answers."""

    channel: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    silent: int = 0  # turns the bot answered with nothing

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def absorb(self, other: Phase) -> None:
        self.latencies_ms += other.latencies_ms
        self.seconds += other.seconds
        self.silent += other.silent
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count

    def summary(self) -> dict[str, Any]:
        values = self.latencies_ms or [float("nan")]
        return {"turns": len(self.latencies_ms), "p50_ms": round(percentile(values, 0.5), 1),
                "p99_ms": round(percentile(values, 0.99), 1), "mean_ms": round(statistics.fmean(values), 1),
                "turns_per_s": round(len(self.latencies_ms) / self.seconds, 2) if self.seconds else None,
                "errors": self.errors, "silent_turns": self.silent}
