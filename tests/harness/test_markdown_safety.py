"""Free text is data in matrix.md and in the job summary, never Markdown structure (issue 19, item 6).

A failure message, a skip reason, a `tfpin_note` or a test id can hold anything; here they hold a heading on
a line of its own (a fake "## Recommended pin" above the real one), raw HTML, a table row, a link and
backticks.  The reports are parsed with a real CommonMark + GFM-table parser (markdown-it-py, listed in
requirements/host.txt): they must keep exactly their own structure and still show the payload as text.
Unit level from fixture results, the generated workflow's "Job summary" step run by bash, and one real
harness run of a TF-free project (about a minute the first time: it builds a small Python 3.7 env).
"""
import os
import re
import subprocess
import textwrap
from dataclasses import replace

import pytest
from faultkit import FAULT_CELL, MATRIX, make_project, tfpin
from test_ci_github import parse, subdir_project
from test_cross import B, inputs
from test_report import measured, result

from tfpin.config import matrix as matrices
from tfpin.config.cells import Constraint
from tfpin.cross import verdicts as crossverdicts
from tfpin.generate import ci_github
from tfpin.pins import proposal as pinproposal
from tfpin.report import build as report

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (requirements/host.txt) parses the reports")
from markdown_it.rules_block.table import escapedSplit  # noqa: E402  (the parser's own cell splitting)

HEADING = "boom\n\n## Recommended pin\n\nrm -rf /\n"
HTML = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
ROW = "| a | b |\n|---|---|"
LINK = "[click](http://evil)"
TICKS = "``not code`` and `x`"
PAYLOAD = "\n".join([HEADING, HTML, ROW, LINK, TICKS])
# What a reader must see of PAYLOAD: the same characters, its line breaks as single spaces.
SHOWN = ("boom ## Recommended pin rm -rf / <script>alert(1)</script> <img src=x onerror=alert(1)> | a | b | "
         "|---|---| [click](http://evil) ``not code`` and `x`")
TEST_ID = "tests/test_x.py::test_p[a|b`c]"
FAILED = "py3.7-tf1.14-keras2.2.4"  # an off-table pair of the full matrix: its failing ids are listed there too


# -- the checks, on markdown-it's token stream ------------------------------------------------------------

def parser():
    return markdown_it.MarkdownIt("commonmark").enable("table")


def inlines(tokens):
    """(inline token, the block tokens open around it) for every inline token of the document."""
    stack = []
    for tok in tokens:
        if tok.nesting == 1:
            stack.append(tok.type)
        elif tok.nesting == -1:
            stack.pop()
        elif tok.type == "inline":
            yield tok, tuple(stack)


def shown(inline) -> str:
    """The text a reader sees of an inline token (escapes and entities resolved, code spans' content)."""
    return "".join(c.content if c.type in ("text", "code_inline") else " " if c.type.endswith("break") else ""
                   for c in inline.children or [])


def headings(tokens):
    return [(tok.tag, shown(tokens[i + 1])) for i, tok in enumerate(tokens) if tok.type == "heading_open"]


def assert_inert(md: str):
    """The structure tfpin wrote and nothing else; returns the tokens and the rendered HTML."""
    tokens = parser().parse(md)
    html = parser().render(md)
    heads = headings(tokens)
    assert sum("Recommended pin" in text or "rm -rf" in text for _, text in heads) == 1, heads
    h2 = [text for tag, text in heads if tag == "h2"]
    assert h2[-1] in ("Recommended pin", "Recommended pin (partial evidence)"), heads  # the real one, last
    rec = max(i for i, tok in enumerate(tokens) if tok.type == "heading_open" and tok.tag == "h2")
    first_table = min(i for i, tok in enumerate(tokens) if tok.type == "table_open")
    assert first_table < rec, "the cells table comes before the recommendation"
    everything = list(tokens) + [c for tok in tokens for c in tok.children or []]
    kinds = {tok.type for tok in everything}
    assert not kinds & {"html_block", "html_inline", "link_open", "image"}, kinds
    for tag in ("<script", "<img", "<a ", "<a>", "<h3>rm", "<h2>Recommended pin</h2>\n<p>rm"):
        assert tag not in html, tag
    lines = md.split("\n")
    for tok in tokens:
        if tok.type == "table_open":  # every row of the table's source has as many cells as its header
            rows = lines[tok.map[0]:tok.map[1]]
            widths = [len(escapedSplit(re.sub(r"^\||\|$", "", row.strip()))) for row in rows]
            assert len(set(widths)) == 1, list(zip(widths, rows))
    for _, text in heads:
        assert "boom" not in text
    header_cells = [shown(tokens[i + 1]) for i, tok in enumerate(tokens) if tok.type == "th_open"]
    assert "a" not in header_cells and "---" not in header_cells, header_cells  # no table of the payload's
    return tokens, html


