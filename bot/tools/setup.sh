#!/usr/bin/env bash
# Creates .venv from Python 3.10 (found through pyenv) and installs the lock file.
# Re-running is cheap: nothing is reinstalled while the lock file is unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOCK=bot/requirements.lock
VENV=.venv

find_python() {
  local root candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root)
  else
    root=${PYENV_ROOT:-$HOME/.pyenv}
  fi
  if [ -d "$root/versions" ]; then
    # Newest 3.10.x first.
    while IFS= read -r dir; do candidates+=("$dir/bin/python3.10"); done \
      < <(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V -r)
  fi
  candidates+=("$(command -v python3.10 || true)")
  for py in "${candidates[@]}"; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

if ! PY=$(find_python); then
  echo "ERROR: Python 3.10 not found. Rasa 3.6 needs Python 3.10." >&2
  echo "       Install it with pyenv (pyenv install 3.10) or put python3.10 on PATH, then re-run." >&2
  exit 2
fi
echo "==> Python: $PY"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
echo "==> installing $LOCK (a few minutes on a fresh machine)"
# (grep drops pip's notes about this machine's optional local package folders)
"$VENV/bin/python" -m pip install --quiet --no-deps -r "$LOCK" 2> >(grep -v "is ignored: it is neither" >&2)
"$VENV/bin/python" -m pip check
# The project root on sys.path, so `rasa`, `pytest` and `python -m bot...` find bot/, actions/, connectors/.
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
pwd > "$site/shop_assistant.pth"
echo "$want" > "$VENV/.lock-sha256"
echo "==> .venv ready"
