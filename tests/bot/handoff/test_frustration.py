"""The frustration score: signals, carry-over between turns, and the labelled set it is measured on."""
from __future__ import annotations

import yaml

from bot.handoff.frustration import (
    TRIGGERS_FILE,
    FrustrationConfig,
    conversation_scores,
    escalation_turn,
    frustration_config,
    read_message,
)
from bot.tools.eval_handoff import LABELLED_SET, evaluate

CONFIG = FrustrationConfig(threshold=2.0, carry_over=0.5,
                           weights={"insult": 3.0, "impatience": 1.0, "punctuation_run": 1.0, "shouting": 1.5,
                                    "repeated_question": 1.5},
                           words={"insult": ("垃圾",), "impatience": ("到底",)})


def test_signals_add_up() -> None:
    assert read_message("请问这个有货吗", config=CONFIG).score == 0
    assert read_message("垃圾！！", config=CONFIG).signals == ("insult", "punctuation_run")
    assert read_message("WHY 到底", config=CONFIG).score == 2.5
    assert read_message("ok 到底", config=CONFIG).signals == ("impatience",)  # lower case is no shouting


def test_asking_again_counts_and_the_score_carries_over() -> None:
    turns = ["我的快递到哪了", "快递到哪了", "快递到哪了！！ 到底"]
    assert read_message(turns[1], turns[:1], CONFIG).signals == ("repeated_question",)
    assert conversation_scores(turns, CONFIG) == [0.0, 1.5, 0.75 + 3.5]
    assert escalation_turn(turns, CONFIG) == 3
    assert escalation_turn(turns[:2], CONFIG) is None
    assert escalation_turn(["谢谢", "好的"], CONFIG) is None


def test_thresholds_and_words_live_in_the_triggers_file() -> None:
    data = yaml.safe_load(TRIGGERS_FILE.read_text(encoding="utf-8"))["frustration"]
    config = frustration_config()
    assert config.threshold == data["threshold"] and set(config.weights) >= set(config.words)


def test_the_labelled_set_is_large_enough_and_the_evaluation_runs() -> None:
    data = yaml.safe_load(LABELLED_SET.read_text(encoding="utf-8"))
    assert len(data["messages"]) >= 300 and len(data["conversations"]) >= 40
    result = evaluate()
    assert 0.0 <= result["messages"]["precision"] <= 1.0 and result["messages"]["n"] == len(data["messages"])

