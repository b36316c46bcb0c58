# Kestrel support stack. Two commands matter: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin
export HF_HUB_OFFLINE := 1
export RASA_TELEMETRY_ENABLED := false

.PHONY: run run-cluster soak prepare setup train index test test-unit test-rasa test-browser bench bench-kb eval eval-kb lint clean

run: prepare ## set up, train/index if needed, start everything
	@$(VENV)/python scripts/demo_agent.py
	@$(VENV)/python scripts/check_ports.py
	@$(VENV)/honcho start -f Procfile

run-cluster: prepare ## several hubs behind HAProxy on this machine: hubs ×2, Rasa ×2, PostgreSQL, Redis (README, "Several hubs")
	@scripts/run_cluster.sh

prepare: ## both environments, the model and the index, in two lanes side by side (skips what is up to date)
	@scripts/prepare.sh

setup: ## make both Python environments (skips when nothing changed)
	@scripts/setup.sh

train: setup ## train the Rasa model when bot/ changed
	@scripts/train.sh

index: setup ## build the knowledge-base index (incremental)
	@$(VENV)/kb build

test: prepare ## every test: pytest (unit, integration, browser) and Rasa's own checks
	@scripts/test.sh

lint: setup ## ruff format --check, ruff's rules, mypy on the three packages (CI runs it)
	@$(VENV)/ruff format --check knowledge_base actions handoff tests scripts
	@$(VENV)/ruff check knowledge_base actions handoff tests scripts
	@$(VENV)/mypy knowledge_base actions handoff

bench-kb: setup
	@$(VENV)/python -m knowledge_base.eval.bench

eval-kb: setup
	@$(VENV)/python -m knowledge_base.eval.evaluate $(EVAL_KB_ARGS)

clean:
	rm -rf var bot/models bot/results

bench: prepare ## benchmarks (about 15 minutes): the knowledge base, then end to end; tables, JSON in var/bench/
	@if [ -f knowledge_base/eval/bench.py ]; then $(VENV)/python -m knowledge_base.eval.bench; fi
	@$(VENV)/python scripts/bench_e2e.py $(BENCH_ARGS)
	@$(VENV)/python scripts/bench_sign_in.py
	@$(VENV)/python scripts/bench_retention.py
	@$(VENV)/python scripts/bench_studio.py
	@$(VENV)/python scripts/bench_search.py
	@$(VENV)/python scripts/bench_cluster.py

soak: prepare ## not in `make test`: 300 conversations over 10 minutes through HAProxy while a hub is killed every 2 minutes (about 13 minutes)
	@$(VENV)/python scripts/soak_cluster.py $(SOAK_ARGS)

eval: prepare ## the bot's answers and handoffs through a real stack (about 4 minutes); JSON in var/eval/
	@$(VENV)/python scripts/eval_bot.py $(EVAL_ARGS)
