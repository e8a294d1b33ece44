"""Intent macro-F1, accuracy, entity F1 and accuracy against coverage of a trained model on both NLU test sets.

    python -m bot.tools.eval_nlu                    # models/shop.tar.gz on the held-out and the realistic set
    python -m bot.tools.eval_nlu --compare-sparse   # also train + score config.yml without e5
    python -m bot.tools.eval_nlu --config my.yml    # also train + score another pipeline on both sets
    python -m bot.tools.eval_nlu --skip-model --config a.yml --config b.yml  # only the variants
    python -m bot.tools.eval_nlu --min-macro-f1 0.9 # exit 1 below the target

Intents are scored as the shopper experiences them: a FAQ counts as right only
when the response selector picks the right answer (faq/invoice, ...), and a
message that fell back (nlu_fallback) counts as wrong. Entities are compared as
(entity, value) pairs per message, so normalisation may move offsets freely.
The realistic set annotates only order numbers, phone digits and coupon codes, so
its entity F1 counts only those. The accuracy/coverage table shows, for each
confidence threshold, how many messages the bot would answer and how many of those
it gets right: the fallback threshold in config.yml is chosen from it.
Misclassified messages go to .state/eval/<model>-<set>-errors.json for trainers
(a --config variant's model is named after its file: bench/pipelines/linear_e5.yml
-> linear_e5.tar.gz). ms/message times parsing alone, not loading the model.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bot.config import PROJECT_ROOT

TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "nlu_testset.yml"
REALISTIC_SET = PROJECT_ROOT / "tests" / "nlu" / "realistic"
# Entity types each set annotates (None: all of them).
ANNOTATED_ENTITIES: dict[str, Any] = {"held-out": None, "realistic": {"order_id", "phone_last4", "coupon_code"}}
# Low steps too: a linear classifier spreads its probability over all intents, so its
# confidences run lower than DIET's.
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)


def gold_examples(path: Path) -> list[dict[str, Any]]:
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for message in load_data(str(path)).intent_examples:
        label = message.get("intent_response_key") or message.get("intent")
        entities = Counter((e["entity"], str(e.get("value", ""))) for e in message.get("entities") or [])
        examples.append({"text": message.get("text"), "label": label, "entities": entities})
    return examples


def predicted_label(parse: dict[str, Any]) -> str:
    intent = (parse.get("intent") or {}).get("name") or "None"
    return _with_faq_topic(intent, parse)


def _with_faq_topic(intent: str, parse: dict[str, Any]) -> str:
    if intent == "faq":
        selector = (parse.get("response_selector") or {}).get("faq") or {}
        return (selector.get("response") or {}).get("intent_response_key") or "faq"
    return intent


async def _parse_all(model: Path, texts: list[str]) -> tuple[list[dict[str, Any]], float]:
    """The parses of `texts` and the seconds parsing took (loading the model not counted)."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    started = time.monotonic()
    parses = [await agent.parse_message(text) for text in texts]
    return parses, time.monotonic() - started


def macro_f1(gold: list[str], predicted: list[str]) -> tuple[float, dict[str, float]]:
    per_label: dict[str, float] = {}
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        per_label[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return sum(per_label.values()) / len(per_label), per_label


def entity_f1(gold: list[Counter], predicted: list[Counter]) -> float:
    tp = sum(sum((g & p).values()) for g, p in zip(gold, predicted))
    n_pred = sum(sum(p.values()) for p in predicted)
    n_gold = sum(sum(g.values()) for g in gold)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def best_guess(parse: dict[str, Any]) -> tuple[str, float]:
    """The classifier's own top intent and confidence, before the fallback replaced it."""
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    top = ranking[0] if ranking else (parse.get("intent") or {})
    return _with_faq_topic(str(top.get("name") or "None"), parse), float(top.get("confidence") or 0.0)


def coverage_table(gold: list[str], parses: list[dict[str, Any]]) -> list[dict[str, float]]:
    """For each threshold: the share of messages answered (top confidence at least that) and their accuracy."""
    guesses = [best_guess(p) for p in parses]
    rows = []
    for threshold in THRESHOLDS:
        answered = [(g, label) for g, (label, confidence) in zip(gold, guesses) if confidence >= threshold]
        right = sum(g == label for g, label in answered)
        rows.append({"threshold": threshold, "coverage": len(answered) / len(gold) if gold else 0.0,
                     "accuracy": right / len(answered) if answered else 0.0})
    return rows


def evaluate(model: Path, test_set: Path = TEST_SET, entity_types: Any = None, name: str = "held-out"
             ) -> dict[str, Any]:
    examples = gold_examples(test_set)
    if entity_types is not None:
        for example in examples:
            example["entities"] = Counter({k: v for k, v in example["entities"].items() if k[0] in entity_types})
    parses, seconds = asyncio.run(_parse_all(model, [e["text"] for e in examples]))
    gold = [e["label"] for e in examples]
    predicted = [predicted_label(p) for p in parses]
    predicted_entities = [
        Counter({(e["entity"], str(e.get("value", ""))) for e in p.get("entities") or []
                 if entity_types is None or e["entity"] in entity_types}) for p in parses
    ]
    macro, per_label = macro_f1(gold, predicted)
    errors = [
        {"text": e["text"], "gold": g, "predicted": p, "confidence": (parse.get("intent") or {}).get("confidence")}
        for e, g, p, parse in zip(examples, gold, predicted, parses) if g != p
    ]
    out_dir = PROJECT_ROOT / ".state" / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{model.name}-{name}-errors.json").write_text(json.dumps(errors, ensure_ascii=False, indent=1),
                                                             "utf-8")
    return {
        "model": str(model), "examples": len(examples), "intent_macro_f1": macro,
        "intent_accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
        "entity_f1": entity_f1([e["entities"] for e in examples], predicted_entities),
        "per_label_f1": per_label, "errors": len(errors), "ms_per_message": 1000 * seconds / len(examples),
        "coverage": coverage_table(gold, parses),
    }


