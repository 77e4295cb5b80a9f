"""`tfpin init`: a starter tfpin.toml from what the project already has, without asking the user anything.

It asks the tools instead of modelling them. The installer builds the project into the newest available
cell of the matrix: the very environment `tfpin matrix` re-uses, so nothing is built twice. The project's
metadata, as that build wrote it, says which test extra it declares. pytest, run there from the project
root with the project's own configuration, says what it collects, and which modules fail to. Only when no
cell can be built does init read files instead (guess.py), and then it says the selection is a guess.
"""
from __future__ import annotations

import urllib.error
from pathlib import Path

import tomli_w

from tfpin import events
from tfpin.cell import index, metadata
from tfpin.cell.envs import CellEnv, EnvLock, InstallError, MissingInterpreter, Unavailable
from tfpin.cell.incell import cell_environ
from tfpin.config import local
from tfpin.config import matrix as matrices
from tfpin.config.context import Context, rel
from tfpin.config.layout import Layout
from tfpin.config.project import CONFIG_FILE, Project
from tfpin.generate import collection, guess, needs
from tfpin.report import live

IGNORED = (".tfpin/", "reports/")
LOG = Path(".tfpin") / "init.log"  # the installer's and pytest's own words while init built its cell


class Starter:
    """What init found. `test` None: pytest's own discovery from the root collects exactly the suite, so the
    key is left out. `asked`: the cell pytest answered in (None: the selection is a guess)."""

    def __init__(self, matrix: str):
        self.matrix = matrix
        self.test: list[str] | None = None
        self.install: list[str] = []
        self.asked = None
        self.counts = ""  # "123 tests in 9 modules"
        self.notes: list[str] = []

    def text(self) -> str:
        lines = [
            "# tfpin: which TensorFlow 1.x / Keras / Python set does this project pass on?",
            "# `tfpin matrix` runs the tests below in every cell of the matrix and recommends a pin.",
            "matrix = %s  # built-in: table (TF 1.12-1.15 with their Keras, Python 3.6/3.7) or full; or a path"
            % _toml(self.matrix),
        ]
        if self.test is None:
            lines.append("# test = [...]  # pytest arguments; left out: pytest's own discovery from this directory "
                         "collects the suite (%s)" % self.counts)
        else:
            what = ("what pytest collected in %s: %s" % (self.asked.id, self.counts) if self.asked is not None
                    else "a GUESS from reading files: no cell could be built to ask pytest")
            lines.append("test = [%s]  # pytest arguments, run from this directory; %s"
                         % (", ".join(_toml(t) for t in self.test), what))
        if self.install:
            lines.append("install = [%s]  # installed into every cell, with the cell's pins applied"
                         % ", ".join(_toml(line) for line in self.install))
        else:
            lines.append('# install = ["-r requirements-test.txt"]  # extra requirements for every cell')
        lines += [
            "# timeout = 900  # seconds one test may run before it counts as hung",
            "# [env]  # variables your tests need",
            "# MY_SETTING = \"1\"",
            "",
        ]
        return "\n".join(lines)


def _toml(value) -> str:
    """The value as TOML writes it (a path holding `"`, `\\` or a control character stays valid TOML): the text a
    TOML library gives for `v = value`, less the `v = `."""
    return tomli_w.dumps({"v": value})[len("v = "):].rstrip("\n")


class _Built:
    """A cell built with the starter's install lines, ready to be asked."""

    def __init__(self, cell, env: CellEnv, ctx: Context):
        self.cell, self.env, self.ctx = cell, env, ctx
        self.environ = cell_environ(cell, ctx)


