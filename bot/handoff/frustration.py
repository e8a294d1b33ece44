"""How unhappy a shopper is, turn by turn: the score that hands a conversation to a human.

Signals (words, punctuation runs, shouting, a question asked again) and their
weights and threshold live in `triggers.yml` beside this file; each message's
score is the sum of the signals it shows, and a conversation's score carries over
from turn to turn (decaying) so that patience running out is seen too.
`make eval-handoff` measures the decision on a labelled set written apart from
the word lists.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Sequence

import yaml

from bot.nlu.normalize import normalize_text

TRIGGERS_FILE = Path(__file__).with_name("triggers.yml")
_PUNCT_RUN = re.compile(r"[!?！？]{2,}")
_SHOUT = re.compile(r"(?<![A-Za-z])[A-Z]{3,}(?![A-Za-z])")
REPEAT_WINDOW = 3  # earlier shopper messages a repeated question is looked for in


@dataclass(frozen=True)
class FrustrationConfig:
    threshold: float
    carry_over: float
    weights: dict[str, float]
    words: dict[str, tuple[str, ...]]

    @classmethod
    def from_file(cls, path: Path = TRIGGERS_FILE) -> FrustrationConfig:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["frustration"]
        return cls(float(data["threshold"]), float(data["carry_over"]),
                   {k: float(v) for k, v in data["weights"].items()},
                   {k: tuple(str(w).lower() for w in v) for k, v in data["words"].items()})


@cache
def frustration_config() -> FrustrationConfig:
    return FrustrationConfig.from_file()


@dataclass(frozen=True)
class Reading:
    """One message's score and the signals behind it (recorded with an escalation)."""

    score: float
    signals: tuple[str, ...] = field(default=())


def _plain(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", normalize_text(text).lower())


def _asked_again(text: str, earlier: Sequence[str]) -> bool:
    """Whether `text` repeats one of `earlier` (the same words, or one inside the other)."""
    plain = _plain(text)
    if len(plain) < 3:
        return False
    return any(len(before) >= 3 and (plain in before or before in plain) for before in map(_plain, earlier))


def read_message(text: str, earlier: Sequence[str] = (), config: FrustrationConfig | None = None) -> Reading:
    """The frustration signals of one shopper message, given their earlier messages (newest last)."""
    config = config or frustration_config()
    lowered = normalize_text(text).lower()
    signals = [kind for kind, words in config.words.items() if any(word in lowered for word in words)]
    if _PUNCT_RUN.search(text):
        signals.append("punctuation_run")
    if _SHOUT.search(text):
        signals.append("shouting")
    if _asked_again(text, earlier[-REPEAT_WINDOW:]):
        signals.append("repeated_question")
    return Reading(sum(config.weights.get(s, 0.0) for s in signals), tuple(signals))


def conversation_scores(messages: Sequence[str], config: FrustrationConfig | None = None) -> list[float]:
    """The conversation's frustration after each shopper message."""
    config = config or frustration_config()
    scores, score = [], 0.0
    for index, text in enumerate(messages):
        score = score * config.carry_over + read_message(text, messages[:index], config).score
        scores.append(score)
    return scores


def escalation_turn(messages: Sequence[str], config: FrustrationConfig | None = None) -> int | None:
    """The 1-based turn at which the conversation should go to a human, or None."""
    config = config or frustration_config()
    for turn, score in enumerate(conversation_scores(messages, config), 1):
        if score >= config.threshold:
            return turn
    return None
