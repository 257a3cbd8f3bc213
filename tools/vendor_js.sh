#!/usr/bin/env bash
# Refresh the review desk's vendored JavaScript from npm, on purpose (the desk serves it itself: no CDN).
# Usage: tools/vendor_js.sh [HTMX_VERSION] [AXE_VERSION]; then update ocb_pipelines/web/static/vendor/package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
htmx="${1:-2.0.11}"; axe="${2:-4.11.0}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$htmx" "axe-core@$axe" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
cp "$work/htmx.org-$htmx/package/dist/htmx.min.js" ocb_pipelines/web/static/vendor/htmx.min.js
cp "$work/axe-core-$axe/package/axe.min.js" ocb_pipelines_tests/web/vendor/axe.min.js
npm view "htmx.org@$htmx" dist.integrity; npm view "axe-core@$axe" dist.integrity
