#!/usr/bin/env bash
# Make the Python environments; idempotent, skips work when nothing changed.
#   scripts/setup.sh rasa   .venv-rasa  Python 3.10: Rasa 3.6.21 (pins an old TensorFlow; cannot share Python 3.11)
#   scripts/setup.sh app    .venv       Python 3.11: knowledge_base, actions, handoff (torch 2.13.0 CPU first)
#   scripts/setup.sh        both, one after the other (scripts/prepare.sh builds them side by side)
# A stamp in each venv holds the hash of its requirement files; a match skips the install.
set -euo pipefail
cd "$(dirname "$0")/.."

APP_PYTHON="${APP_PYTHON:-python3.11}"
command -v "$APP_PYTHON" >/dev/null 2>&1 || APP_PYTHON=python3

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
quiet_pip() {  # pip without the machine's harmless "location is ignored" noise
  "$@" 2>&1 | grep -v -e "is ignored: it is neither" -e "BuildBackendWarning" || true
  return "${PIPESTATUS[0]}"
}

find_python310() {
  if [ -n "${RASA_PYTHON:-}" ]; then echo "$RASA_PYTHON"; return; fi
  local candidate
  for candidate in python3.10 "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/"3.10.*/bin/python3.10; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
      echo "$candidate"; return
    fi
  done
  if PYENV_VERSION=3.10.13 python3.10 -c 'import sys' >/dev/null 2>&1; then
    echo "env PYENV_VERSION=3.10.13 python3.10"; return
  fi
  return 1
}

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

setup_rasa() {
rasa_stamp="$(stamp_of bot/requirements.txt)"
if [ "$(cat .venv-rasa/.stamp 2>/dev/null)" != "$rasa_stamp" ]; then
  if ! PY310="$(find_python310)"; then
    echo "error: Rasa 3.6 needs Python 3.10, and none was found." >&2
    echo "  Install it (e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10 python3.10-venv')" >&2
    echo "  or point RASA_PYTHON at a python3.10 binary in .env." >&2
    exit 1
  fi
  say "1/2 Rasa environment (.venv-rasa, Python 3.10): installing rasa (about 2 minutes, 2.7 GB)…"
  rm -rf .venv-rasa
  $PY310 -m venv .venv-rasa
  quiet_pip .venv-rasa/bin/pip install -q --upgrade pip
  quiet_pip .venv-rasa/bin/pip install -q --progress-bar off -r bot/requirements.txt
  echo "$rasa_stamp" > .venv-rasa/.stamp
  say "1/2 Rasa environment ready"
else
  say "1/2 Rasa environment up to date"
fi
}

setup_app() {
app_stamp="$(stamp_of pyproject.toml)"
if [ "$(cat .venv/.stamp 2>/dev/null)" != "$app_stamp" ]; then
  say "2/2 app environment (.venv, Python 3.11): torch 2.13.0 CPU, then the package (about 1.5 minutes)…"
  [ -x .venv/bin/python ] || "$APP_PYTHON" -m venv .venv
  quiet_pip .venv/bin/pip install -q --upgrade pip
  # CPU torch first: a bare torch requirement would pull a CUDA build of several GB.
  quiet_pip .venv/bin/pip install -q --progress-bar off torch==2.13.0
  quiet_pip .venv/bin/pip install -q --progress-bar off -e '.[test]'
  echo "$app_stamp" > .venv/.stamp
  say "2/2 app environment ready"
else
  say "2/2 app environment up to date"
fi
}

if [ ! -f .env ]; then
  cp .env.example .env
  say "created .env from .env.example"
fi
case "${1:-all}" in
  rasa) setup_rasa ;;
  app) setup_app ;;
  all) setup_rasa; setup_app ;;
  *) echo "usage: scripts/setup.sh [rasa|app|all]" >&2; exit 2 ;;
esac
