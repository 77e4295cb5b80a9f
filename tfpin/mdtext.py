"""Text that reaches matrix.md is data, never Markdown.

matrix.md is pasted into pull requests and appended to GitHub's job summary, and much of it was not
written by tfpin: failure messages and first error lines, skip reasons, `tfpin_note`s, test ids
(pytest parametrize ids are arbitrary), installers' words.  Raw, a failure message could add a heading
(a fake "## Recommended pin" above the real one), a link, raw HTML or a table row, and a `|` or a
backtick in a test id breaks the table it sits in.  Every such string goes through text() (prose and
table cells) or code() (identifiers shown as inline code).  tfpin/report/html.py escapes for HTML on its own.
Host side only, Python 3.9+.
"""
from __future__ import annotations

import re

# Inert after a backslash (CommonMark lets one precede any ASCII punctuation): emphasis, code, links and
# images, headings, GFM strikethrough and table pipes, GitHub's $math$, and the backslash itself.
_ESCAPED = "\\`|[]*_#!~$"
# No raw HTML (tags, comments, autolinks) and no entity of the text's own: these become entities.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile("[%s]" % re.escape(_ESCAPED + "".join(_ENTITIES)))
# What would open a block at the start of a line (a list item's text starts one): a bullet, an ordered
# list item, a thematic break.  `#`, `*`, `>`, backticks and `~` are handled by the set above.
_LEADING = re.compile(r"[-+]|\d{1,9}[.)]")


def _one_line(s) -> str:
    """Every line break (\\r\\n, \\r, \\n, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028, \\u2029) with the
    whitespace around it as one space, and no whitespace at either end: a line of the report cannot
    be ended early, so nothing in the text starts a line of its own (a heading, a table row, a fence)."""
    return " ".join(part.strip() for part in str("" if s is None else s).splitlines() if part.strip())


def _escape(match) -> str:
    c = match.group()
    return _ENTITIES.get(c) or "\\" + c


def text(s) -> str:
    """Free text for Markdown prose and table cells: one line, rendered exactly as written.

    Line breaks collapse to single spaces and the ends are stripped; `\\ ` | [ ] * _ # ! ~ $` get a
    backslash and `& < >` become entities, so the text can make no emphasis, code span, link, image,
    heading, raw HTML or table cell boundary (GFM tables un-escape `\\|` in a cell); a leading `-`, `+` or
    `1.` gets a backslash too, so text that starts a list item cannot open a nested list.  Letters,
    digits, spaces and `.,:/()=-` stay as they are, so the source stays readable.
    """
    out = _SPECIAL.sub(_escape, _one_line(s))
    lead = _LEADING.match(out)
    if lead:
        out = out[:lead.end() - 1] + "\\" + out[lead.end() - 1:]
    return out


def code(s, in_table: bool = True) -> str:
    """An identifier (cell id, test id, pin) as inline code, shown exactly as written, on one line.

    A code span shows its content literally (no escapes inside it), so the content is fenced instead:
    with a backtick run longer than any run inside it, and a space inside the fence when the content
    starts or ends with a backtick (CommonMark strips one such space from each end).  GFM splits table
    rows on `|` even inside code spans, and un-escapes `\\|` in a cell before reading the span, so in a
    table `|` is written `\\|`.  Outside a table (in_table=False: headings, list items) the `|` stays as
    it is, since a backslash there would be shown.
    """
    s = _one_line(s)
    if not s:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    pad = " " if s[0] == "`" or s[-1] == "`" else ""
    if in_table:
        s = s.replace("|", "\\|")
    return fence + pad + s + pad + fence


def count(n: int, noun: str) -> str:
    """'1 cell', '2 cells': every count a report or the console shows a reader."""
    return "%d %s%s" % (n, noun, "" if n == 1 else "s")
