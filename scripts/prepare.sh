#!/usr/bin/env bash
# Everything `make run` and `make test` need, as fast as two cores allow: two lanes side by side,
#   rasa lane: the Rasa environment (Python 3.10), then the model (scripts/train.sh)
#   app lane:  the app environment (Python 3.11), then the knowledge-base index (kb build)
# Each lane skips what is up to date. Their output goes to var/prepare-<lane>.log; this script
# prints one progress line per lane every few seconds, and the log's tail when a lane fails.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
export HF_HUB_OFFLINE=1 RASA_TELEMETRY_ENABLED=false

say() { printf '\033[1m[prepare]\033[0m %s\n' "$*"; }
[ -f .env ] || { cp .env.example .env; say "created .env from .env.example"; }

lane_rasa() { scripts/setup.sh rasa && scripts/train.sh; }
lane_app() { scripts/setup.sh app && .venv/bin/kb build; }

started=$SECONDS
lane_rasa > var/prepare-rasa.log 2>&1 & rasa_pid=$!
lane_app > var/prepare-app.log 2>&1 & app_pid=$!

# The latest line of a lane's log that says something (progress bars and blank lines skipped).
latest() {
  { tr '\r' '\n' < "var/prepare-$1.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -E '^\[[a-z]+\]' | tail -1 | cut -c1-100; } || true
}
last_rasa="" last_app=""
while kill -0 "$rasa_pid" 2>/dev/null || kill -0 "$app_pid" 2>/dev/null; do
  now_rasa="$(latest rasa)"; now_app="$(latest app)"
  # A new step in either lane prints at once; mere progress (the same line with other numbers)
  # every 15 s, so the two lanes stay readable while they overlap.
  phase="$(printf '%s|%s' "$now_rasa" "$now_app" | tr -d '0-9')"
  if [ "$phase" != "${last_phase:-}" ] || [ $((SECONDS - ${printed_at:-0})) -ge 15 ]; then
    last_phase="$phase" printed_at=$SECONDS
    say "$(printf '%3ds' $((SECONDS - started)))  rasa: ${now_rasa:-starting…}"
    say "      app:  ${now_app:-starting…}"
    last_rasa="$now_rasa" last_app="$now_app"
  fi
  sleep 3
done

failed=0
for lane in rasa app; do
  pid_var="${lane}_pid"
  if ! wait "${!pid_var}"; then
    failed=1
    echo "----- var/prepare-$lane.log (last 30 lines) -----" >&2
    tail -30 "var/prepare-$lane.log" >&2
    say "the $lane lane failed; its whole log is var/prepare-$lane.log" >&2
  fi
done
[ "$failed" -eq 0 ] || exit 1
say "ready in $((SECONDS - started)) s: both environments, the Rasa model and the index"
