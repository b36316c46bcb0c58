#!/usr/bin/env bash
# `make run-cluster`: several hubs behind HAProxy, on this one machine (README, "Several hubs"):
# two hubs on PostgreSQL and Redis, two Rasa servers (PostgreSQL tracker store, Redis lock store),
# the action server and HAProxy, under one supervisor (honcho), and one URL: HAProxy's.
#
# Ports: HAProxy on HUB_PORT (8000), the hubs on HUB_PORT+1 and +2, Rasa on RASA_PORT (5005) and
# RASA_PORT+1, the action server on ACTION_SERVER_PORT (5055). DATABASE_URL (a PostgreSQL one;
# default postgresql://postgres@127.0.0.1:5432/kestrel), REDIS_URL (default redis://127.0.0.1:6379/0)
# and RASA_TRACKER_DB (default rasa) come from the environment or .env; both databases are created
# when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# .env fills in what the environment does not set (the environment wins, as everywhere).
if [ -f .env ]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || continue
    value="${value%\"}"; value="${value#\"}"
    [ -z "${!key+x}" ] && export "$key=$value"
  done < .env
fi
if ! command -v haproxy >/dev/null 2>&1; then
  echo "run-cluster: HAProxy is not installed; apt-get install -y haproxy" >&2
  exit 2
fi

host="${HUB_HOST:-127.0.0.1}"
lb_port="${HUB_PORT:-8000}"
rasa_port="${RASA_PORT:-5005}"
case "${DATABASE_URL:-}" in
  postgres*) ;;
  *) DATABASE_URL="postgresql://postgres@127.0.0.1:5432/kestrel"
     echo "[cluster] DATABASE_URL is not PostgreSQL; the hubs share $DATABASE_URL" ;;
esac
export DATABASE_URL
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export RASA_TRACKER_DIALECT=postgresql RASA_TRACKER_DB="${RASA_TRACKER_DB:-rasa}"
export KESTREL_HUB1_PORT=$((lb_port + 1)) KESTREL_HUB2_PORT=$((lb_port + 2))
export KESTREL_RASA1_PORT=$rasa_port KESTREL_RASA2_PORT=$((rasa_port + 1))
export KESTREL_LB_BIND="$host:$lb_port" KESTREL_HUB1="127.0.0.1:$KESTREL_HUB1_PORT" KESTREL_HUB2="127.0.0.1:$KESTREL_HUB2_PORT"
export RASA_URLS="http://127.0.0.1:$KESTREL_RASA1_PORT,http://127.0.0.1:$KESTREL_RASA2_PORT"
export HUB_PORT="$lb_port" HUB_PUBLIC_URL="${HUB_PUBLIC_URL:-http://127.0.0.1:$lb_port}"
export HUB_ALLOWED_ORIGINS="${HUB_ALLOWED_ORIGINS:-$HUB_PUBLIC_URL,http://localhost:$lb_port,http://127.0.0.1:$lb_port}"
export HUB_TRUSTED_PROXIES="${HUB_TRUSTED_PROXIES:-127.0.0.1}"  # HAProxy: per-address limits read X-Forwarded-For

.venv/bin/python scripts/cluster_databases.py --hub "$DATABASE_URL" --rasa "postgresql://${RASA_TRACKER_USER:-postgres}${RASA_TRACKER_PASSWORD:+:$RASA_TRACKER_PASSWORD}@${RASA_TRACKER_HOST:-127.0.0.1}:${RASA_TRACKER_PORT:-5432}/$RASA_TRACKER_DB"
.venv/bin/python scripts/demo_agent.py
for ports in "$lb_port $KESTREL_RASA1_PORT" "$KESTREL_HUB1_PORT $KESTREL_RASA2_PORT" "$KESTREL_HUB2_PORT $KESTREL_RASA2_PORT"; do
  read -r hub rasa <<< "$ports"
  HUB_PORT=$hub RASA_PORT=$rasa .venv/bin/python scripts/check_ports.py
done
mkdir -p var
env | grep -E '^(DATABASE_URL|REDIS_URL|RASA_|KESTREL_|HUB_PORT|HUB_PUBLIC_URL|HUB_ALLOWED_ORIGINS|HUB_TRUSTED_PROXIES)=' > var/cluster.env
echo "[cluster] HAProxy $KESTREL_LB_BIND → hubs :$KESTREL_HUB1_PORT :$KESTREL_HUB2_PORT → Rasa :$KESTREL_RASA1_PORT :$KESTREL_RASA2_PORT"
exec .venv/bin/honcho start -f deploy/Procfile.cluster -e var/cluster.env
