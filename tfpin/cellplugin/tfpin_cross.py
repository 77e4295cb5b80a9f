"""pytest plugin tfpin loads into every cell run (`-p tfpin_cross`): the API for checks *between* cells.

A test writes a named artifact in the cell it runs in, and may keep JSON values beside it:

    def test_writes_a_checkpoint(tfpin_artifact):
        directory = tfpin_artifact("checkpoint", logits=logits.tolist())
        saver.save(sess, os.path.join(directory, "model.ckpt"))
        tfpin_artifact.meta("checkpoint", series={"loss": losses})   # values known later; series: curves

A test reads an artifact as every cell wrote it:

    @pytest.mark.tfpin_reads("checkpoint")
    def test_checkpoint_restores(tfpin_source):
        saver.restore(sess, os.path.join(tfpin_source.path, "model.ckpt"))   # tfpin_source.cell: who wrote it
        tfpin_source.record(max_abs_diff=float(abs(got - tfpin_source.meta["logits"]).max()))

Writers are ordinary tests of the cell's suite; their directories are part of the cell's evidence
(reports/artifacts/<cell>/<name>/). Readers are not part of a cell's own verdict: in the suite they are
deselected. After every cell ran, tfpin runs the readers in each passed cell with `tfpin_source`
parametrised over every passed cell that wrote the artifact (test ids end in the writer's cell id),
so each (writer, reader) pair is its own test with its own error; what each pair recorded goes to
the report. Outside tfpin, `tfpin_artifact` gives a temporary directory and readers are deselected.
Runs on Python 3.6+.
"""
import json
import os

import pytest
import tfpin_vars  # beside this file

META = "tfpin-meta.json"  # the values a writer kept beside its artifact (readers get them as .meta)
_records = {}  # nodeid -> values a reader recorded
_outcomes = {}


def _cross():
    """The cross phase's plan ({"sources": [{"cell", "path"}], "records": path}), or None in a cell's own run."""
    path = os.environ.get(tfpin_vars.CROSS)
    if not path:
        return None
    with open(path) as f:
        return json.load(f)


def pytest_configure(config):
    config.addinivalue_line("markers", "tfpin_reads(*names): reads artifacts other cells wrote (run by tfpin "
                                       "between cells, with the tfpin_source fixture)")
    config._tfpin_cross = _cross()


def _reads(item):
    marker = item.get_closest_marker("tfpin_reads")
    return list(marker.args) if marker is not None else []


def _is_reader(item):
    return bool(_reads(item)) or "tfpin_source" in getattr(item, "fixturenames", ())


def pytest_generate_tests(metafunc):
    plan = getattr(metafunc.config, "_tfpin_cross", None)
    if plan is not None and "tfpin_source" in metafunc.fixturenames:
        sources = plan["sources"]
        metafunc.parametrize("tfpin_source", sources, ids=["from:" + s["cell"] for s in sources], indirect=True)


def pytest_collection_modifyitems(session, config, items):
    cross = getattr(config, "_tfpin_cross", None) is not None
    keep = [item for item in items if _is_reader(item) == cross]
    drop = [item for item in items if _is_reader(item) != cross]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class Source(object):
    """One cell's artifact as a reader sees it: who wrote it, where, the values the writer kept."""

    def __init__(self, cell, root, names, nodeid):
        self.cell, self.root, self.names, self._nodeid = cell, root, names, nodeid
        self.path = os.path.join(root, names[0]) if names else root
        self.meta = _load_meta(self.path) if names else {}

    def path_of(self, name):
        return os.path.join(self.root, _plain(name))

    def meta_of(self, name):
        return _load_meta(self.path_of(name))

    def record(self, **values):
        """JSON values this pair measured (a difference, logits): shown in the report's grid for the pair."""
        _records.setdefault(self._nodeid, {}).update(values)


def _load_meta(path):
    try:
        with open(os.path.join(path, META)) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return {}


@pytest.fixture
def tfpin_source(request):
    plan = getattr(request.config, "_tfpin_cross", None)
    if plan is None or not hasattr(request, "param"):
        pytest.skip("reads artifacts of other cells: tfpin runs it between cells")
    names = _reads(request.node)
    source = Source(request.param["cell"], request.param["path"], names, request.node.nodeid)
    missing = [n for n in names if not os.path.isdir(source.path_of(n))]
    if missing:
        pytest.skip("cell %s wrote no artifact %s" % (source.cell, ", ".join(repr(n) for n in missing)))
    before = _files(source.root)
    yield source
    after = _files(source.root)
    changed = sorted(set(before) ^ set(after)) + sorted(p for p in before if p in after and before[p] != after[p])
    if changed:  # the reader's own copy took it (tfpin gives each reading cell one): fail the reader, naming it
        raise AssertionError("this reader wrote into what %s wrote (a reader may only read it): %s"
                             % (source.cell, ", ".join(changed[:5])))


