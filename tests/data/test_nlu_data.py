"""The NLU test set stays held out: no message in it is also a training message.

Messages are compared as the model sees them (annotations removed, then
bot.nlu.normalize, lower case), so 「謝謝」 in one and 谢谢 in the other count
as the same message.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.nlu.normalize import normalize_text

ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")
MIN_TEST_EXAMPLES = 15


def _plain(example: str) -> str:
    text = ANNOTATION.sub(lambda m: m.group(1) or m.group(2) or "", example)
    return normalize_text(text).lower().strip()


def examples_by_intent(path: Path) -> dict[str, list[str]]:
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    found: dict[str, list[str]] = {}
    for file in files:
        for item in (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if "intent" in item:
                lines = [line.strip()[2:] for line in item["examples"].splitlines() if line.strip().startswith("- ")]
                found.setdefault(item["intent"], []).extend(lines)
    return found


TEST_SETS = {
    "held-out": PROJECT_ROOT / "tests" / "nlu" / "nlu_testset.yml",
    # written by authors given only real shoppers' patterns and the shop, never the training data
    "realistic": PROJECT_ROOT / "tests" / "nlu" / "realistic",
}
MIN_REALISTIC_MESSAGES = 1000


@pytest.mark.parametrize("name", TEST_SETS)
def test_no_test_message_is_a_training_message(name: str) -> None:
    training = {_plain(line) for lines in examples_by_intent(PROJECT_ROOT / "data" / "nlu").values() for line in lines}
    test_set = examples_by_intent(TEST_SETS[name])
    copies = sorted(line for lines in test_set.values() for line in lines if _plain(line) in training)
    assert not copies, f"{len(copies)} {name} test messages are also training messages: {copies[:20]}"


def test_the_two_test_sets_share_no_message() -> None:
    held_out = {_plain(line) for lines in examples_by_intent(TEST_SETS["held-out"]).values() for line in lines}
    realistic = [line for lines in examples_by_intent(TEST_SETS["realistic"]).values() for line in lines]
    assert not [line for line in realistic if _plain(line) in held_out]


def test_realistic_set_is_large_and_labels_are_known_intents() -> None:
    realistic = examples_by_intent(TEST_SETS["realistic"])
    assert sum(len(set(lines)) for lines in realistic.values()) >= MIN_REALISTIC_MESSAGES
    known = set(examples_by_intent(PROJECT_ROOT / "data" / "nlu"))
    assert set(realistic) <= known, set(realistic) - known


def test_every_intent_has_enough_test_messages() -> None:
    training_intents = set(examples_by_intent(PROJECT_ROOT / "data" / "nlu"))
    test_set = examples_by_intent(TEST_SETS["held-out"])
    counts = Counter({intent: len(set(lines)) for intent, lines in test_set.items()})
    short = {intent: counts[intent] for intent in training_intents if counts[intent] < MIN_TEST_EXAMPLES}
    assert not short, f"intents with fewer than {MIN_TEST_EXAMPLES} distinct test messages: {short}"
