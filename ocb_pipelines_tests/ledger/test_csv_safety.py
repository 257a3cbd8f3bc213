"""CSV safety: quoting, formula neutralisation, amounts left numeric, unsafe user templates refused."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from ocb_pipelines.ledger import csv_safety as cs
from ocb_pipelines.ledger.export import template_environment

DANGEROUS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", '=HYPERLINK("http://x","y")']


@pytest.mark.parametrize("text", DANGEROUS)
def test_formula_cells_get_a_quote(text):
    assert cs.neutralise(text) == "'" + text
    (cell,) = next(csv.reader(io.StringIO(cs.csv_row([text]))))
    assert cell == "'" + text


def test_amounts_stay_numeric_and_text_is_quoted():
    row = cs.csv_row([Decimal("-12.30"), 7, "a,b", 'say "hi"', "line\nbreak", None, "plain"])
    assert row == '-12.30,7,"a,b","say ""hi""","line\nbreak",,plain'
    with pytest.raises(TypeError):
        cs.csv_row([1.5])
    assert cs.number_text(Decimal("1E+2")) == "100"


def test_write_rows_uses_crlf_and_neutralises():
    text = cs.write_rows([["h1", "h2"], ["=bad", Decimal("1.00")]])
    assert text == "h1,h2\r\n'=bad,1.00\r\n"
    assert cs.unsafe_cells(text) == []


def test_unsafe_cells_finds_formulas_and_ragged_rows():
    problems = cs.unsafe_cells("a,b\r\n=1+1,-5.00\r\nc\r\n-1+1,2\r\n")
    assert problems == [
        "line 2, column 1: '=1+1' would run as a spreadsheet formula",
        "line 3: 1 columns, the first line has 2",
        "line 4, column 1: '-1+1' would run as a spreadsheet formula",
    ]


def test_a_users_template_is_safe_by_default(tmp_path):
    """A template that writes values with plain {{ }} (no csv_row) still gets quoting and formula guards."""
    (tmp_path / "t.csv").write_text("{% for l in lines %}{{ l.fund }},{{ l.description }},{{ l.debit }}\n{% endfor %}")
    env = template_environment(tmp_path)
    text = env.get_template("t.csv").render(lines=[
        {"fund": "=cmd|' /C calc'!A0", "description": "a, b", "debit": Decimal("-1.50")}])
    assert text == "'=cmd|' /C calc'!A0,\"a, b\",-1.50\n"
    assert next(csv.reader(io.StringIO(text))) == ["'=cmd|' /C calc'!A0", "a, b", "-1.50"]


def test_templates_are_sandboxed_and_strict(tmp_path):
    import jinja2

    (tmp_path / "evil.csv").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    (tmp_path / "typo.csv").write_text("{{ lines[0].fnud }}")
    env = template_environment(tmp_path)
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.get_template("evil.csv").render()
    with pytest.raises(jinja2.exceptions.UndefinedError):
        env.get_template("typo.csv").render(lines=[{"fund": "x"}])
