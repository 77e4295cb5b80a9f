"""Re-use a cell's last verdict when nothing it stands on has changed.

A verdict is evidence about one exact thing, so its key hashes every input that could change it:
  env        the environment's stamp (interpreter, installer, requirements, pins, install lines)
  installed  the installed set read back from that environment now (`pip freeze`, after the probe that
             finds it whole), not remembered, plus the digest of each project tree an install line puts
             there (`install = ["."]`: the code under test is the code on disk, tfpin/config/local.py)
  sources    the files the suite can import, run or open (the project's `sources`, else its git-tracked
             files, else, outside git or in a tree git ignores, every file), the pytest configuration at the
             root, and the test paths themselves
  loaded     what the last run read, as that run reported it (cellplugin/tfpin_loaded.py): pytest's ini
             file, every conftest.py it loaded, every module imported from outside the env and the stdlib,
             wherever they are (above the root, gitignored, a src layout), each by content; re-read from
             disk to decide re-use, and a changed one is named
  selection  the pytest arguments (the project's `test` plus any after `--`), the per-test timeout, --retries and
             --coverage (a run measured by coverage.py and one without are never each other's verdict)
  environ    every variable of the cell's environment (the host's allowlist and `pass_env`: tfpin/environ.py;
             the project's `[env]`; what tfpin sets), values included, plus the CPUs this process may use
  harness    tfpin's version and the pytest plugin it loads into every cell
A stored result is re-used only under the same key, when its run finished with a verdict that is a
fact about these inputs (passed, failed, unavailable: never an error, which may be transient), and
while the JUnit, lock and log it names are still on disk. An `unavailable` verdict is a fact about an
index, which can gain a wheel: it is re-checked (the cell runs again) once it is a day old. The re-used
result keeps its status and says so (`cached_from`); `--no-cache` runs everything.
"""
from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tfpin import __version__, files
from tfpin.cell.covdata import HOOK as COVERAGE_HOOK
from tfpin.cell.covdata import TOOL as COVERAGE_TOOL
from tfpin.cell.envs import PLUGIN_DIR, STAMP, CellEnv
from tfpin.cell.result import CellResult, ResultFormatError
from tfpin.cell.status import FAILED, PASSED, UNAVAILABLE
from tfpin.environ import RUN_PATHS, cpus
from tfpin.files import short_digest

REUSABLE = (PASSED, FAILED, UNAVAILABLE)
COMPONENTS = ("env", "installed", "sources", "loaded", "selection", "environ", "harness")
# pytest reads its configuration from these at the root: part of what the suite does.
PYTEST_CONFIG = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", "conftest.py")
UNAVAILABLE_RECHECK = datetime.timedelta(days=1)


def source_files(project, outputs=()) -> list[Path]:
    """The files whose content is part of the key (sorted, unique); never tfpin's own outputs (`outputs`:
    the report and env directories, wherever --reports/--envs put them)."""
    root = project.root
    if project.sources is not None:
        found = [p for entry in project.sources for p in _expand(root, entry)]
    else:
        tracked = files.git_files(root)
        # no git here, or a tree git ignores: every file, never none
        found = tracked if tracked is not None else list(files.walk(root))
    extra = [root / name for name in PYTEST_CONFIG] + [root / a.split("::")[0] for a in project.test
                                                      if not a.startswith("-")]
    for path in extra:
        found += list(files.walk(path)) if path.is_dir() else [path] if path.is_file() else []
    outputs = [Path(o).resolve() for o in outputs]
    return sorted(set(p for p in found if p.is_file() and files.kept(p.relative_to(root).parts)
                      and not any(p.resolve().is_relative_to(o) for o in outputs)))


def _expand(root: Path, entry: str) -> list[Path]:
    matches = sorted(root.glob(entry)) if any(c in entry for c in "*?[") else [root / entry]
    out = []
    for path in matches:
        out += list(files.walk(path)) if path.is_dir() else [path]
    return out


def sources_digest(ctx) -> str:
    """Paths and contents, so a rename, an edit, a new or a deleted file each change it. tfpin's own
    configuration (tfpin.toml, the matrix files: ctx.config_files) is not code under test: editing one
    cell's pins must not make every other cell's result "of other sources"."""
    configs = {Path(p).resolve() for p in ctx.config_files}  # in the key already: env stamp, selection, environ
    return files.digest(ctx.project.root, [p for p in source_files(ctx.project, (ctx.reports, ctx.envs))
                                           if p.resolve() not in configs])


def behaviour_environ(environ: dict) -> dict:
    """A cell's environment as far as it can change what the suite computes: all of it but the paths of this
    run's progress files (a cell sees no host variable that is not in it: tfpin/environ.py)."""
    return {"variables": {k: v for k, v in environ.items() if k not in RUN_PATHS}, "cpus": cpus()}


