#!/usr/bin/env bash
# Refresh the images in docs/images/ from code: the browser test (ocb_pipelines_tests/ui/test_browser.py) runs
# the Dagster UI on sample data and saves its screenshots there, and renders a statement PDF with pdftoppm.
# Needs what .ci/run installs (Debian's chromium, poppler-utils, the dev extras).
set -euo pipefail
cd "$(dirname "$0")/.."
OCB_SCREENSHOTS_DIR="$PWD/docs/images" python -m pytest -q -p no:cacheprovider ocb_pipelines_tests/ui/test_browser.py
ls -l docs/images/*.png
