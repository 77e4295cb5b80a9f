"""Report rendering and the recommendation, from fixture results (no environments built)."""
import json

from tfpin import __version__
from tfpin.cell.result import SCHEMA, CellResult, Counts, Durations
from tfpin.config import matrix as matrices
from tfpin.mdtext import text
from tfpin.report import build as report
from tfpin.report import recommend

TABLE = matrices.load("table")


def result(cell, status, passed=10, reason=""):
    """A finished cell's record as the runner completes it (fixture values for what a run would measure)."""
    r = CellResult.for_cell(cell, "stamp-" + cell.id, None, "t0", __version__)
    r.status, r.reason, r.finished = status, reason, "t1"
    r.tests = Counts(passed=passed if status == "passed" else 0, failed=1 if status == "failed" else 0)
    r.durations = Durations(setup_s=1.0, tests_s=2.0)
    r.resolved = {**cell.pins, "numpy": "1.16.6", "protobuf": "3.19.6", "h5py": "2.10.0"}
    return r


def measured(cell_id, figures, **extra):
    """A stored bench record as `tfpin bench` leaves it for a cell measured on its fixture stamp."""
    return {"status": "measured", "figures": figures, "stamp": "stamp-" + cell_id, **extra}


def table_results(overrides=None):
    overrides = overrides or {}
    out = []
    for cell in TABLE.cells:
        status = "unavailable" if cell.id == "py3.7-tf1.12-keras2.2.4" else overrides.get(cell.id, "passed")
        out.append(result(cell, status, reason="%s: no wheel" % cell.id if status == "unavailable" else ""))
    return out


def test_newest_pair_passing_on_every_python_is_recommended():
    rec = recommend.recommend(TABLE.cells, table_results())
    assert rec["requirements"] == {"tensorflow": "1.15.5", "keras": "2.2.5"}
    assert rec["python"] == ["3.6", "3.7"]
    newest = [c for c in TABLE.cells if c.pins["tensorflow"] == "1.15.5"]
    assert rec["constraints"][:2] == ["tensorflow==1.15.5", "keras==2.2.5"]
    for cell, other in (newest, newest[::-1]):
        for pin in cell.constraint_lines():  # shared by both Pythons: as is; else only where that Python runs
            want = pin if pin in other.constraint_lines() else '%s; python_version == "%s"' % (pin, cell.python)
            assert want in rec["constraints"], (want, rec["constraints"])
    assert len(rec["constraints"]) == 2 + len(set(newest[0].constraint_lines()) | set(newest[1].constraint_lines()))


def test_one_failing_python_rejects_the_pair():
    rec = recommend.recommend(TABLE.cells, table_results({"py3.6-tf1.15-keras2.2.5": "failed"}))
    assert rec["requirements"] == {"tensorflow": "1.14.0", "keras": "2.2.5"}
    assert rec["rejected_newer"][0]["why"] == "py3.6-tf1.15-keras2.2.5 failed"


def test_unavailable_python_is_not_a_pass():
    only_112 = {c.id: "failed" for c in TABLE.cells if c.pins["tensorflow"] != "1.12.3"}
    rec = recommend.recommend(TABLE.cells, table_results(only_112))
    assert rec["requirements"] is None
    assert "py3.7-tf1.12-keras2.2.4 unavailable" in rec["rejected_newer"][-1]["why"]


def test_pin_needed_on_some_pythons_gets_a_marker():
    cells = [c for c in TABLE.cells if c.pins["tensorflow"] == "1.15.5"]
    from dataclasses import replace

    from tfpin.config.cells import Constraint
    cells[1] = replace(cells[1], constraints=cells[1].constraints + (Constraint("wrapt<1.13", "r"),))
    assert recommend.pin_lines(cells)[-1] == 'wrapt<1.13; python_version == "3.7"'