def train_nlu(config_path: Path, out_dir: Path, name: str) -> tuple[Path, float]:
    """An NLU-only model of `config_path` in `out_dir`, and the seconds its training took."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "nlu", "--config", str(config_path), "--nlu", "data",
         "--out", str(out_dir), "--fixed-model-name", name],
        cwd=PROJECT_ROOT, check=True,
    )
    return out_dir / f"{name}.tar.gz", time.monotonic() - started


def train_sparse_variant(out_dir: Path) -> tuple[Path, float]:
    """config.yml without the e5 featurizer, NLU only, into `out_dir`."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = [c for c in config["pipeline"] if not c["name"].endswith("E5SentenceFeaturizer")]
    config_path = out_dir / "config_sparse.yml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return train_nlu(config_path, out_dir, "sparse")


def print_report(name: str, result: dict[str, Any]) -> None:
    print(f"\n== {name}: {result['model']}")
    print(f"   intent macro-F1  {result['intent_macro_f1']:.3f}   accuracy {result['intent_accuracy']:.3f}")
    print(f"   entity F1        {result['entity_f1']:.3f}")
    print(f"   {result['examples']} test messages, {result['errors']} misclassified, "
          f"{result['ms_per_message']:.1f} ms/message")
    weakest = sorted(result["per_label_f1"].items(), key=lambda kv: kv[1])[:6]
    print("   weakest labels:  " + ", ".join(f"{k} {v:.2f}" for k, v in weakest))
    print("   confidence >=    " + "  ".join(f"{row['threshold']:>5.2f}" for row in result["coverage"]))
    print("   coverage         " + "  ".join(f"{row['coverage']:>5.2f}" for row in result["coverage"]))
    print("   accuracy         " + "  ".join(f"{row['accuracy']:>5.2f}" for row in result["coverage"]))


def score_variant(label: str, model: Path, seconds: float, sets: dict[str, tuple[Path, Any]],
                  results: dict[str, Any]) -> None:
    """Scores a freshly trained variant on every test set into `results` and prints each report."""
    for set_name, (path, entity_types) in sets.items():
        key = f"{label} on {set_name}"
        results[key] = {**evaluate(model, path, entity_types, set_name), "train_seconds": seconds}
        print_report(f"{label} on the {set_name} set (NLU trained in {seconds:.0f} s)", results[key])


def main() -> int:
    from bot.tools.train import model_path

    parser = argparse.ArgumentParser(description="score the NLU on tests/nlu")
    parser.add_argument("--model", type=Path, default=model_path(PROJECT_ROOT / "models"))
    parser.add_argument("--test-set", type=Path, default=None, help="one test set instead of both")
    parser.add_argument("--compare-sparse", action="store_true", help="also score a model without e5 features")
    parser.add_argument("--config", type=Path, action="append", default=[],
                        help="also train (NLU only) and score this pipeline config; repeatable")
    parser.add_argument("--skip-model", action="store_true", help="score only the --config/--compare-sparse variants")
    parser.add_argument("--min-macro-f1", type=float, default=None)
    args = parser.parse_args()
    sets = ({"custom": (args.test_set, None)} if args.test_set else
            {"held-out": (TEST_SET, ANNOTATED_ENTITIES["held-out"]),
             "realistic": (REALISTIC_SET, ANNOTATED_ENTITIES["realistic"])})
    results: dict[str, Any] = {}
    if not args.skip_model:
        for set_name, (path, entity_types) in sets.items():
            results[f"config.yml on {set_name}"] = evaluate(args.model, path, entity_types, set_name)
            print_report(f"config.yml on the {set_name} set", results[f"config.yml on {set_name}"])
    for config_path in args.config:
        with tempfile.TemporaryDirectory() as tmp:
            model, seconds = train_nlu(config_path.resolve(), Path(tmp), config_path.stem)
            score_variant(str(config_path), model, seconds, sets, results)
    if args.compare_sparse:
        with tempfile.TemporaryDirectory() as tmp:
            model, seconds = train_sparse_variant(Path(tmp))
            score_variant("sparse only (no e5)", model, seconds, sets, results)
        for set_name in sets:
            if f"config.yml on {set_name}" in results:
                diff = (results[f"config.yml on {set_name}"]["intent_macro_f1"]
                        - results[f"sparse only (no e5) on {set_name}"]["intent_macro_f1"])
                print(f"\n   e5 featurizer adds {diff * 100:+.1f} points of intent macro-F1 on the {set_name} set")
    summary = {k: {m: v for m, v in r.items() if m != "per_label_f1"} for k, r in results.items()}
    out_dir = PROJECT_ROOT / ".state" / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(summary, indent=1), "utf-8")
    main_key = next(iter(results), None)
    if args.min_macro_f1 is not None and main_key and results[main_key]["intent_macro_f1"] < args.min_macro_f1:
        print(f"\nFAIL: intent macro-F1 below {args.min_macro_f1}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