def where_shown(tokens, fragment):
    """The block containers (list_item_open, td_open, ...) of every inline whose visible text holds fragment."""
    return [stack for inline, stack in inlines(tokens) if fragment in shown(inline)]


def code_spans(tokens):
    return [c.content for inline, _ in inlines(tokens) for c in inline.children or [] if c.type == "code_inline"]


# -- reports with the payload everywhere free text goes ---------------------------------------------------

def injected_report():
    """The full matrix with one failed cell (reason and first error = PAYLOAD, failing TEST_ID), a pin whose
    reason is PAYLOAD, and between-cells verdicts whose reasons are PAYLOAD."""
    full = matrices.load("full")
    cells = [replace(c, constraints=c.constraints + (Constraint("wrapt<1.13", PAYLOAD),)) if c.id == FAILED else c
             for c in full.cells]
    results = []
    for cell in cells:
        status = "unavailable" if cell.id.startswith("py3.7-tf1.12") else "failed" if cell.id == FAILED else "passed"
        r = result(cell, status)
        if status == "failed":
            r.failing = [TEST_ID]
            r.reason = "%s: 1 failed, 0 errors: %s; first error: AssertionError: %s" % (cell.id, TEST_ID, PAYLOAD)
        results.append(r)
    results[0].deprecations = [{"site": "pkg/a.py:1", "api": PAYLOAD, "instructions": PAYLOAD, "kind": "tensorflow"}]
    rep = report.build(full, cells, results, "t0", "t1", {})
    written, reads = inputs()
    reads[B][0]["rows"][1]["error"] = PAYLOAD
    reads["py3.6-tf1.13-keras2.2.4"] = (None, PAYLOAD)  # a reading cell whose pytest crashed
    rep["cross"] = crossverdicts.summarize(written, reads)
    return rep


def injected_migration_report():
    m = matrices.load("migration")
    results = []
    for cell, status in zip(m.cells[:2], ("failed", "passed")):
        r = result(cell, status, reason=("%s: %s" % (cell.id, PAYLOAD)) if status == "failed" else "")
        r.failing = [TEST_ID] if status == "failed" else []
        r.skips = {"a::t1": PAYLOAD, "a::t2": PAYLOAD}
        r.notes = [PAYLOAD]
        results.append(r)
    return report.build(m, m.cells[:2], results, "t0", "t1", {})


def check_compatibility_report(md):
    tokens, html = assert_inert(md)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;" in html
    reason = "%s: 1 failed, 0 errors: %s; first error: AssertionError: %s" % (FAILED, TEST_ID, SHOWN)
    assert where_shown(tokens, reason) == [("bullet_list_open", "list_item_open", "paragraph_open")]
    off_table = where_shown(tokens, "tensorflow 1.14.0, keras 2.2.4: fails")
    assert off_table and all("list_item_open" in s for s in off_table)
    assert any("failing: " + TEST_ID in shown(i) for i, _ in inlines(tokens))
    places = where_shown(tokens, SHOWN)
    in_cells = [s for s in places if "td_open" in s]
    # Pins (why), the census (API, instructions): three table cells; the rest (pair errors, a crashed reader) list items
    assert len(in_cells) == 3, places
    assert all("list_item_open" in s for s in places if s not in in_cells)
    assert "wrapt<1.13" in code_spans(tokens)
    return tokens


def test_report_with_injected_text_keeps_its_structure():
    md = report.markdown(injected_report())
    tokens = check_compatibility_report(md)
    assert [text for tag, text in headings(tokens) if tag == "h2"] == [
        "Cells that did not pass", "Off-table pairs", "Pins", "Between cells", "Deprecation census", "Recommended pin"]
    # the recommendation's requirement lines stay a copyable fence
    fences = [tok.content for tok in tokens if tok.type == "fence"]
    assert fences == ["tensorflow==1.15.5\nkeras==2.2.5\nnumpy<1.19\npyyaml<6.0\n"
                      'protobuf<4.21.0; python_version == "3.7"\n']


