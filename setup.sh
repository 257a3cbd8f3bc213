#!/usr/bin/env bash
# The whole set-up on a fresh Debian/Ubuntu machine: system packages, then the locked Python tree into the
# `python` on PATH (activate a venv first to keep it there), then `ocb` on PATH.
# Refresh the lock on purpose: `uv lock --upgrade && ./setup.sh && python -m pytest` (docs/getting-started.md).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
UV_VERSION="0.13.9"
# WeasyPrint's libraries and fonts (PDF statements; fonts-symbola draws emoji from billing values), poppler-utils
# (pdftoppm, for looking at PDFs) and Debian's Chromium (the browser tests drive /usr/bin/chromium).
APT_PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-symbola poppler-utils chromium"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11 or newer is needed as '$PYTHON' (found: $("$PYTHON" --version 2>&1 || echo none))." >&2
  exit 1
fi

missing=""
if command -v dpkg >/dev/null 2>&1; then
  for pkg in $APT_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
fi
if [ -n "$missing" ]; then
  install="apt-get install -y -qq --no-install-recommends$missing"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive $install
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive $install
  else
    echo "setup: system packages missing:$missing" >&2
    echo "run this as root, then ./setup.sh again:  apt-get update && $install" >&2
    exit 1
  fi
fi

if "$PYTHON" -c 'import sys, sysconfig, pathlib; sys.exit(sys.prefix != sys.base_prefix or not (pathlib.Path(sysconfig.get_path("stdlib")) / "EXTERNALLY-MANAGED").exists())'; then
  echo "setup: '$PYTHON' is the system's own Python (PEP 668); use a virtual environment:" >&2
  echo "  python3 -m venv .venv && . .venv/bin/activate && ./setup.sh" >&2
  exit 1
fi

PY_EXE="$("$PYTHON" -c 'import sys; print(sys.executable)')"
target="--python $PY_EXE"
"$PYTHON" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' || target="--system $target"
"$PYTHON" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
# Exactly the tree in uv.lock (hashes checked), then the project itself without resolving anything again.
"$PYTHON" -m uv export --quiet --frozen --extra dev --no-emit-project --format requirements-txt -o /dev/stdout \
  | "$PYTHON" -m uv pip install --quiet $target --require-hashes -r /dev/stdin
"$PYTHON" -m uv pip install --quiet $target --no-deps --no-build-isolation -e .
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
echo "setup: done; next: ocb demo" >&2
