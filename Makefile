# Everyday commands. `make run` and `make test` do all the set-up they need.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup assets model run lint test test-fast validate eval-nlu eval-handoff bench bench-handoff clean

setup:            ## virtual environment from bot/requirements.lock (Python 3.10 via pyenv)
	@bash bot/tools/setup.sh

assets: setup     ## shop database, lookup tables, jieba dictionary, spaCy pipeline
	@$(PY) -m bot.shop.seed --if-missing
	@$(PY) -m bot.nlu.assets

model: assets     ## train when data or config changed (fingerprint in models/)
	@$(PY) -m bot.tools.train

run: model        ## Redis + action server + Rasa + web chat; Ctrl-C stops all
	@$(PY) -m bot.runtime.runner

validate: assets  ## Rasa's data checks (unexplained warnings fail), lookups, test set kept apart from training data
	@$(PY) -m pytest -q tests/data -k "validates or lookup or test_message or enough or share_no_message or realistic_set"

lint: setup       ## ruff (lint, import order) and mypy (types), settings in pyproject.toml
	@$(PY) -m ruff check .
	@$(PY) -m mypy

test: lint model  ## the whole suite: lint and types, pytest (units, actions, stack, browser), Rasa's checks
	@bash bot/tools/system_deps.sh
	@$(PY) -m pytest tests

test-fast: assets ## tests that need no trained model, servers or browser
	@$(PY) -m pytest tests -m "not stack and not browser and not model"

eval-nlu: model   ## both NLU test sets: macro-F1, accuracy, entity F1, accuracy/coverage, weakest intents
	@$(PY) -m bot.tools.eval_nlu

eval-handoff: setup ## precision/recall of the frustration escalation on its labelled set
	@$(PY) -m bot.tools.eval_handoff

bench: model      ## REST latency/throughput vs Rasa's starter bot (prints figures)
	@$(PY) bench/bench_rest.py

bench-handoff: model ## hand-off queue throughput, trigger-to-console and agent-to-shopper latency
	@$(PY) bench/bench_handoff.py

clean:
	rm -rf .state models/*.tar.gz models/*.fingerprint models/assets results
