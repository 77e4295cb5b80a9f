"""Every command README.md and docs/*.md show is run here, or is named with the test or CI step that runs its code path.

A command added to README or a docs page without an entry in COVERAGE fails `test_every_readme_command_is_covered`,
so the front door and the reference cannot drift into commands nobody ran.
"""
import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PREFIXES = ("nox ", "tfpin ", "python -m tfpin", "python3 -m venv", ".venv/bin/", "~/.tfpin/bin/", "tox ",
            "PYTHONPATH=", "pip ", "uv tool")
NOX = [sys.executable, "-m", "nox"]
TFPIN = [sys.executable, "-m", "tfpin"]


def commands_in(text):
    """Shell lines of ```sh blocks and inline `code` that starts like a command."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip().rstrip("\\").strip()
            if line and not line.startswith("#") and line.startswith(PREFIXES):
                found.append(line)
    for span in re.findall(r"`([^`\n]+)`", text):
        if span.startswith(PREFIXES) and "<" not in span:
            found.append(span.strip())
    return found


def readme_commands():
    """(command, the file that shows it) for README.md and every page under docs/."""
    return sorted({(c, path.relative_to(ROOT).as_posix()) for path in DOCUMENTS for c in commands_in(path.read_text())})


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


# regex over the README command -> where its code path runs ("here": this module runs it; "ci": .ci/run;
# "faults"/"cell": the named test runs the same path on a TF-free project or inside the cell suite).
COVERAGE = [
    (r"^python3 -m venv ~/\.tfpin && ~/\.tfpin/bin/pip install \.$", "here",
     "test_installed.py: the same venv + `pip install <checkout>` outside the repository"),
    (r"^uv tool install \.$", "here", "test_installed.py::test_uv_tool_install_gives_the_command"),
    (r"^python -m tfpin$", "here", "every run in this module is `python -m tfpin ...`"),
    (r"^tfpin init$", "here", "test_init.py: init on six layouts in a real cell, checked against plain pytest"),
    (r"^tfpin matrix( --cells [\w.,-]+)?( -- -x)?$", "here",
     "test_installed.py: the installed tfpin runs another project's matrix (--cells, real TF cells)"),
    (r"^tfpin cell [\w.-]+ -- -k \w+$", "faults", "test_filtered_run_is_recorded_and_never_joins"),
    (r"^tfpin list --json$", "here", "test_installed.py and test_ci_github.py run `tfpin list --json`"),
    (r"^tfpin report$", "faults", "test_report_refuses_results_for_another_definition"),
    (r"^tfpin pins discover( --cells [\w.-]+| -j 2)?$", "here",
     "test_pins.py: discovery (-j 2) on a real TF-free project, --apply, then a passing matrix"),
    (r"^tfpin drift( --cells [\w.,-]+)?( -q)?$", "faults",
     "test_drift.py: a matrix, then drift with nothing new (unchanged, exit 0) and with a release that breaks one "
     "cell (named with the release, the error and the bisected pin; the other can move on; exit 1)"),
    (r"^tfpin drift --help$", "faults", "test_drift.py::test_help_says_what_the_exit_codes_mean"),
    (r"^tfpin pins apply$", "here", "test_pins.py::test_apply_merges_stored_results_and_refuses_stale_ones"),
    (r"^tfpin ci github$", "here", "test_ci_github.py: the workflow it writes, parsed and linted"),
    (r"^python3 -m venv \.venv && \.venv/bin/pip install -r requirements/host\.txt", "ci", "set-up in .ci/run"),
    (r"^(\.venv/bin/)?nox -s tests$", "ci", ".ci/run runs `nox -s tests`"),
    (r"^(\.venv/bin/)?nox -s matrix$", "ci", ".ci/run runs `nox -s matrix`"),
    (r"^(\.venv/bin/)?nox -s lint$", "ci", ".ci/run runs `nox -s lint`"),
    (r"^(\.venv/bin/)?nox -s docs$", "ci", ".ci/run runs `nox -s docs`; test_docs_build_with_warnings_as_errors"),
    (r"^nox -s corpus$", "ci", ".ci/run runs `nox -s corpus` on two of its projects in the newest cell"),
    (r"^nox -s gpu$", "here", "test_matrix.py::test_gpu_cells_get_the_pins_of_their_tensorflow_release (the "
     "matrix it runs; its cells fail here without CUDA, measured in the README's table)"),
    (r"^tfpin matrix --matrix gpu$", "here", "the same as nox -s gpu"),
    (r"^nox -s matrix -- --matrix full$", "here", "test_matrix_names_parse (list --matrix full: 16 cells)"),
    (r"^nox -s matrix -- --matrix (distributions|migration)$", "here",
     "test_matrix.py::test_distributions_and_migration_matrices (their cells and pins; the runs: README tables)"),
    (r"^nox -s bench -- --matrix distributions$", "cell",
     "tests/cell/test_cli.py runs resnet_core.bench --json in every cell, intel ones included"),
    (r"^tfpin matrix --no-cache$", "faults", "test_cache.py::test_no_cache_runs_everything"),
    (r"^tfpin matrix --fail-fast$", "faults", "test_fail_fast.py: finish and now, on real runs of TF-free projects"),
    (r"^tfpin matrix --retries \d+$", "faults", "test_retries.py: flaky, always failing and flaky in one cell only"),
    (r"^tfpin matrix --floors --cells '[^']+'$", "faults",
     "test_floors.py::test_a_packaged_projects_own_requirements_are_floors_too (--floors on a subset run); "
     "test_selection.py (cells chosen by conditions); the keras-preprocessing run in docs/running.md, by hand"),
    (r"^tfpin matrix --retries \d+ --fail-fast -j \d+ --cells '[^']+'$", "faults",
     "test_retries.py and test_fail_fast.py (each option on real runs), test_selection.py (conditions); together on "
     "hyperas in docs/running.md, by hand"),
    (r"^tfpin matrix --floors$", "faults", "test_floors.py: a false and a true floor of a project from the index"),
    (r"^tfpin matrix --coverage$", "faults",
     "test_coverage.py: a package branching on six's version in a 3.6 and a 3.7 cell (JSON, Markdown, HTML in "
     "headless Chromium, the cache both ways); this repository's table: docs/coverage.md, measured"),
    (r"^tfpin matrix --cells '[^']+'$", "faults",
     "test_selection.py: every kind of term through `tfpin list`, and a run by condition of a TF-free project"),
    (r"^tfpin matrix -v$", "faults", "test_live.py::test_verbose_streams_the_cells_pytest_output_and_github_folds"),
    (r"^tfpin matrix -j \d+$", "faults", "test_cache.py::test_jobs_runs_cells_at_once_with_the_same_report"),
    (r"^nox -s matrix -- --cells [\w.,-]+$", "faults", "test_subset_run_recommends_only_the_pythons_that_ran"),
    (r"^nox -s matrix -- --cells [\w.-]+ -- -k \w+$", "faults", "test_filtered_run_is_recorded_and_never_joins"),
    (r"^nox -s matrix -- --skip-missing-interpreters$", "faults", "test_one_missing_python_fails_unless_skipped"),
    (r"^nox -s matrix -- --log-level 2$", "cell", "tests/cell/test_log_level.py (each level in a fresh process)"),
    (r'^nox -s "cell\([\w.-]+\)" -- -k batchnorm -x$', "here", "test_nox_cell_passes_pytest_args"),
    (r"^python -m tfpin cell [\w.-]+ -- -k batchnorm -x$", "faults", "test_filtered_run_is_recorded_and_never_joins"),
    (r"^nox -l --json -t cell$", "here", "test_nox_lists_cells_as_json"),
    (r"^python -m tfpin report$", "faults", "test_report_refuses_results_for_another_definition"),
    (r"^python -m tfpin matrix\|cell\|cross\|bench\|report\|list\|tox-ini --help$", "here",
     "test_every_subcommand_has_help"),
    (r"^tfpin migrate( --cells [\w.,-]+)?$", "faults",
     "test_migrate.py::test_migrate_converts_a_copy_and_runs_its_tests_naming_what_the_converter_left (the TF 2.x "
     "cells themselves: examples/digits_tf1/README.md, measured)"),
    (r"^tfpin ci gitlab$", "here", "test_ci_gitlab.py (GitLab's CI schema, one job per cell, the report job)"),
    (r"^tfpin ci (github|gitlab) --schedule '[^']+'$", "here",
     "docs/ci-schedule-cache.md: test_ci_gitlab.py::test_a_schedule_adds_drift_jobs_valid_against_gitlabs_schema_and_"
     "says_how_to_create_it (the command, GitLab's schema), test_ci_github.py::test_a_schedule_adds_drift_jobs_that_"
     "run_only_on_it and test_actionlint_accepts_the_workflow[...-0 6 * * 1], test_ci_gitlab.py::test_a_bad_schedule_"
     "exits_2_naming_the_option_and_what_is_allowed (both systems)"),
    (r"^tfpin bench$", "faults", "test_a_projects_own_bench_command_runs_in_each_cell_and_joins_the_report"),
    (r"^nox -s bench$", "cell", "tests/cell/test_cli.py runs resnet_core.bench --json; bench is not a test (README)"),
    (r"^nox -s tox_ini$", "here", "test_toxini.py: tox.ini equals what `nox -s tox_ini` writes"),
    (r"^tox (-e|-m) [\w-]+$", "here", "test_tox_lists_the_generated_envs"),
    (r"^tfpin report --constraints ([\w./-]+|DIR)$", "faults",
     "test_compat_file.py::test_constraints_files_name_their_source (a real report of a TF-free project) and "
     "test_no_constraints_from_a_subset_or_a_file_in_the_way"),
    (r"^pip install -c( [\w./-]*constraints-py3\.\d+\.txt( [\w.-]+==[\w.]+)+)?$", "faults",
     "test_compat_file.py::test_a_constraints_file_installs_exactly_the_recommended_set (pip -c into a stdlib venv, "
     "uv pip -c into a uv venv; the freeze equals the cell's; the TF files by hand: docs/compat-file.md)"),
    (r"^PYTHONPATH=\. \.tfpin/envs/[\w.<>-]+/bin/python -m (pytest tests/cell|resnet_core\.\w+)", "ci",
     "the cell suite and CLIs run inside every cell of `nox -s matrix`"),
]


def test_every_readme_command_is_covered():
    commands = readme_commands()
    assert {where for _, where in commands} >= {"README.md", "docs/running.md"}, commands
    uncovered = ["%s: %s" % (where, c) for c, where in commands
                 if not any(re.search(rx, re.sub(r"^~/\.tfpin/bin/", "", c)) for rx, _, _ in COVERAGE)]
    assert not uncovered, "commands shown with no test or CI step: %s" % uncovered


def test_the_front_door_stays_short_and_its_links_resolve():
    """README is read in five minutes; the reference lives in docs/, which it must point into correctly."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, "README links to files that do not exist: %s" % missing


