"""`tfpin matrix --coverage` in one cell: coverage.py beside the env, started in every process of the suite, and the
cell's data kept with its evidence under the project's own file names.

coverage.py is installed per cell into a directory of its own inside the env (`tfpin-coverage/`, `--target`), from a
range the installer resolves for the cell's Python (6.2 on 3.6, 7.2.7 on 3.7, the newest elsewhere), and put on
sys.path only by a --coverage run: the env's installed set, stamp and lock stay what they are, so one env serves runs
with and without coverage (the verdict cache keys on the flag itself: cache.Inputs). Every Python process of the
suite starts coverage through a .pth hook in the env's site-packages (cellplugin/coverage_start/_tfpin_coverage.py,
which does nothing without COVERAGE_PROCESS_START), its PYTHONPATH replaced by the suite or not; each writes a
parallel data file, read back here with coverage's own CoverageData and stored as `reports/coverage/<cell>.coverage`
with every measured file named by its path in the project tree, wherever the cell imported it from (the tree, or
site-packages of 3.6 or 3.7), so all cells combine on the same names (report/covmap.py).
"""
from __future__ import annotations

from pathlib import Path

from tfpin.cell import installer
from tfpin.cell.envs import PLUGIN_DIR, CellEnv, InstallError
from tfpin.config.context import Context, rel
from tfpin.files import write_atomic

TOOL = "coverage>=5.3"  # 5.3: the first with `source_pkgs` (measure a package wherever it is imported from)
TOOL_DIR = "tfpin-coverage"  # inside the env's directory, never on its sys.path unless a --coverage run puts it there
HOOK = PLUGIN_DIR / "coverage_start" / "_tfpin_coverage.py"  # copied into site-packages, imported by a .pth
TOOL_VARIABLE = "TFPIN_COVERAGE_DIR"  # the hook's name for TOOL_DIR (it imports nothing of tfpin)
# A process of the suite that never imports the project (most of the fresh processes a suite starts) would print
# coverage's warnings to its stderr, which the suite's own tests may read.
QUIET = "module-not-imported, module-not-measured, no-data-collected, couldnt-parse, already-imported"


def packages(project) -> list[tuple[str, str]]:
    """The project's own packages and modules as (import name, path under the root): the `sources` that are Python
    packages (a directory with __init__.py) or modules, else the packages at the root or under src/; never the
    test paths. These are what "the project's lines" are."""
    root = project.root
    if project.sources is not None:
        found = [p for entry in project.sources
                 for p in (sorted(root.glob(entry)) if any(c in entry for c in "*?[") else [root / entry])]
    else:
        found = [p for base in (root, root / "src") if base.is_dir() for p in sorted(base.iterdir())
                 if not p.name.startswith((".", "_")) and p.name not in ("tests", "test", "src")]
    tests = [(root / t.split("::")[0]).resolve() for t in project.test if not t.startswith("-")]
    out = []
    for path in found:
        if any(path.resolve() == t or t in path.resolve().parents for t in tests):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            top, name = path, [path.name]
            while (top.parent / "__init__.py").is_file() and top.parent != root:
                top = top.parent
                name.insert(0, top.name)
            out.append((".".join(name), str(path.relative_to(root))))
        elif path.is_file() and path.suffix == ".py":
            out.append((path.stem, str(path.relative_to(root))))
    return sorted(set(out))


def ensure_tool(env: CellEnv, log) -> str:
    """coverage.py in the env's `tfpin-coverage/` (installed once per env: a rebuilt env starts without it); its
    version."""
    target = env.path / TOOL_DIR
    version = _version(target)
    if version is None:
        cmd = installer.install_into(installer.backend(), env.python, target, TOOL)
        env.run_installer(cmd, log, "install of %s (--coverage)" % TOOL)
        version = _version(target)
        if version is None:
            raise InstallError("the install of %s into %s left no coverage package" % (TOOL, target))
    sites = sorted(env.path.glob("lib/python*/site-packages"))
    for site in sites:
        if not (site / HOOK.name).is_file() or (site / HOOK.name).read_text() != HOOK.read_text():
            write_atomic(site / HOOK.name, HOOK.read_text())
        if not (site / "_tfpin_coverage.pth").is_file():
            write_atomic(site / "_tfpin_coverage.pth", "import _tfpin_coverage\n")
    log("== --coverage: coverage %s from %s, started in every process by %s" % (
        version, target, ", ".join(str(site / "_tfpin_coverage.pth") for site in sites)))
    return version


def _version(target: Path) -> str | None:
    if not (target / "coverage" / "__init__.py").is_file():
        return None
    found = sorted(target.glob("coverage-*.dist-info"))
    return found[-1].name[len("coverage-"):-len(".dist-info")] if found else None


def suite_environ(suite_env: dict, env: CellEnv, ctx: Context, raw: Path) -> dict:
    """The suite's environment with coverage started in each of its processes, their data under `raw`."""
    names = [name for name, _ in packages(ctx.project)]
    raw.mkdir(parents=True, exist_ok=True)
    settings = raw / "coveragerc"
    settings.write_text("[run]\nparallel = True\ndata_file = %s\nsource_pkgs = %s\ndisable_warnings = %s\n" % (
        raw / ".coverage", ", ".join(names) or "__no_package__", QUIET))
    return dict(suite_env, COVERAGE_PROCESS_START=str(settings), **{TOOL_VARIABLE: str(env.path / TOOL_DIR)})


def project_path(measured: str, own: list[tuple[str, str]], root: Path) -> str | None:
    """A file coverage measured in a cell, as its path in the project tree: by the package it belongs to, so that
    `.../python3.6/site-packages/pkg/x.py`, `.../python3.7/site-packages/pkg/x.py` and `<root>/pkg/x.py` are all
    `pkg/x.py`; None for a file of no package of the project's, or one the tree does not have."""
    text = measured.replace("\\", "/")
    for name, where in own:
        tail = name.replace(".", "/")
        if where.endswith(".py"):
            found = where if text.endswith("/" + tail + ".py") else None
        else:
            at = text.rfind("/" + tail + "/")
            found = where + "/" + text[at + len(tail) + 2:] if at >= 0 else None
        if found is not None and (root / found).is_file():
            return found
    return None


def collect(ctx: Context, cell_id: str, raw: Path, version: str) -> dict:
    """Every process's data of one cell, as one data file of the cell's evidence keyed by project paths; the
    record the cell's result keeps of it."""
    from coverage import CoverageData

    own = packages(ctx.project)
    lines: dict[str, set] = {}
    processes = sorted(raw.glob(".coverage.*"))
    for path in processes:
        data = CoverageData(basename=str(path))
        data.read()
        for measured in data.measured_files():
            name = project_path(measured, own, ctx.project.root)
            if name is not None:
                lines.setdefault(name, set()).update(data.lines(measured) or ())
    kept = ctx.layout.evidence("coverage", cell_id)
    kept.parent.mkdir(parents=True, exist_ok=True)
    if kept.exists():
        kept.unlink()
    out = CoverageData(basename=str(kept))
    out.add_lines({name: sorted(found) for name, found in sorted(lines.items())})
    out.write()
    return {"data": rel(kept, ctx), "tool": "coverage " + version, "processes": len(processes),
            "files": len(lines), "packages": [name for name, _ in own]}


def measured_lines(path: Path) -> dict[str, set]:
    """{project path: lines run} of a cell's kept data file (collect's), read with coverage's own API."""
    from coverage import CoverageData

    data = CoverageData(basename=str(path))
    data.read()
    return {name: set(data.lines(name) or ()) for name in data.measured_files()}