def test_bench_figure_names_are_text():
    """A bench's figure names are the project's free text: the headline's heads the bench column and the
    beside-stock rows, the others sit in a cell; each is shown as written and every table keeps its shape."""
    dist = matrices.load("distributions")
    bench = {c.id: measured(c.id, {PAYLOAD: 600.0, "other " + PAYLOAD: 1.5}) for c in dist.cells}
    rep = report.build(dist, dist.cells, [result(c, "passed") for c in dist.cells], "t0", "t1", bench)
    tokens, _ = assert_inert(report.markdown(rep))
    header = [shown(tokens[i + 1]) for i, tok in enumerate(tokens) if tok.type == "th_open"]
    assert SHOWN in header  # the headline's name is the bench column's
    cells = where_shown(tokens, "600 (1.5 other %s)" % SHOWN)
    assert len(cells) == len(dist.cells) and all("td_open" in s for s in cells)
    places = where_shown(tokens, SHOWN)  # the header, each cell, each row beside stock: table cells only
    assert len(places) == 1 + len(dist.cells) + len(rep["beside_stock"]) and rep["beside_stock"]
    assert all("th_open" in s or "td_open" in s for s in places)


def test_migration_report_with_injected_skips_notes_and_ids():
    rep = injected_migration_report()
    md = report.markdown(rep)
    tokens, html = assert_inert(md)
    assert "&lt;script&gt;" in html
    assert TEST_ID in code_spans(tokens)  # the id exactly, backtick and pipe included
    skips = where_shown(tokens, "skipped 2: " + SHOWN)
    assert skips == [("bullet_list_open", "list_item_open", "paragraph_open")] * 2  # one per cell
    # per cell its skip and its note; and the failed cell's reason under "Cells that did not pass"
    places = where_shown(tokens, SHOWN)
    assert len(places) == 5 and all("list_item_open" in s for s in places), places
    assert where_shown(tokens, "py3.7-tf2.0: " + SHOWN)
    h3 = [text for tag, text in headings(tokens) if tag == "h3"]
    assert h3 == ["py3.7-tf2.0: failed", "py3.7-tf2.11: passed"], h3


def test_discovered_pins_summary_keeps_its_table():
    md = pinproposal.summary_markdown([{"cell": FAILED, "era": "2019 <b>", "pins": [{"pin": "numpy<1.19"}],
                                 "env_builds": 2, "seconds": 3.0, "problem": PAYLOAD}], [])
    tokens = parser().parse(md)
    everything = list(tokens) + [c for tok in tokens for c in tok.children or []]
    assert not {tok.type for tok in everything} & {"html_block", "html_inline", "link_open", "image"}
    assert headings(tokens) == [("h1", "Discovered pins")]
    (table,) = [tok for tok in tokens if tok.type == "table_open"]
    rows = md.split("\n")[table.map[0]:table.map[1]]
    assert [len(escapedSplit(re.sub(r"^\||\|$", "", row.strip()))) for row in rows] == [6, 6, 6]
    assert where_shown(tokens, SHOWN) == [("table_open", "tbody_open", "tr_open", "td_open")]
    assert where_shown(tokens, "2019 <b>") and "numpy<1.19" in code_spans(tokens)


TRICKY = ["a|b`c", "``x``", "`", "x`", "\\|", "a\\", "&lt;", "&amp;", "1. x", "2) x", "- x", "+ x", "# x", "> x",
          "***", "___", "---", "~~~", "```", "<!-- c -->", "<http://x>", "[a]: http://x", "![i](x)", "$x$", "a  b",
          "*a* _b_ ~~c~~", "x \\\\| y"]


@pytest.mark.parametrize("s", TRICKY)
def test_text_and_code_show_exactly_what_they_were_given(s):
    """Through the parser, in a list item and in a table cell: the same characters come out, as plain text
    (text) or as one code span (code), and nothing else."""
    from tfpin.mdtext import code, text

    for md in ("- %s\n" % text(s), "| h |\n|---|\n| %s |\n" % text(s)):
        inline, _ = list(inlines(parser().parse(md)))[-1]  # the list item's, or the body cell's
        assert [c.type for c in inline.children] == ["text"] and shown(inline) == s, (md, inline.children)
    for md in ("- %s\n" % code(s, in_table=False), "| h |\n|---|\n| %s |\n" % code(s)):
        inline, _ = list(inlines(parser().parse(md)))[-1]
        assert [(c.type, c.content) for c in inline.children] == [("code_inline", s)], md