class _Tools:
    """The installer and pytest, for one project root and matrix: what init asks, and where their words go."""

    def __init__(self, root: Path, matrix_name: str, layout: Layout, log, reporter: events.Reporter):
        self.root, self.matrix_name, self.layout, self.log, self.reporter = root, matrix_name, layout, log, reporter

    def say(self, text: str) -> None:
        self.reporter.emit(events.Info(text))

    def build(self, install) -> tuple[_Built | None, list[str]]:
        """The newest cell of the matrix that can be built with these install lines, and why newer ones could not
        be (no wheel or no interpreter here gives way to the next); None and every reason when none can."""
        project = Project(self.root, self.root / CONFIG_FILE, self.matrix_name, [], install)
        ctx = Context(project, self.layout.reports, self.layout.envs)
        reasons = []
        for cell in reversed(matrices.load(self.matrix_name, project).cells):
            env = CellEnv(cell, ctx.envs, self.root, ctx.install_digest, ctx.local)
            progress = self.layout.transient("progress", cell.id)
            self.reporter.emit(events.CellsStarting(1))
            self.reporter.emit(events.CellStarted(1, 1, cell.id, "building it with install = %s to ask pytest what "
                                                  "it collects (tfpin matrix re-uses it)" % (install,),
                                                  progress=progress))
            try:
                with live.Watcher(self.reporter) as watcher, EnvLock(ctx.layout.env(cell.id), self.say):
                    watcher.watch(cell.id, progress, None)
                    env.ensure(self.log)
            except (MissingInterpreter, Unavailable) as exc:
                reasons.append("%s: %s" % (cell.id, exc))
                continue
            except InstallError as exc:
                reasons.append("%s: environment: %s" % (cell.id, exc))
                return None, reasons
            finally:
                self.reporter.emit(events.CellsDone())
            return _Built(cell, env, ctx), reasons
        return None, reasons

    def collect(self, built: _Built, args) -> collection.Collected:
        found = collection.collect(built.env.python, args, self.root, built.environ)
        self.log("== pytest --collect-only %s: %d ids, %d collection errors, exit %s%s" % (
            " ".join(args) or "(its own discovery)", len(found.ids), len(found.errors), found.exitstatus,
            ", refused: " + found.refused if found.refused else ""))
        return found


def plan(root: Path, matrix_name: str, layout: Layout, reporter: events.Reporter) -> Starter:
    """Everything init decides, asked of the installer, the project's metadata and pytest (in that order)."""
    starter = Starter(matrix_name)
    packaged = needs.packaged_by(root)
    if packaged:
        starter.install.append(".")
        starter.notes.append('install = ["."]: the project is packaged (%s)' % packaged)
    for name in needs.requirement_files(root):
        starter.install += _requirement_file(root, name, starter.notes)
    log_path = root / LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log_file:
        def log(text):
            log_file.write(text.rstrip("\n") + "\n")
            log_file.flush()

        tools = _Tools(root, matrix_name, layout, log, reporter)
        built, why = tools.build(starter.install)
        if built is not None and packaged:
            built = _with_test_extra(tools, starter, built)
        if built is None:
            starter.test, notes = guess.guess_tests(root)
            starter.notes.append("no cell could be built to ask pytest what it collects (%s); `test` below is a "
                                 "GUESS from reading files (log: %s)" % ("; ".join(why) or "no cell", LOG))
            starter.notes += notes
            return starter
        full = tools.collect(built, [])
        starter.asked = built.cell
        _choose_tests(tools, built, full, starter)
    return starter


def _requirement_file(root: Path, name: str, notes: list) -> list[str]:
    """`-r name`, unless the file pins a package the cells pin (tensorflow==1.14): a cell's own pin must decide,
    so its other lines are taken one by one."""
    lines = needs.file_lines(root / name)
    stack = [line for line in needs.stack_lines(lines) if "==" in line]
    if not stack:
        bounds = needs.stack_lines(lines)
        notes.append("install: -r %s: what the tests need, by its name%s" % (name, "; its %s only bound each cell's "
                     "release, the matrix decides it" % ", ".join(bounds) if bounds else ""))
        return ["-r " + name]
    kept = [ln for ln in lines if ln and not ln.startswith(("#", "-")) and not needs.stack_lines([ln])]
    notes.append("install: the lines of %s but %s: the matrix decides those" % (name, ", ".join(stack)))
    return kept


