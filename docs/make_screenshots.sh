#!/usr/bin/env bash
# Refresh the images in docs/images/ from code: the browser tests run the Dagster UI on sample data
# (ocb_pipelines_tests/ui/test_browser.py, which also renders a statement PDF with pdftoppm) and the review desk
# on a prepared month (ocb_pipelines_tests/ui/test_desk_browser.py: docs/images/desk-*.png), and save their
# screenshots there. Needs what .ci/run installs (Debian's chromium, poppler-utils, the dev extras).
set -euo pipefail
cd "$(dirname "$0")/.."
OCB_SCREENSHOTS_DIR="$PWD/docs/images" python -m pytest -q -p no:cacheprovider \
  ocb_pipelines_tests/ui/test_browser.py ocb_pipelines_tests/ui/test_desk_browser.py
ls -l docs/images/*.png