def test_docs_build_with_warnings_as_errors(tmp_path):
    """What `nox -s docs` runs: MkDocs in strict mode, so a broken link or anchor between pages fails."""
    out = run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")])
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "running" / "index.html").exists()


def test_ci_runs_readme_setup_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    for step in ("python3 -m venv .venv", "-r requirements/host.txt", "nox -s lint", "nox -s tests", "nox -s matrix"):
        assert step in ci


def test_matrix_names_parse():
    out = run([*TFPIN, "list", "--json", "--matrix", "full"])
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 16


def test_every_subcommand_has_help():
    for sub in ("matrix", "cell", "cross", "bench", "report", "list", "tox-ini", "migrate", "drift"):
        out = run([*TFPIN, sub, "--help"])
        assert out.returncode == 0 and "usage: tfpin %s" % sub in out.stdout


def test_every_command_help_ends_with_examples_the_parser_accepts():
    """Each `tfpin <command> --help` ends with two or three examples, and each parses with the real parser."""
    import shlex

    from tfpin import cli
    parser = cli.parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        out = run([*TFPIN, *name.split(), "--help"])
        assert out.returncode == 0, out.stderr
        tail = out.stdout.split("\nexamples:\n")
        assert len(tail) == 2, "tfpin %s --help has no examples" % name
        shown = [line.strip() for line in tail[1].splitlines() if line.startswith("  tfpin ")]
        assert 2 <= len(shown) <= 3, (name, shown)
        for example in shown:
            words = shlex.split(example)[1:]
            tfpin_args = words[:words.index("--")] if "--" in words else words
            parsed = parser.parse_args(tfpin_args)
            assert parsed.command == name, (example, parsed.command)


