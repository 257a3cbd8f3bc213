"""The PDF statement: the `statement.html` template (sandboxed Jinja2, autoescape on), printed by WeasyPrint in
a rendering worker process."""

from __future__ import annotations

from ocb_pipelines.statements import render
from ocb_pipelines.statements.lines import Statement
from ocb_pipelines.statements.writers.base import Deferred, Page, StatementWriter


def write(statement: Statement, page: Page) -> Deferred:
    """The page's HTML now (a refused template stops here), its PDF later in a worker."""
    html = render.statement_html(page.env, statement, page.ctx, csv_name=page.file_names.get("csv", ""),
                                 generated_at=page.generated_at)
    return Deferred(render.pdf_bytes, (html, str(render.DEFAULT_TEMPLATE_DIR)))


WRITER = StatementWriter(name="pdf", suffix=".pdf", mime="application/pdf", write=write)
