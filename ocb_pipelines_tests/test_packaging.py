"""A wheel of the project, installed without the repository beside it, still has every default template."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RUN_FROM_INSTALLED = """
import sys
from ocb_pipelines.ledger.export import PACKAGE_TEMPLATES
from ocb_pipelines.statements import render
assert render.__file__.startswith(sys.argv[1]), render.__file__
env = render.make_env(render.template_dirs(None), "$")
for name in (render.STATEMENT_TEMPLATE, render.EMAIL_TEMPLATE):
    env.get_template(name)
assert (PACKAGE_TEMPLATES / "journal_gl.csv").is_file()
print("ok")
"""


def test_wheel_carries_the_default_templates_and_renders_from_them(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "ocb_pipelines", src / "ocb_pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(src)],
        check=True, capture_output=True, text=True,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in ("statement.html", "email_summary.html"):
        assert f"ocb_pipelines/statements/templates/{template}" in names
    assert "ocb_pipelines/ledger/templates/journal_gl.csv" in names
    # the review desk serves its own pages and JavaScript (air-gapped sites: no CDN)
    for served in ("templates/base.html", "static/desk.css", "static/desk.js", "static/vendor/htmx.min.js"):
        assert f"ocb_pipelines/web/{served}" in names

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    # -S: no site.py, so the editable install's path hook cannot bring the repository back in.
    env = {"PYTHONPATH": f"{site}:{sysconfig.get_paths()['purelib']}:{sysconfig.get_paths()['platlib']}"}
    out = subprocess.run([sys.executable, "-S", "-c", RUN_FROM_INSTALLED, str(site)], env=env, cwd=tmp_path,
                         check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "ok"


def test_repository_templates_are_the_packaged_files():
    """templates/ links to the package's copies: one file each, so the two can never drift apart."""
    packaged = {"statement.html": "statements", "email_summary.html": "statements", "journal_gl.csv": "ledger"}
    for name, domain in packaged.items():
        link = REPO / "templates" / name
        assert link.is_symlink(), name
        assert link.resolve() == (REPO / "ocb_pipelines" / domain / "templates" / name).resolve()
