"""The bench contract: what tfpin reads of a project's `bench` command, and nothing more.

A project's `bench` (tfpin.toml or `[tool.tfpin]`, tfpin/config/project.py) is the arguments to the cell's Python of
a command that prints one JSON object; `tfpin bench` runs it in each cell's env and reads the last line of
its output that is a JSON object (anything printed before it is left aside). Of that object tfpin reads:

- `figures` (required): an object of name -> finite number, in the order the project wants them shown. The
  name carries the unit ("train img/s", "requests/s", "p50 ms"). The first figure is the headline: the one
  the report's cell table shows (the others listed after it), and the one "beside stock" compares as a ratio
  (report.beside_stock: a build that `pins_as` another package, such as intel-tensorflow, next to the stock
  build of the same release).
- `finite` (optional, default true): false says the run diverged; the cell's record is then an error naming
  the cell, with no figures (a figure of a diverged run measures nothing).
- `computed_as` (optional, any JSON value): how the figures were computed; two cells that say different
  things get no ratio beside stock, and the row says what differs.

Everything else the bench prints is kept as printed in the stored bench file (reports/bench/<cell>.json),
never rendered. A bench that exits non-zero, prints no JSON object, outlives the deadline or breaks the
contract (a `figures` that is not an object of finite numbers, a `finite` that is not true or false) leaves
a record of status error whose reason names the cell and, for the contract, the key and what is allowed.
"""
from __future__ import annotations

import json
import math

from tfpin import procs
from tfpin.cell.envs import EnvLock
from tfpin.cell.incell import cell_environ
from tfpin.cell.runner import base_result, prepare
from tfpin.cell.status import ERROR

MEASURED = "measured"
SHAPE = ("an object of name -> finite number, in the order to show them, each name carrying its unit and the "
         "first the headline, e.g. {\"train img/s\": 218.3, \"p50 ms\": 4.1}")
# What of a stored record joins the report's cell (the rest stays in the stored bench file).
REPORTED = ("status", "reason", "stamp", "figures", "computed_as")
GENERIC_COLUMN = "bench"  # the cell table's column when the cells' headlines have different names


def run(cell, ctx, args=()) -> dict:
    """The project's bench in this cell's env, as the record stored for it: what it printed, its status (measured
    or error, with a reason) and the cell's stamp, so the figures join only this very cell definition."""
    result = base_result(cell, ctx)
    with EnvLock(ctx.layout.env(cell.id), lambda text: None):
        env = prepare(cell, ctx, result, lambda _text: None)
        if env is None:
            return {"status": result.status, "reason": result.reason, "stamp": result.stamp}
        cmd = [str(env.python), *ctx.project.bench, *args]
        code, out = procs.run(cmd, cwd=ctx.project.root, env=cell_environ(cell, ctx), timeout=ctx.deadline)
    return {**read(cell.id, code, out or "", ctx.deadline), "stamp": result.stamp}


def read(cell_id: str, code, out: str, deadline: int) -> dict:
    """One finished bench process (exit `code`, None when killed at the deadline; its output `out`) as a record:
    what it printed, with status measured, or error and a reason naming the cell."""
    data = procs.last_json(out)
    if data is not None and data.get("finite") is False:
        data.pop("figures", None)
        return {**data, "status": ERROR, "reason": "%s: the bench says its run diverged (`finite`: false): the "
                "figures of a diverged run are not reported" % cell_id}
    if code is None:
        return {"status": ERROR, "reason": "%s: bench was still running after the %d s deadline and was killed"
                % (cell_id, deadline)}
    if code != 0 or data is None:
        tail = " | ".join(out.strip().splitlines()[-5:])
        return {"status": ERROR, "reason": "%s: bench exited %s: %s" % (cell_id, code, tail or "no JSON printed")}
    problem = contract_problem(data)
    if problem:
        return {**data, "status": ERROR, "reason": "%s: the bench's JSON %s" % (cell_id, problem)}
    return {**data, "status": MEASURED}


def contract_problem(data: dict) -> str:
    """'' when a bench's JSON keeps the contract, else which key breaks it, its value and what is allowed."""
    finite = data.get("finite", True)
    if not isinstance(finite, bool):
        return "key 'finite' = %s must be true or false (false: the run diverged)" % _shown(finite)
    if "figures" not in data:
        return "has no key 'figures': it must be %s" % SHAPE
    figures = data["figures"]
    if not isinstance(figures, dict) or not figures:
        return "key 'figures' = %s must be %s" % (_shown(figures), SHAPE)
    for name, value in figures.items():
        if not name.strip():
            return "key 'figures' names a figure %s: each name must say what it is and its unit" % _shown(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "key 'figures.%s' = %s is not a finite number: 'figures' must be %s" % (name, _shown(value),
                                                                                          SHAPE)
    return ""


def _shown(value) -> str:
    """A value as the bench printed it (JSON: NaN stays NaN, a string keeps its quotes), cut to one short line."""
    shown = json.dumps(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def for_report(record, stamp: str | None) -> dict | None:
    """What of a stored bench record joins the report's cell of that `stamp`: nothing when it was measured for
    another definition of the cell, or says measured but breaks the contract (a file an older tfpin wrote, or
    one edited since); else its status, reason, figures and computed_as."""
    if not isinstance(record, dict) or record.get("stamp") != stamp:
        return None
    if record.get("status") == MEASURED and (record.get("finite") is False or contract_problem(record)):
        return None
    return {key: record[key] for key in REPORTED if key in record}


def measured(record) -> bool:
    return bool(record) and record.get("status") == MEASURED


def headline(record) -> tuple[str, float]:
    """(name, value) of a measured record's first figure."""
    return next(iter(record["figures"].items()))


def column(records) -> str | None:
    """The cell table's bench column: the headline's name when every measured record agrees on it, "bench" when
    they differ, None (no column) when no record has figures."""
    names = {headline(r)[0] for r in records if measured(r)}
    if not names:
        return None
    return names.pop() if len(names) == 1 else GENERIC_COLUMN


def number(value: float) -> str:
    """A figure as a reader takes it in: whole from 100 up (218), three significant digits below (12.5, 0.0123)."""
    return "%.0f" % value if abs(value) >= 100 else "%.3g" % value


def cell_text(record, header: str | None) -> str:
    """A measured record in one line: the headline's value (with its name unless the column `header` already says
    it), then the other figures with theirs: "218 (4.1 p50 ms)"; '' when nothing was measured."""
    if not measured(record):
        return ""
    (name, value), *others = record["figures"].items()
    shown = number(value) if name == header else "%s %s" % (number(value), name)
    if others:
        shown += " (%s)" % ", ".join("%s %s" % (number(v), other) for other, v in others)
    return shown


def describe(record) -> str:
    """A record as `tfpin bench` says it: every figure with its name, or the status and reason."""
    if measured(record):
        return ", ".join("%s %s" % (number(value), name) for name, value in record["figures"].items())
    return "%s: %s" % (record["status"], record["reason"])
