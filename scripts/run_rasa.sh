#!/usr/bin/env bash
# Start the Rasa server (REST channel only, no HTTP API) on loopback, with the SQL tracker store.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
# .env fills in what the environment does not set (the environment wins, as everywhere).
if [ -f .env ]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    value="${value%\"}"; value="${value#\"}"
    [ -z "${!key+x}" ] && export "$key=$value"
  done < .env
fi

export RASA_TELEMETRY_ENABLED=false
export ACTION_SERVER_URL="${ACTION_SERVER_URL:-http://127.0.0.1:${ACTION_SERVER_PORT:-5055}/webhook}"
endpoints=endpoints.yml
if [ "${RASA_TRACKER_DIALECT:-sqlite}" = "postgresql" ]; then
  endpoints=endpoints.postgres.yml
  export RASA_TRACKER_HOST="${RASA_TRACKER_HOST:-127.0.0.1}" RASA_TRACKER_PORT="${RASA_TRACKER_PORT:-5432}"
  export RASA_TRACKER_DB="${RASA_TRACKER_DB:-rasa}" RASA_TRACKER_USER="${RASA_TRACKER_USER:-postgres}"
  export RASA_TRACKER_PASSWORD="${RASA_TRACKER_PASSWORD:-}"
  export RASA_LOCK_REDIS_HOST="${RASA_LOCK_REDIS_HOST:-127.0.0.1}" RASA_LOCK_REDIS_PORT="${RASA_LOCK_REDIS_PORT:-6379}"
else
  export RASA_TRACKER_DB="${RASA_TRACKER_DB:-$root/var/rasa-tracker.sqlite3}"
fi
# Every ${VAR} the endpoints file names must be set: Rasa would otherwise use the text "${VAR}"
# itself (a tracker database file of that name, an action server at that "URL").
for name in $(grep -o '\${[A-Z_]*}' "bot/$endpoints" | tr -d '${}' | sort -u); do
  if [ -z "${!name:-}" ] && [ "$name" != "RASA_TRACKER_PASSWORD" ]; then
    echo "rasa: $name is not set, and bot/$endpoints needs it; set it in .env (see .env.example)" >&2
    exit 2
  fi
done
mkdir -p "$root/var"
model="${RASA_MODEL:-$root/bot/models/kestrel.tar.gz}"
if [ ! -f "$model" ]; then
  echo "rasa: no trained model at $model; run 'make train' (make run does it for you)" >&2
  exit 2
fi
cd bot
exec ../.venv-rasa/bin/rasa run \
  --interface "${RASA_HOST:-127.0.0.1}" --port "${RASA_PORT:-5005}" \
  --model "$model" --endpoints "$endpoints" --credentials credentials.yml \
  --log-file "${RASA_LOG_FILE:-$root/var/rasa.log}" "$@"