def test_nox_lists_cells_as_json():
    out = run([*NOX, "-l", "--json", "-t", "cell"])
    assert out.returncode == 0, out.stderr
    sessions = json.loads(out.stdout)
    assert len(sessions) == 16 and all(s["session"].startswith("cell(") for s in sessions)


def test_tox_lists_the_generated_envs():
    out = run([sys.executable, "-m", "tox", "l", "-m", "table"])
    assert out.returncode == 0, out.stderr
    assert "py37-tf115-keras225" in out.stdout and "py36-tf112-keras224" in out.stdout


def test_nox_cell_passes_pytest_args():
    """README's own example, for real: only the selected tests run and the result records the selection."""
    cell = "py3.7-tf1.15-keras2.2.5"
    out = run([*NOX, "-s", "cell(%s)" % cell, "--", "-k", "batchnorm", "-x"], timeout=900)
    result = json.loads((ROOT / "reports" / "cells" / (cell + ".json")).read_text())
    if result["status"] == "missing-interpreter":
        pytest.fail("Python 3.7 is required here (CI has it): %s" % result["reason"])
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert result["selection"] == ["-k", "batchnorm", "-x"]
    assert 0 < result["tests"]["passed"] < 100
    junit = (ROOT / "reports" / "junit" / (cell + ".xml")).read_text()
    assert "test_batchnorm" in junit and "test_params" not in junit


def test_tfpin_ci_github_writes_the_workflow(tmp_path):
    yaml = pytest.importorskip("yaml", reason="PyYAML (requirements/host.txt) parses the generated workflow")
    out = run([*TFPIN, "ci", "github", "--output", str(tmp_path / "tfpin.yml")])
    assert out.returncode == 0, out.stderr
    jobs = yaml.safe_load((tmp_path / "tfpin.yml").read_text())["jobs"]
    assert len(jobs) == 17 and set(jobs["report"]["needs"]) == set(jobs) - {"report"}  # 8 cells, 8 readers, report
