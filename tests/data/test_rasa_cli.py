"""Rasa's own CLI on this project: data validation, test stories, NLU scores."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from bot.config import PROJECT_ROOT
from tests.conftest import MODEL


def rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)


# Warnings `rasa data validate` gives for every project like ours, each for a known reason:
EXPLAINED_WARNINGS = (
    # Rasa 3.6 prints this for any domain with slots, whatever their mappings.
    re.compile(r"Slot auto-fill has been removed in 3.0"),
    # Rasa merges the retrieval intents it finds in the NLU data into the domain,
    # and then reports `faq` (declared in domain.yml, as it must be) as a duplicate.
    re.compile(r"duplicated intents have been found across multiple domain files: faq$"),
    # The validator only looks at stories and rules: forms ask with utter_ask_<slot>
    # and custom actions send these responses by name.
    re.compile(r"The utterance 'utter_(ask_\w+|flow_stopped|cancel_kept|ok|what_for|you_are_welcome|goodbye)' is not used in any story or rule"),
)


def test_data_validates_with_only_explained_warnings() -> None:
    result = rasa("data", "validate")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    warnings = [line.split("UserWarning:", 1)[1].strip() for line in output.splitlines() if "UserWarning:" in line]
    unexplained = [w for w in warnings if not any(p.search(w) for p in EXPLAINED_WARNINGS)]
    assert not unexplained, unexplained


def test_lookup_tables_match_the_catalog() -> None:
    result = subprocess.run([sys.executable, "-m", "bot.nlu.assets", "--check"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.model
def test_story_tests_pass(tmp_path) -> None:
    result = rasa("test", "core", "--model", str(MODEL), "--stories", "tests/stories",
                  "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = tmp_path / "failed_test_stories.yml"
    detail = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, detail[-6000:] + result.stderr[-3000:]


@pytest.mark.model
def test_nlu_scores_on_held_out_set() -> None:
    result = subprocess.run([sys.executable, "-m", "bot.tools.eval_nlu", "--test-set", "tests/nlu/nlu_testset.yml"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    scores = json.loads((PROJECT_ROOT / ".state" / "eval" / "latest.json").read_text())["config.yml on custom"]
    # The target is 0.90; this floor catches a broken model or pipeline without
    # turning every small data change into a red build.
    assert scores["intent_macro_f1"] >= 0.80, scores
    assert scores["entity_f1"] >= 0.60, scores