class Inputs:
    """The key's components for one cell, computed before it runs (and again, to decide re-use)."""

    def __init__(self, cell, ctx, environ: dict, sources: str):
        self.cell = cell
        self.env = CellEnv(cell, ctx.envs, ctx.project.root, ctx.install_digest)
        behaviour = behaviour_environ(environ)
        self.parts = {
            "env": None,  # filled by wanted_stamp(): needs the interpreter
            "installed": None,
            "local": ctx.local,  # folded into "installed": the project's own code inside the env
            "sources": sources,
            "selection": short_digest({"test": ctx.project.test, "after --": ctx.selection,
                                       "timeout": ctx.project.timeout, "extra": ctx.pytest_extra,
                                       "retries": ctx.retries, **coverage_part(ctx)}),
            "environ": short_digest(behaviour),
            "harness": self.harness_digest(),
        }

    @staticmethod
    def harness_digest() -> str:
        """tfpin's version and the plugins it loads into cells: another harness is another measurement."""
        return short_digest({"tfpin": __version__, "plugin": {p.name: short_digest(p.read_text())
                                                         for p in sorted(PLUGIN_DIR.glob("*.py"))}})

    def with_env(self, installed_text: str | None, loaded: dict) -> dict | None:
        """All components, with the env's wanted stamp, the given installed set and what the run read ({path
        relative to the root: sha256 of its content, None when it is gone}); None without an interpreter."""
        try:
            stamp = self.env.wanted_stamp()
        except LookupError:
            return None
        parts = {k: v for k, v in self.parts.items() if k != "local"}
        installed = short_digest([installed_text, self.parts["local"]]) if installed_text else None
        return dict(parts, env=short_digest(stamp), installed=installed, loaded=short_digest(sorted(loaded.items())))


def coverage_part(ctx) -> dict:
    """--coverage in the key: the flag and the hook that starts coverage in the cell (nothing at all without it, so
    the keys of runs without coverage are what they were before --coverage existed)."""
    if not ctx.coverage:
        return {}
    return {"coverage": short_digest({"hook": COVERAGE_HOOK.read_text(), "tool": COVERAGE_TOOL})}


def loaded_now(root: Path, loaded: dict | None) -> tuple[dict, list[str]]:
    """The files a run read ({path: sha256 now}) and those whose content is no longer what that run read."""
    recorded = (loaded or {}).get("files", {})
    now: dict[str, str | None] = {}
    for name in recorded:
        try:
            now[name] = hashlib.sha256((Path(root) / name).read_bytes()).hexdigest()
        except OSError:
            now[name] = None
    return now, [name for name in recorded if now[name] != recorded[name]]


def key_of(parts: dict) -> str:
    return short_digest([parts[name] for name in COMPONENTS])


def seal(result: CellResult, inputs: Inputs, ctx, sources_after: str) -> None:
    """Record the key a finished result can be re-used under (nothing, if it must not be)."""
    if result.status not in REUSABLE or result.finished is None:
        return
    if sources_after != inputs.parts["sources"]:  # edited while the suite ran: the result is of neither
        return
    lock = ctx.project.root / result.lock if result.lock else None
    installed = lock.read_text() if lock is not None and lock.is_file() else None
    if result.status != UNAVAILABLE and installed is None:
        return
    parts = inputs.with_env(installed, (result.loaded or {}).get("files", {}))
    if parts is not None:
        result.cache = {"key": key_of(parts), "parts": parts}


@dataclass(frozen=True)
class Lookup:
    """What the cache says of one cell before it runs."""
    inputs: Inputs
    hit: CellResult | None
    why: str
    expected_s: float | None


class Verdicts:
    """The verdict cache as one run of cells sees it: the sources as the run began, each cell's stored result read
    once (what re-use, the scheduler's demands and the live ETA all ask of it), and the key each new result is
    sealed under."""

    def __init__(self, ctx, cells, use: bool = True):
        self.ctx, self.use = ctx, use
        self.sources = sources_digest(ctx)
        self._stored = {cell.id: _stored_data(ctx, cell.id) for cell in cells}

    def previous(self, cell_id: str) -> CellResult | None:
        """The cell's last run that went to the end over the whole suite (its figures predict this run), or None."""
        return _whole_run(_parsed(self._stored.get(cell_id, NOTHING_STORED)))

    def demands(self) -> dict:
        """{cell id: {"setup": cores, "tests": cores}} each cell kept busy in its last run (tfpin/load.py)."""
        out = {}
        for cell_id in self._stored:
            stored = self.previous(cell_id)
            if stored is not None:
                d = stored.durations
                out[cell_id] = {k: v for k, v in (("setup", d.setup_demand), ("tests", d.tests_demand)) if v}
        return out

    def expected_tests_s(self, cell_id: str) -> float | None:
        """How long the cell's suite took when it last ran to the end (an ETA for this run), or None."""
        stored = self.previous(cell_id)
        return stored.durations.tests_s or None if stored is not None else None

    def lookup(self, cell, environ: dict) -> Lookup:
        """The cell's key inputs, its stored result to re-use or why it must run, and how long its last whole run's
        tests took (the live ETA)."""
        inputs = Inputs(cell, self.ctx, environ, self.sources)
        expected_s = self.expected_tests_s(cell.id)
        if not self.use:
            return Lookup(inputs, None, "", expected_s)
        hit, why = _reusable(self._stored.get(cell.id, NOTHING_STORED), inputs, self.ctx)
        return Lookup(inputs, hit, why, expected_s)

    def seal(self, result: CellResult, inputs: Inputs) -> None:
        """Record the key a finished result can be re-used under (nothing, if it must not be): the sources are read
        again, and a suite whose sources were edited while it ran is of neither."""
        seal(result, inputs, self.ctx, sources_digest(self.ctx))


