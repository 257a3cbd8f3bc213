"""The import-linter contracts in pyproject.toml hold: every module imports only its own layer or lower ones.

They run here so that the README's test command (and so CI) checks them; `lint-imports` in the repository root
prints the same report.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `lint-imports`, run by this interpreter (the console script may not be on PATH in a virtual environment).
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]


def _lint(cwd: Path, tmp_path: Path, pythonpath: Path | None = None) -> tuple[int, str]:
    """Run `lint-imports` in `cwd` with its cache in tmp_path (never in the repository, never shared by workers)."""
    env = {**os.environ}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([*LINT, "--no-logo", "--cache-dir", str(tmp_path / "lint-cache")], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_import_contracts_are_kept(tmp_path):
    code, output = _lint(REPO, tmp_path)
    assert code == 0 and " 0 broken." in output, output


def test_the_contracts_catch_an_upward_import_and_dagster_below_services(tmp_path):
    """A copy of the package with two planted breaches: the contracts are not vacuous (a misspelt layer or a
    contract that matches nothing would pass the test above whatever the code did)."""
    shutil.copytree(REPO / "ocb_pipelines", tmp_path / "src" / "ocb_pipelines",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "src" / "pyproject.toml")
    (tmp_path / "src" / "ocb_pipelines" / "core" / "planted_upward.py").write_text(
        "from ocb_pipelines.services import context  # noqa: F401\n")
    (tmp_path / "src" / "ocb_pipelines" / "charges" / "planted_dagster.py").write_text(
        "import dagster  # noqa: F401\n")

    code, output = _lint(tmp_path / "src", tmp_path, pythonpath=tmp_path / "src")

    assert code != 0, output
    assert "ocb_pipelines.core.planted_upward -> ocb_pipelines.services.context" in output, output
    assert "ocb_pipelines.charges.planted_dagster -> dagster" in output, output