def test_json_and_markdown(tmp_path):
    results = table_results()
    bench = {"py3.6-tf1.12-keras2.2.4": measured("py3.6-tf1.12-keras2.2.4", {"img/s": 151.2}, finite=True)}
    rep = report.build(TABLE, TABLE.cells, results, "2026-01-01T00:00:00+00:00", None, bench)
    report.write(rep, tmp_path)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["schema"] == 4 and data["matrix"] == "table" and data["finished"] is None
    assert data["cells"][0]["schema"] == SCHEMA and "tensorflow" not in data["cells"][0]  # pins: under requirements
    assert data["summary"] == {"planned": 8, "finished": 8, "passed": 7, "unavailable": 1}
    assert data["cells"][0]["bench"]["figures"] == {"img/s": 151.2}
    md = (tmp_path / "matrix.md").read_text()
    assert "still running or interrupted" in md
    assert "| `py3.7-tf1.12-keras2.2.4` | unavailable |" in md
    assert "py3.7-tf1.12-keras2.2.4: no wheel" in md
    assert "| 151 |" in md
    # the version columns are the table's own packages: its cells' pins, its constraints' packages, pytest
    assert "| tests s | tensorflow | keras | numpy | gast | h5py | protobuf | pyyaml | pytest | img/s |" in md
    # a stored report rendered again later shows the same columns (they are the report's, not recomputed)
    assert report.markdown(data) == md
    assert "```\ntensorflow==1.15.5\nkeras==2.2.5\n" in md
    assert "## Set-up time" not in md  # no cell measured its steps


