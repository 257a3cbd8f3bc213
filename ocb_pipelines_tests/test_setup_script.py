"""setup.sh, the README's first command: without the rights to install system packages it stops at once and
prints the exact command to run; the lock it installs from matches pyproject.toml."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_without_root_it_stops_at_once_with_the_exact_apt_get_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake(bin_dir, "dpkg", "exit 1")  # no package is installed
    _fake(bin_dir, "id", "echo 1000")  # not root
    _fake(bin_dir, "sudo", "exit 1")  # no passwordless sudo
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable}
    done = subprocess.run([str(REPO / "setup.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "system packages missing: libpango-1.0-0" in done.stderr
    assert ("apt-get update && apt-get install -y -qq --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 "
            "libharfbuzz-subset0 fonts-dejavu-core fonts-symbola poppler-utils chromium") in done.stderr
    assert "uv" not in done.stdout  # stopped before installing anything


def test_the_lock_pins_every_direct_dependency_of_pyproject():
    """uv.lock is what setup.sh installs; `uv lock --check` in CI compares it with pyproject.toml in full."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {canonicalize_name(package["name"]) for package in lock["package"]}
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    assert {canonicalize_name(Requirement(spec).name) for spec in wanted} - locked == set()
