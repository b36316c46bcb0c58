#!/usr/bin/env bash
# Train the Rasa model only when bot/ changed (a stamp keyed on the hash of its config and data).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
stamp="$(cat bot/config.yml bot/domain.yml $(find bot/data -type f | sort) | sha256sum | cut -c1-16)"
if [ -f bot/models/kestrel.tar.gz ] && [ "$(cat var/model.stamp 2>/dev/null)" = "$stamp" ] && [ "${1:-}" != "--force" ]; then
  echo "[train] Rasa model is up to date"
  exit 0
fi
echo "[train] training the Rasa model (about 3 to 5 minutes on 2 cores)…"
cd bot
RASA_TELEMETRY_ENABLED=false ../.venv-rasa/bin/rasa train --fixed-model-name kestrel --out models 2>&1 \
  | tee ../var/train.log | python3 ../scripts/train_progress.py
test "${PIPESTATUS[0]}" -eq 0
cd ..
echo "$stamp" > var/model.stamp
echo "[train] model ready: bot/models/kestrel.tar.gz"