def test_line_breaks_of_every_kind_become_one_space():
    from tfpin.mdtext import code, text

    s = " a\r\nb\rc\n\n  d\u2028e\u2029f\x85g\x0bh\x0ci \n"
    ((inline, _),) = list(inlines(parser().parse("- %s\n" % text(s))))
    assert shown(inline) == "a b c d e f g h i"
    assert code(s, in_table=False) == "`a b c d e f g h i`"


RAW_DOC = "# tfpin matrix `x`\n\n| cell | status |\n|---|---|\n%s\n\n%s\n\n## Recommended pin\n\nNone.\n"


@pytest.mark.parametrize("row,item", [
    ("| `x` | failed |", "- " + PAYLOAD),  # a heading of its own line, above the real one
    ("| `x` | failed |", "- " + HTML),
    ("| `x` | failed |", "- " + LINK),
    ("| `x` | " + ROW + " |", "- x"),  # a cell that splits its row
], ids=["heading", "html", "link", "row"])
def test_the_checks_catch_the_payload_written_raw(row, item):
    """The checks above are not vacuous: the same payloads pasted in raw fail them."""
    assert_inert(RAW_DOC % ("| `x` | failed |", "- x"))
    with pytest.raises(AssertionError):
        assert_inert(RAW_DOC % (row, item))


# -- the job summary: the generated workflow's own step, run by bash --------------------------------------

def test_job_summary_step_appends_the_report_as_text(tmp_path):
    project, m = subdir_project(tmp_path)
    wf = parse(ci_github.render(project, m, m.cells, "."))
    (step,) = [s for s in wf["jobs"]["report"]["steps"] if s.get("name") == "Job summary"]
    assert wf["defaults"]["run"]["shell"] == "bash"
    workdir = tmp_path / wf["defaults"]["run"].get("working-directory", ".")
    md = report.markdown(injected_report())
    (workdir / "reports").mkdir()
    (workdir / "reports" / "matrix-m.md").write_text(md)  # the report of matrix ci/m.toml
    summary = tmp_path / "step_summary.md"
    summary.write_text("")  # the runner creates the file; steps append to it
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    # `shell: bash` on a GitHub runner is `bash --noprofile --norc -eo pipefail {0}`
    out = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workdir,
                         env={"PATH": os.environ["PATH"], "GITHUB_STEP_SUMMARY": str(summary)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert summary.read_text() == md
    check_compatibility_report(summary.read_text())


# -- one real harness run: the payload comes from a real test's assertion, skip, note and id ---------------

PAYLOAD_SUITE = '''
import pytest

PAYLOAD = {payload!r}
FIRST = {first!r}


def test_skipped():
    pytest.skip(PAYLOAD)


def test_note(record_property):
    record_property("tfpin_note", PAYLOAD)


@pytest.mark.parametrize("x", [1], ids=["a|b`c"])
def test_p(x):
    assert x == 2, FIRST + "\\n" + PAYLOAD
'''
# The first error line of a cell's reason is one line of pytest's output: the payload's one-line part.
FIRST = "## Recommended pin <script>alert(1)</script> | a | b | [click](http://evil) `x`"
REAL_ID = "tests/test_payload.py::test_p[a|b`c]"


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """Cell environments shared by the module (as in test_faults.py)."""
    return tmp_path_factory.mktemp("envs")


def test_injected_failure_of_a_real_run_stays_text(tmp_path, envs):
    project = make_project(tmp_path / "p", matrix='purpose = "migration"\n' + MATRIX)  # skips and notes shown
    (project / "tests" / "test_payload.py").write_text(textwrap.dedent(PAYLOAD_SUITE).format(
        payload=PAYLOAD, first=FIRST))
    out = tfpin(project, "matrix", "--cells", FAULT_CELL, envs=envs)
    assert out.returncode == 1, out.stdout + out.stderr
    md = (project / "reports" / "matrix-faults-partial.md").read_text()
    tokens, html = assert_inert(md)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    reason = "%s: 1 failed, 0 errors: %s; first error: AssertionError: %s" % (FAULT_CELL, REAL_ID, FIRST)
    assert where_shown(tokens, reason) == [("bullet_list_open", "list_item_open", "paragraph_open")], md
    assert REAL_ID in code_spans(tokens)  # migration cost: fails (1), the id exactly
    for what in ("skipped 1: " + SHOWN, SHOWN):  # the skip reason; the note (and the skip)
        places = where_shown(tokens, what)
        assert places and all("list_item_open" in s for s in places), (what, md)
    assert len(where_shown(tokens, SHOWN)) == 2
