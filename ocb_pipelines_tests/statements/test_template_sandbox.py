"""Statement and email templates are user input: they run in Jinja's sandbox (issue 18, point 14).

Regression: an override `statement.html` in the config folder's templates/ ran `os.popen` on the billing host.
Now the sandbox refuses it with an error naming the template, and nothing is rendered, recorded or sent.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ocb_pipelines.cli.main import cli
from ocb_pipelines.delivery import log
from ocb_pipelines.delivery.deliver import deliver_month
from ocb_pipelines.delivery.email import DeliveryError
from ocb_pipelines.statements import render
from ocb_pipelines.statements.generate import existing_rows, generate_statements
from ocb_pipelines.warehouse import database as wh

from .conftest import MONTH


def _override(settings, name: str, marker) -> None:
    """The default template with code that would run `id` and write its output to `marker`."""
    folder = settings.config_path.parent / "templates"
    folder.mkdir(exist_ok=True)
    source = (render.DEFAULT_TEMPLATE_DIR / name).read_text(encoding="utf-8")
    attack = ("{{ cycler.__init__.__globals__.os.popen('id').read() }}"
              f"{{{{ cycler.__init__.__globals__.os.popen('id > {marker}').read() }}}}")
    (folder / name).write_text(source.replace("</body>", attack + "</body>"), encoding="utf-8")


def _files(settings) -> list:
    return [p for root in (settings.output.pdf_dir, settings.output.email_dir) if root.exists()
            for p in root.rglob("*") if p.is_file()]


def test_statement_template_reaching_python_is_refused_and_nothing_is_rendered(closed_month, tmp_path):
    marker = tmp_path / "pwned"
    _override(closed_month, "statement.html", marker)
    with wh.connect(closed_month.warehouse_path) as con, pytest.raises(render.TemplateRefused) as refused:
        generate_statements(con, closed_month, MONTH, workers=1)
    message = str(refused.value)
    assert "refused by the sandbox" in message and str(closed_month.config_path.parent / "templates") in message
    assert "statement.html" in message
    assert not marker.exists() and _files(closed_month) == []
    with wh.connect(closed_month.warehouse_path) as con:
        assert existing_rows(con, MONTH) == {}

    # Through `ocb generate --send`: one clear line, exit 1, no file, no email.
    result = CliRunner().invoke(cli, ["generate", "-p", MONTH, "--send", "-c", str(closed_month.config_path)])
    assert result.exit_code == 1, result.output
    assert "refused by the sandbox" in result.output and "statement.html" in result.output
    assert "Traceback" not in result.output
    dry = CliRunner().invoke(cli, ["generate", "-p", MONTH, "--dry-run", "-c", str(closed_month.config_path)])
    assert dry.exit_code == 1 and "refused by the sandbox" in dry.output
    assert not marker.exists() and _files(closed_month) == []


def test_email_template_reaching_python_is_refused_and_nothing_is_sent(closed_month, tmp_path):
    with wh.connect(closed_month.warehouse_path) as con:
        generate_statements(con, closed_month, MONTH, workers=1)
    marker = tmp_path / "pwned"
    _override(closed_month, "email_summary.html", marker)
    with wh.connect(closed_month.warehouse_path) as con, pytest.raises(DeliveryError) as refused:
        deliver_month(con, closed_month, MONTH)
    assert "refused by the sandbox" in str(refused.value) and "email_summary.html" in str(refused.value)
    assert "nothing was sent" in str(refused.value)
    assert not marker.exists() and not (closed_month.output.email_dir / MONTH).exists()
    with wh.connect(closed_month.warehouse_path) as con:
        log.ensure_tables(con)
        assert log.month_log(con, MONTH) == []
    result = CliRunner().invoke(cli, ["send", "-p", MONTH, "-c", str(closed_month.config_path)])
    assert result.exit_code == 1 and "refused by the sandbox" in result.output, result.output
    assert not marker.exists() and not (closed_month.output.email_dir / MONTH).exists()


def test_default_templates_render_in_the_sandbox(closed_month):
    with wh.connect(closed_month.warehouse_path) as con:
        result = generate_statements(con, closed_month, MONTH, workers=1)
        assert deliver_month(con, closed_month, MONTH).summary() == {"written": 2}
    assert result.count("rendered") == 2
    assert isinstance(render.make_env(render.template_dirs(None), "$"), render.SandboxedEnvironment)