def test_set_up_time_shows_each_step_of_the_cells_that_ran(tmp_path):
    results = table_results()
    results[1].durations = Durations(setup_s=9.3, tests_s=2.0, setup_cpu_s=7.5, tests_cpu_s=1.7, setup_demand=0.95,
                                     tests_demand=None, steps={"create": 0.5, "install": 3.5, "imports": 4.7})
    results[2].durations = Durations(setup_s=1.9, tests_s=2.0, steps={"probe": 0.2, "imports": 1.6})
    results[2].cached_from = {"finished": "t0", "tests_s": 2.0}  # a re-used verdict: it built nothing this time
    report.write(report.build(TABLE, TABLE.cells, results, "t0", "t1", {}), tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    section = md[md.index("## Set-up time"):]
    assert "| cell | create | install | imports | set-up s | set-up CPU s | tests CPU s | cores set-up / tests |" \
        in section
    assert "| `%s` | 0.5 | 3.5 | 4.7 | 9.3 | 7.5 | 1.7 | 0.95 /  |" % results[1].id in section
    assert results[2].id not in section and results[0].id not in section


def test_pins_say_what_they_leave_open(tmp_path):
    """A pin's `leaves` reach every view: JSON (pins[].leaves, recommendation.known_residual), Markdown (a "known
    residual" row under its pin; under the recommended pin, a list with the opt-in pin and why tfpin does not add it)
    and HTML, each naming only the leaves that concern the cells."""
    from tfpin.report import html

    rep = report.build(TABLE, TABLE.cells, table_results(), "t0", "t1", {})
    (yaml_pin,) = [p for p in rep["pins"] if p["pin"] == "pyyaml<6.0"]
    old, new = yaml_pin["leaves"]
    assert old["opt_in"] == "pyyaml<5.1" and old["when"] == {"keras": "==2.2.4"} and "CVE-2017-18342" in old["why_not"]
    assert old["cells"] == [c.id for c in TABLE.cells if c.pins["keras"] == "2.2.4"]
    assert new["opt_in"] == "" and new["cells"] == [c.id for c in TABLE.cells if c.pins["keras"] == "2.2.5"]
    assert "ConstructorError" in old["failure"] and "ConstructorError" in new["failure"]
    assert all("leaves" not in p for p in rep["pins"] if p["pin"] != "pyyaml<6.0")  # as before: no key
    rec = rep["recommendation"]  # tensorflow 1.15.5 + keras 2.2.5: only the leave that concerns keras 2.2.5
    assert rec["known_residual"] == [{"pin": "pyyaml<6.0", "failure": new["failure"], "opt_in": "",
                                      "why_not": new["why_not"], "when": new["when"], "cells": rec["cells"]}]
    report.write(rep, tmp_path)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["recommendation"]["known_residual"] == rec["known_residual"] and data["pins"] == rep["pins"]
    md = (tmp_path / "matrix.md").read_text()
    lines = md.split("## Pins")[1].split("\n## ")[0].splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| `pyyaml<6.0` |"))
    assert lines[at + 1].startswith("| ↳ known residual | keras 2.2.4 model\\_from\\_yaml of a model")
    assert "Opt-in pin: `pyyaml<5.1`; tfpin does not add it: " in lines[at + 1] and "CVE-2017-18342" in lines[at + 1]
    assert lines[at + 1].endswith("| `py3.6-tf1.12-keras2.2.4`, `py3.7-tf1.12-keras2.2.4`, `py3.6-tf1.13-keras2.2.4`, "
                                  "`py3.7-tf1.13-keras2.2.4` | |")
    assert lines[at + 2].startswith("| ↳ known residual | keras 2.2.5 ") and "No opt-in pin: " in lines[at + 2]
    recommended = md.split("## Recommended pin")[1]
    after_fence = recommended.split("```")[2]
    assert "Known residual (failures these pins knowingly leave open):" in after_fence
    assert "\n- `pyyaml<6.0`: keras 2.2.5 model\\_from\\_yaml" in after_fence and "No opt-in pin: " in after_fence
    assert "keras 2.2.4" not in after_fence
    page = (tmp_path / "matrix.html").read_text()
    assert page.count("known residual") == 2 and "<code>pyyaml&lt;5.1</code>" in page.split("<h2>Pins")[1]

    # keras 2.2.4 recommended (1.14 and 1.15 failed): its residual has an opt-in pin, said under the pin lines
    rep = report.build(TABLE, TABLE.cells, table_results({c.id: "failed" for c in TABLE.cells
                                                          if c.pins["keras"] == "2.2.5"}), "t0", "t1", {})
    rec = rep["recommendation"]
    assert rec["requirements"] == {"tensorflow": "1.13.2", "keras": "2.2.4"}
    assert [(r["pin"], r["opt_in"], r["cells"]) for r in rec["known_residual"]] == [
        ("pyyaml<6.0", "pyyaml<5.1", rec["cells"])]
    after_fence = report.markdown(rep).split("## Recommended pin")[1].split("```")[2]
    assert "- `pyyaml<6.0`: keras 2.2.4 model\\_from\\_yaml" in after_fence
    assert "Opt-in pin: `pyyaml<5.1`; tfpin does not add it: " in after_fence and "CVE-2017-18342" in after_fence
    page = html.render(rep)
    recommended = page.split("<h2>Recommended pin")[1].split("<h2>")[0]
    assert "Known residual" in recommended and "<code>pyyaml&lt;5.1</code>; tfpin does not add it: " in recommended
    # no recommendation: nothing residual to show
    assert recommend.no_recommendation("why")["known_residual"] == []


def table_rows(md: str) -> list[list[str]]:
    """The cells of each row of matrix.md's cell table (header and alignment rows first), as written (through
    mdtext.text: "1\\.16.0" is shown 1.16.0)."""
    table = md.split("\n\n")[2].splitlines()
    return [row.strip("|").split("|") for row in table]


def test_partial_run_lists_cells_not_run(tmp_path):
    rep = report.build(TABLE, TABLE.cells, table_results()[:3], "t0", None, {})
    md = report.markdown(rep)
    assert "| `py3.7-tf1.15-keras2.2.5` | not run |" in md
    rows = table_rows(md)
    assert len(rows) == 2 + len(TABLE.cells) and {len(row) for row in rows} == {len(rows[0])}  # not run: aligned
    assert rep["bench_column"] is None and rows[0][-1].strip() == "pytest"  # no figures: no bench column
    # 1.13.2 ran only on 3.6 in this partial run, so nothing qualifies yet
    assert rep["recommendation"]["requirements"] is None


def test_off_table_pairs_get_a_verdict_with_failing_tests():
    full = matrices.load("full")
    results = []
    for cell in full.cells:
        if cell.id.startswith("py3.7-tf1.12"):
            status = "unavailable"
        elif cell.id == "py3.7-tf1.14-keras2.2.4":
            status = "failed"
        else:
            status = "passed"
        r = result(cell, status)
        if status == "failed":
            r.failing = ["tests/cell/test_keras_models.py::test_h5[keras]"]
        results.append(r)
    rep = report.build(full, full.cells, results, "t0", "t1", {})
    pairs = {(p["requirements"]["tensorflow"], p["requirements"]["keras"]): p for p in rep["pairs"]}
    assert pairs[("1.14.0", "2.2.4")]["verdict"] == "fails" and not pairs[("1.14.0", "2.2.4")]["in_table"]
    assert pairs[("1.14.0", "2.2.4")]["failing"] == ["tests/cell/test_keras_models.py::test_h5[keras]"]
    assert pairs[("1.15.5", "2.2.4")]["verdict"] == "works"
    assert pairs[("1.12.3", "2.2.5")]["verdict"] == "works"  # 3.6 passed, 3.7 has no wheel
    assert pairs[("1.15.5", "2.2.5")]["in_table"]
    md = report.markdown(rep)
    assert "## Off-table pairs" in md
    # the failing id is free text: its `_`, `[` and `]` are backslash-escaped (rendered as written)
    assert "tensorflow 1.14.0, keras 2.2.4: **fails**" in md and "test\\_h5\\[keras\\]" in md
    # the recommendation still takes the newest pair that passed everywhere, on or off the table
    assert rep["recommendation"]["requirements"] == {"tensorflow": "1.15.5", "keras": "2.2.5"}


def test_closing_line_counts_tests_over_cells():
    from tfpin.report.console import closing_line

    line = closing_line(table_results())
    assert line == "tests: 70 passed, 0 failed, 0 errors, 0 skipped"


def test_bench_figures_attach_only_to_the_same_definition_and_a_finite_loss():
    results = [r.to_json() for r in table_results()[:4]]  # the report's cells: where the figures are attached
    ids = [r["id"] for r in results]
    bench = {ids[0]: measured(ids[0], {"img/s": 100.0}, finite=True, model="resnet20"),
             ids[1]: {**measured(ids[1], {"img/s": 100.0}), "stamp": "an-older-env"},
             ids[2]: measured(ids[2], {"img/s": 100.0}, finite=False),
             ids[3]: {"status": "measured", "images_per_sec": 100.0, "stamp": "stamp-" + ids[3]}}  # no `figures`
    results[0]["bench"] = results[1]["bench"] = {"figures": {"img/s": 1.0}}  # stale figures from before
    report.attach_bench(results, bench)
    assert results[0]["bench"]["figures"] == {"img/s": 100.0}
    assert "model" not in results[0]["bench"]  # what the contract does not name stays in the stored bench file
    assert all("bench" not in r for r in results[1:])


def test_bench_after_the_matrix_fills_throughput_beside_stock():
    """`tfpin bench` runs after `tfpin matrix` and merges into the written report: the intel cells' headline
    figure must then stand beside their stock cells' (the report was built without any figures)."""
    dist = matrices.load("distributions")
    rep = report.build(dist, dist.cells, [result(c, "passed") for c in dist.cells], "t0", "t1", {})
    assert rep["beside_stock"] == []
    rates = {"py3.7-tf1.15-keras2.2.5": 218.0, "py3.7-intel-tf1.15-keras2.2.5": 605.0,
             "py3.6-intel-tf1.15-keras2.2.5": 601.0}  # py3.6 stock not benched: no row for its intel cell
    bench = {cell: measured(cell, {"img/s": rate, "fit img/s": rate / 2}) for cell, rate in rates.items()}
    report.merge_bench(rep, dist, bench)
    assert rep["beside_stock"] == [{"cell": "py3.7-intel-tf1.15-keras2.2.5", "figure": "img/s", "value": 605.0,
                                    "stock_cell": "py3.7-tf1.15-keras2.2.5", "stock_value": 218.0, "ratio": 2.78}]
    md = report.markdown(rep)
    assert "## Beside the stock build" in md
    assert "| `py3.7-intel-tf1.15-keras2.2.5` | img/s | 605 | `py3.7-tf1.15-keras2.2.5` | 218 | 2.78x |" in md
    # the intel build shows in the tensorflow column, named; the cell table shows the headline, then the others
    intel_row = next(line for line in md.splitlines() if line.startswith("| `py3.7-intel-tf1.15-keras2.2.5` |"))
    assert "| %s |" % text("1.15.2 (intel-tensorflow)") in intel_row and intel_row.endswith("| 605 (302 fit img/s) |")
    assert [c["name"] for c in rep["version_columns"]].count("tensorflow") == 1 and "intel-tensorflow" not in \
        [c["name"] for c in rep["version_columns"]]


def test_filtered_or_interrupted_runs_recommend_nothing():
    results = table_results()
    filtered = report.build(TABLE, TABLE.cells, results, "t0", "t1", {}, selection=["-k", "batchnorm"])
    rec = filtered["recommendation"]
    assert rec["requirements"] is None and "-k batchnorm" in rec["summary"]
    assert filtered["partial"] is True and filtered["selection"] == ["-k", "batchnorm"]
    stopped = report.build(TABLE, TABLE.cells, results, "t0", None, {}, interrupted=True)
    assert stopped["recommendation"]["requirements"] is None and stopped["interrupted"] is True
    assert "**interrupted**" in report.markdown(stopped)


def test_subset_recommends_only_pythons_that_ran_and_is_marked_partial():
    py37 = [c for c in TABLE.cells if c.python == "3.7"]
    results = [r for r in table_results() if r.python == "3.7"]
    rep = report.build(TABLE, py37, results, "t0", "t1", {}, partial=True)
    rec = rep["recommendation"]
    assert rec["python"] == ["3.7"] and rec["cells"] == ["py3.7-tf1.15-keras2.2.5"] and rec["partial"] is True
    assert rec["summary"].startswith("partial evidence (4 of 8 cells of matrix 'table')")
    assert "## Recommended pin (partial evidence)" in report.markdown(rep)


def test_stored_results_are_checked_against_the_matrix_now(tmp_path):
    cell = TABLE.cells[-1]
    good = result(cell, "passed")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(good.to_json()))
    assert report.check_result(path, cell, good.stamp) == ("", good)
    problem, _ = report.check_result(path, cell, "another-stamp")
    assert "produced for another definition of py3.7-tf1.15-keras2.2.5" in problem
    path.write_text(json.dumps({**good.to_json(), "selection": ["-x"]}))
    assert "a filtered run (pytest args -x)" in report.check_result(path, cell, good.stamp)[0]
    path.write_text(json.dumps({**good.to_json(), "status": "interrupted"}))
    assert "did not finish" in report.check_result(path, cell, good.stamp)[0]
    path.write_text('{"id": "py3.7')
    assert "unreadable" in report.check_result(path, cell, good.stamp)[0]
    # a record of another schema, or with a key this tfpin does not know, is refused naming the file and key
    path.write_text(json.dumps({**good.to_json(), "schema": 0}))
    said = report.check_result(path, cell, good.stamp)[0]
    assert "%s: result schema 0, this tfpin reads schema %d" % (path, SCHEMA) in said
    path.write_text(json.dumps({**good.to_json(), "verdict": "green"}))
    assert "unknown key(s) verdict" in report.check_result(path, cell, good.stamp)[0]


