#!/usr/bin/env bash
# Installs the Debian packages that `make` needs and that a fresh Debian lacks:
#   system-deps.sh python  -> python3-venv (Debian's python3 ships without venv/ensurepip)
#   system-deps.sh [all]   -> the above, chromium (browser test), PostgreSQL (team-mode test) and,
#                             when no compose client is here, docker-compose (it validates
#                             docker-compose.yml; no Docker engine is needed or installed)
# Skips what is present; installing the rest needs root (CI runs as root).
set -euo pipefail
what="${1:-all}"
python="${PYTHON:-python3}"
missing=()
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ "$what" = all ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  if ! { command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; } \
    && ! command -v docker-compose >/dev/null 2>&1; then
    missing+=(docker-compose)
  fi
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing: ${missing[*]}, and no apt-get here to install them: install them by hand." >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" python3-venv "* ]] && ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "$python still has no venv module: point PYTHON at Debian's python3 (make PYTHON=/usr/bin/python3)." >&2
  exit 1
fi
