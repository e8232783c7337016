#!/usr/bin/env bash
# Install everything the tests need on a fresh machine and run the whole suite.
# Usage: tools/test-all.sh [extra pytest args...]
# Env: PYTHON=python3.12 to build .venv with another interpreter; SKIP_APT=1 to skip apt-get.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==== %s ====\n' "$*"; }

# Debian 12 packages. Needed now: wrk (benchmarks), redis-server (Socket.IO scale-out tests) and the shared libraries PySide6 loads.
# For GUI tests under Xvfb: the xcb plugin libraries, PulseAudio (QtMultimedia needs libpulse0 just
# to import), a session bus, a system tray (trayer), xdotool, and redis-server.
APT_PACKAGES=(
    wrk libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
    xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libpulse0 pulseaudio
    pulseaudio-utils dbus trayer xdotool redis-server fonts-noto-color-emoji
    desktop-file-utils appstream shellcheck
)

section "System packages (apt)"
if [[ "${SKIP_APT:-0}" == "1" ]]; then
    echo "SKIP_APT=1: skipping apt-get"
elif [[ "$(id -u)" -ne 0 ]]; then
    echo "not root: skipping apt-get; make sure these are installed: ${APT_PACKAGES[*]}"
elif ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: skipping; install the equivalents of: ${APT_PACKAGES[*]}"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
fi

section "Python virtualenv (.venv)"
PYTHON="${PYTHON:-python3}"
VENV_PY=.venv/bin/python
if [[ -x "$VENV_PY" ]] && "$VENV_PY" -c 'import sys' >/dev/null 2>&1; then
    echo "using existing .venv ($("$VENV_PY" -V))"
else
    if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "error: '$PYTHON' cannot create a venv (missing? on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    echo "creating .venv with $("$PYTHON" -V)"
    "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

section "pip install -c constraints.txt -e .[test]"
"$VENV_PY" -m pip install -c constraints.txt -e ".[test]"
"$VENV_PY" -m pip check

section "npm ci (tests/js: the seed's socket.io-client, an independent protocol peer)"
if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/js --no-audit --no-fund
else
    echo "no npm: the socket.io-client protocol test will be skipped" >&2
fi

section "ruff check"
.venv/bin/ruff check .

section "ruff format --check"
.venv/bin/ruff format --check .

section "mypy"
"$VENV_PY" -m mypy

section "pytest"
rc=0
"$VENV_PY" -m pytest "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "error: pytest collected no tests (exit 5); treating as failure" >&2
elif [[ $rc -ne 0 ]]; then
    echo "error: pytest failed (exit $rc)" >&2
else
    bash tools/bundle-check.sh || rc=$?
    section "pip-audit"
    bash tools/audit.sh || rc=$?
    if [[ $rc -eq 0 ]]; then
        section "all checks passed"
    fi
fi
exit "$rc"