def test_migration_matrix_leads_with_the_cost_per_cell():
    """purpose = "migration": failing tests, skips counted by reason and the tests' notes, per cell."""
    m = matrices.load("migration")
    assert m.purpose == "migration"
    cells = m.cells[:2]
    results = []
    for cell, status in zip(cells, ("failed", "passed")):
        r = result(cell, status)
        r.failing = ["tests/cell/test_x.py::test_y"] if status == "failed" else []
        r.skips = {"a::t1": "standalone Keras is not installed", "a::t2": "standalone Keras is not installed",
                   "b::t3": "tf.contrib does not exist"}
        r.notes = ["compat rows: Session (2.0)"]
        results.append(r)
    rep = report.build(m, cells, results, "t0", "t1", {})
    md = report.markdown(rep)
    first, second = rep["migration"]
    assert first["failing"] == ["tests/cell/test_x.py::test_y"]
    assert first["skipped"][0] == ("standalone Keras is not installed", 2)
    assert "## Migration cost" in md and "- skipped 2: standalone Keras is not installed" in md
    assert "### `%s`: failed" % cells[0].id in md and "- compat rows: Session (2.0)" in md
    assert report.build(TABLE, TABLE.cells, table_results(), "t0", "t1", {})["migration"] is None


def test_beside_stock_compares_like_with_like():
    dist = matrices.load("distributions")
    intel, stock = "py3.7-intel-tf1.15-keras2.2.5", "py3.7-tf1.15-keras2.2.5"
    rep = report.build(dist, dist.cells, [result(c, "passed") for c in dist.cells], "t0", "t1", {})

    def bench(intel_how, stock_how, stock_figures=None):
        return {cell: measured(cell, figures, computed_as={"gradients": how})
                for cell, figures, how in ((intel, {"img/s": 600.0}, intel_how),
                                           (stock, stock_figures or {"img/s": 300.0}, stock_how))}

    def row():
        return [b for b in rep["beside_stock"] if b["cell"] == intel][0]

    report.merge_bench(rep, dist, bench("tf", "bn_basic_ops"))
    assert row()["ratio"] is None and "computed differently" in row()["not_comparable"]
    assert "gradients bn_basic_ops" in row()["not_comparable"] and "not compared" in report.markdown(rep)
    report.merge_bench(rep, dist, bench("tf", "tf"))
    assert row()["ratio"] == 2.0 and "| 2.00x |" in report.markdown(rep)
    # two different headline figures are not compared either, nor a figure over a stock 0
    report.merge_bench(rep, dist, bench("tf", "tf", {"fit img/s": 300.0}))
    assert row()["ratio"] is None and "different headline figures" in row()["not_comparable"]
    report.merge_bench(rep, dist, bench("tf", "tf", {"img/s": 0}))
    assert row()["ratio"] is None and "measured img/s 0" in row()["not_comparable"]