def _files(root):
    """{relative path: (size, mtime)} of every file under root: what a reader must leave as it found it."""
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def _plain(name):
    """An artifact name is one plain path component: nothing a writer names can land outside its cell's directory."""
    if not isinstance(name, str) or not name or "/" in name or os.sep in name or name.startswith(".") or "\x00" in name:
        raise ValueError("an artifact name is one plain path component, got %r" % (name,))
    return name


class Artifacts(object):
    """`tfpin_artifact(name, **meta)`: a new, empty directory for the artifact `name` of this cell, with JSON
    values kept beside it; `.meta(name, **values)` adds values once they are known (a loss curve)."""

    def __init__(self, root):
        self.root = root

    def __call__(self, name, **meta):
        path = os.path.join(self.root(), _plain(name))
        if os.path.isdir(path):
            raise ValueError("artifact %r was already written in this cell (by another test?)" % name)
        os.makedirs(path)
        self._write(path, meta)
        return path

    def meta(self, name, **values):
        path = os.path.join(self.root(), _plain(name))
        if not os.path.isdir(path):
            raise ValueError("no artifact %r written in this cell yet" % name)
        self._write(path, dict(_load_meta(path), **values))

    @staticmethod
    def _write(path, meta):
        series = meta.get("series", {})
        if not isinstance(series, dict) or not all(isinstance(k, str) and isinstance(v, (list, tuple))
                                                   for k, v in series.items()):
            raise ValueError("series must be a dict of name -> list of numbers, e.g. series={'loss': losses}; got %r"
                             % (series,))
        with open(os.path.join(path, META), "w") as f:
            json.dump(meta, f, sort_keys=True)


@pytest.fixture(scope="session")
def tfpin_artifact(tmp_path_factory):
    """Outside tfpin ($TFPIN_ARTIFACTS unset) the artifacts go to a temporary directory of the session."""
    where = []

    def root():
        if not where:
            where.append(os.environ.get(tfpin_vars.ARTIFACTS) or str(tmp_path_factory.mktemp("tfpin-artifacts")))
        return where[0]

    return Artifacts(root)


def _first_error(report):
    text = getattr(report, "longreprtext", "") or ""
    for line in text.splitlines():
        if line.startswith("E "):
            return line[1:].strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def pytest_runtest_logreport(report):
    plan_said = _outcomes.setdefault(report.nodeid, {})
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if "outcome" in plan_said:
            return
        outcome = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
        plan_said["outcome"] = outcome
        if outcome == "skipped":
            longrepr = report.longrepr
            plan_said["error"] = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        elif outcome != "passed":
            plan_said["error"] = _first_error(report)
    elif report.when == "teardown" and report.outcome == "failed" and plan_said.get("outcome") == "passed":
        plan_said.update(outcome="error", error=_first_error(report))


def pytest_sessionfinish(session, exitstatus):
    plan = getattr(session.config, "_tfpin_cross", None)
    if plan is None:
        return
    rows = []
    for item in session.items:
        said = _outcomes.get(item.nodeid, {})
        source = item.callspec.params.get("tfpin_source", {}) if hasattr(item, "callspec") else {}
        rows.append({"test": item.nodeid, "reader": _reader_id(item, source.get("cell")), "reads": _reads(item),
                     "from": source.get("cell"), "outcome": said.get("outcome", "not run"),
                     "error": said.get("error", ""), "values": _records.get(item.nodeid, {})})
    tmp = plan["records"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"exitstatus": int(exitstatus), "rows": rows}, f)
    os.replace(tmp, plan["records"])


def _reader_id(item, cell):
    """The test's id without the source cell: one reader, across every cell it read."""
    nodeid = item.nodeid
    if cell:
        for joined in ("-from:" + cell, "from:" + cell + "-", "from:" + cell):
            if joined in nodeid:
                nodeid = nodeid.replace(joined, "", 1)
                break
    return nodeid.replace("[]", "")
