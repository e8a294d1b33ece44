"""Precision and recall of the frustration escalation on a labelled set written apart from its word lists.

    python -m bot.tools.eval_handoff            # tests/bot/handoff/frustration_set.yml (make eval-handoff)

Messages are judged alone (escalate or not); conversations by whether and at which
turn they escalate. Prints the figures and writes .state/eval/handoff.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.config import PROJECT_ROOT
from bot.handoff.frustration import escalation_turn, frustration_config, read_message

LABELLED_SET = PROJECT_ROOT / "tests" / "bot" / "handoff" / "frustration_set.yml"


def precision_recall(gold: list[bool], predicted: list[bool]) -> dict[str, float]:
    tp = sum(g and p for g, p in zip(gold, predicted))
    fp = sum(p and not g for g, p in zip(gold, predicted))
    fn = sum(g and not p for g, p in zip(gold, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n": len(gold)}


def evaluate(path: Path = LABELLED_SET) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    threshold = frustration_config().threshold
    messages = data["messages"]
    gold = [bool(m["escalate"]) for m in messages]
    predicted = [read_message(m["text"]).score >= threshold for m in messages]
    by_tone: dict[str, dict[str, float]] = {}
    for tone in sorted({m["tone"] for m in messages}):
        picked = [i for i, m in enumerate(messages) if m["tone"] == tone]
        right = sum(gold[i] == predicted[i] for i in picked)
        by_tone[tone] = {"accuracy": right / len(picked), "n": len(picked)}
    conversations = data["conversations"]
    turns = [escalation_turn(c["turns"]) for c in conversations]
    expected = [c["escalate_at"] for c in conversations]
    misses = [{"text": m["text"], "gold": g, "score": read_message(m["text"]).score}
              for m, g, p in zip(messages, gold, predicted) if g != p]
    return {
        "messages": precision_recall(gold, predicted),
        "by_tone": by_tone,
        "conversations": precision_recall([e is not None for e in expected], [t is not None for t in turns]),
        "conversations_right_turn": sum(t == e for t, e in zip(turns, expected)) / len(conversations),
        "conversations_within_one_turn": sum((t is None) == (e is None) and (t is None or abs(t - e) <= 1)
                                             for t, e in zip(turns, expected)) / len(conversations),
        "misclassified": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=LABELLED_SET)
    args = parser.parse_args(argv)
    result = evaluate(args.set)
    m, c = result["messages"], result["conversations"]
    print(f"messages       precision {m['precision']:.3f}  recall {m['recall']:.3f}  F1 {m['f1']:.3f}  (n={m['n']})")
    print("  by tone      " + ", ".join(f"{k} {v['accuracy']:.2f} (n={v['n']})" for k, v in result["by_tone"].items()))
    print(f"conversations  precision {c['precision']:.3f}  recall {c['recall']:.3f}  F1 {c['f1']:.3f}  (n={c['n']}); "
          f"right turn {result['conversations_right_turn']:.2f}, within one turn "
          f"{result['conversations_within_one_turn']:.2f}")
    out = PROJECT_ROOT / ".state" / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / "handoff.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