def test_a_projects_own_figures_are_shown_by_their_names(tmp_path):
    """A bench is the project's, not this repository's: its figures are named by it, and matrix.md and
    matrix.html say those names (the headline's as the column, the others beside the value)."""
    first, second = TABLE.cells[0].id, TABLE.cells[1].id
    bench = {first: measured(first, {"requests/s": 1234.5, "p50 ms": 4.25}),
             second: measured(second, {"requests/s": 987.0})}
    rep = report.build(TABLE, TABLE.cells, table_results(), "t0", "t1", bench)
    report.write(rep, tmp_path)
    md = (tmp_path / "matrix.md").read_text()
    rows = table_rows(md)
    assert rows[0][-1].strip() == "requests/s" and {len(row) for row in rows} == {len(rows[0])}
    assert rows[2][-1].strip() == "1234 (4.25 p50 ms)" and rows[3][-1].strip() == "987"
    page = (tmp_path / "matrix.html").read_text()
    assert "1234 requests/s, 4.25 p50 ms" in page and "987 requests/s" in page
    # headlines of different names: the column is "bench", each value says its name
    bench[second] = measured(second, {"queries/s": 50.5})
    report.merge_bench(rep, TABLE, bench)
    rows = table_rows(report.markdown(rep))
    assert rows[0][-1].strip() == "bench" and rows[3][-1].strip() == text("50.5 queries/s")
    assert rows[2][-1].strip() == "1234 requests/s (4.25 p50 ms)"


def test_a_matrix_without_tensorflow_gets_no_tensorflow_column(tmp_path):
    """The fault suite's matrix (faultkit) pins six and declares tensorflow without pinning it: its report's
    version columns are six and pytest, in matrix.md and matrix.html alike."""
    from faultkit import make_project

    m = matrices.load(str(make_project(tmp_path / "p") / "faults.toml"))
    results = []
    for cell in m.cells:
        r = result(cell, "passed")
        r.resolved = {"six": "1.16.0", "pytest": "7.4.4"}
        results.append(r)
    rep = report.build(m, m.cells, results, "t0", "t1", {})
    assert rep["version_columns"] == [{"name": "six", "builds": []}, {"name": "pytest", "builds": []}]
    report.write(rep, tmp_path, "matrix-faults")
    rows = table_rows((tmp_path / "matrix-faults.md").read_text())
    assert [c.strip() for c in rows[0][8:]] == ["six", "pytest"]
    assert [c.strip() for c in rows[2][8:]] == [text("1.16.0"), text("7.4.4")]
    page = (tmp_path / "matrix-faults.html").read_text()
    assert "six 1.16.0, pytest 7.4.4" in page and "tensorflow" not in page.lower()