def _with_test_extra(tools: _Tools, starter: Starter, built: _Built) -> _Built:
    """The project's metadata as the installer built it: a test extra means `.[extra]`; its own TensorFlow and
    Keras lines are reported, never let to decide a cell's."""
    meta = metadata.installed(built.env.python, tools.root, built.environ)
    if meta is None:
        starter.notes.append("the installed project's metadata could not be read; install stays %s" % starter.install)
        return built
    stack = needs.stack_lines(r.split(";")[0] for r in meta.requires)
    if stack:
        starter.notes.append("the project itself asks for %s: the matrix decides each cell's release, these lines "
                             "only bound it" % ", ".join(stack))
    extra = needs.test_extra(meta)
    if not extra:
        return built
    install = [".[%s]" % extra] + [line for line in starter.install if line != "."]
    again, why = tools.build(install)
    if again is None:
        starter.notes.append("the project's test extra [%s] did not install (%s); install stays %s"
                             % (extra, "; ".join(why), starter.install))
        return built
    starter.install = install
    starter.notes = [n for n in starter.notes if not n.startswith('install = ["."]')]
    starter.notes.append('install = ["%s"]: %s declares the test extra [%s] (%s)' % (
        install[0], meta.name or "the project", extra,
        ", ".join(r for r in meta.requires if "extra ==" in r and extra in r)[:300] or "no requirements"))
    return again


def _choose_tests(tools: _Tools, built: _Built, full: collection.Collected, starter: Starter) -> None:
    where = " (pytest read %s)" % rel(full.inifile, built.ctx) if full.inifile else ""
    if full.refused:
        starter.notes.append("pytest refused to collect in %s%s: %s" % (built.cell.id, where, full.refused))
        starter.notes.append("the plugins your pytest configuration's addopts use must be installed in every cell: "
                             "add them to `install` (e.g. a test extra, or the plugin's own line)")
    for error in full.errors:
        starter.notes.append(_left_out(error, tools.root, built.cell.id))
    selection = collection.smallest_selection(full, lambda args: tools.collect(built, args))
    if selection is None:
        starter.test, notes = guess.guess_tests(tools.root)
        starter.asked = None
        starter.notes.append("pytest collected no test it can run in %s%s; `test` below is a GUESS from reading "
                             "files" % (built.cell.id, where))
        starter.notes += notes
        return
    starter.counts = "%d test%s in %d module%s" % (len(full.ids), "s"[:len(full.ids) != 1], len(full.modules),
                                                  "s"[:len(full.modules) != 1])
    starter.test = selection or None
    starter.notes.insert(0, "pytest collected %s in %s%s; test = %s" % (
        starter.counts, built.cell.id, where,
        selection if selection else "left out: pytest's own discovery from the root collects exactly these"))


def _left_out(error: dict, root: Path, cell_id: str) -> str:
    """What a module that failed to collect costs, and the edit that would bring it back."""
    text = "left out: %s does not collect in %s: %s" % (error["nodeid"] or "(the root)", cell_id, error["error"])
    missing = (error.get("missing") or "").split(".")[0]
    if not missing or local.directory(missing, root) is not None or (root / (missing + ".py")).is_file():
        return text
    found = _on_the_index(missing)
    if found is False:
        return text + ("; the project does not declare `%s`, and the index has no distribution of that name: to test "
                       "this module too, add the distribution that provides the module `%s` to install" % (
                           missing, missing))
    return text + ('; the project does not declare `%s`: to test this module too, add it to install: install = '
                   '[..., "%s"]%s' % (missing, missing, "" if found else " (if the distribution has that name)"))


def _on_the_index(name: str) -> bool | None:
    """Whether the index has a distribution of that name (None: it could not be asked)."""
    try:
        return bool(index.releases(name))
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except (OSError, ValueError):
        return None


def ignore_outputs(root: Path) -> list[str]:
    """Add tfpin's outputs to an existing .gitignore; say what was done."""
    path = root / ".gitignore"
    if not path.is_file():
        return ["no .gitignore here: keep .tfpin/ (cell environments) and reports/ out of version control"]
    text = path.read_bytes().decode("utf-8", "surrogateescape")  # any bytes a .gitignore holds stay as they were
    present = {line.strip() for line in text.splitlines()}
    missing = [entry for entry in IGNORED if entry not in present and entry.rstrip("/") not in present]
    if not missing:
        return []
    text += ("" if text.endswith("\n") or not text else "\n") + "\n".join(missing) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return ["added %s to .gitignore" % ", ".join(missing)]