NOTHING_STORED = object()  # no stored result, or one that is not JSON at all


def _stored_data(ctx, cell_id: str):
    """The cell's stored result as JSON data, or NOTHING_STORED."""
    try:
        return json.loads(ctx.layout.result(cell_id).read_text())
    except (OSError, ValueError):
        return NOTHING_STORED


def _reusable(data, inputs: Inputs, ctx) -> tuple[CellResult | None, str]:
    """(the stored result to re-use, '') or (None, why it must run)."""
    path = ctx.layout.result(inputs.cell.id)
    if data is NOTHING_STORED:
        return None, "no stored result"
    try:
        stored = CellResult.from_json(data, str(path))
    except ResultFormatError as exc:
        return None, "its stored result is not readable: %s" % exc
    cache = stored.cache
    if not cache or stored.status not in REUSABLE or stored.id != inputs.cell.id:
        return None, "no re-usable verdict stored"
    if stored.status == UNAVAILABLE and _age(stored.finished) > UNAVAILABLE_RECHECK:
        return None, "its `unavailable` verdict of %s is over a day old: the index may have a build now" % (
            stored.finished)
    installed = None
    if stored.status != UNAVAILABLE:
        installed = _installed_now(inputs.env)
        if installed is None:
            return None, "its environment is gone, damaged or built for another definition"
    now, edited = loaded_now(ctx.project.root, stored.loaded)
    parts = inputs.with_env(installed, now)
    if parts is None:
        return None, "no interpreter"
    if key_of(parts) != cache["key"]:
        changed = [name for name in COMPONENTS if parts.get(name) != cache.get("parts", {}).get(name)]
        if edited:
            changed[changed.index("loaded")] = "loaded (%s%s)" % (", ".join(edited[:3]), ", and %d more" % (
                len(edited) - 3) if len(edited) > 3 else "")
        return None, "changed since its last run: " + (", ".join(changed) or "key")
    for kind in ("junit", "lock", "log"):
        if stored.status != UNAVAILABLE or kind == "log":
            named = getattr(stored, kind)
            if not named or not (ctx.project.root / named).is_file():
                return None, "its %s file is gone" % kind
    if stored.coverage and not (ctx.project.root / str(stored.coverage.get("data"))).is_file():
        return None, "its coverage data %s is gone" % stored.coverage.get("data")
    for name in stored.artifacts or []:
        if not (ctx.layout.evidence("artifacts", stored.id) / name).is_dir():
            return None, "its artifact %r is gone" % name
    stored.cached_from = {"finished": stored.finished, "tests_s": stored.durations.tests_s, "key": cache["key"]}
    return stored, ""


def previous_run(ctx, cell_id: str) -> CellResult | None:
    """The cell's last run that went to the end over the whole suite (its figures predict this run), or None."""
    return _whole_run(_parsed(_stored_data(ctx, cell_id)))


def _parsed(data) -> CellResult | None:
    try:
        return CellResult.from_json(data) if isinstance(data, dict) else None
    except ResultFormatError:
        return None


def _whole_run(stored: CellResult | None) -> CellResult | None:
    return stored if stored is not None and stored.finished and not stored.selection and not stored.cached_from \
        else None


def _age(finished) -> datetime.timedelta:
    try:
        when = datetime.datetime.fromisoformat(finished)
    except (TypeError, ValueError):
        return datetime.timedelta.max
    return datetime.datetime.now(datetime.timezone.utc) - when


def _installed_now(env: CellEnv) -> str | None:
    """The env's installed set, read from it now, when it is the env this definition wants."""
    try:
        wanted = env.wanted_stamp()
        on_disk = json.loads((env.path / STAMP).read_text())
    except (LookupError, OSError, ValueError):
        return None
    if on_disk != wanted or not env.python.exists():
        return None
    try:
        if env.probe(lambda _text: None):  # damaged since: the next real run rebuilds it and says why
            return None
        return env.freeze()
    except Exception:  # a broken env is simply not re-usable; running the cell will say what is wrong
        return None
