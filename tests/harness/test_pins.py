"""`tfpin pins discover` on a real TF-free project: a dependency whose newer releases break the suite.

The cell pins packaging 20.9 (January 2021); its dependency pyparsing removed `operatorPrecedence`
in 3.0.0 (October 2021). Nothing here knows that: discovery must find the bound by resolving the
cell as of its era, raising pyparsing and bisecting, with real uv and real pytest runs, then
`--apply` must make a plain `tfpin matrix` of the same project pass. A second cell asks for
TensorFlow 1.12.3 on Python 3.7, which has no such wheel: discovery must call it unavailable
(nothing to search, nothing wrong) while the first cell is searched alongside it (-j 2).
"""
import json
import textwrap

import pytest
from faultkit import PYTHONS, harness_env, tfpin

from tfpin.pins import proposal as pinproposal

MATRIX = """
description = "one cell whose dependency broke later"

[[cells]]
python = "3.7"
packaging = "20.9"

[[cells]]
python = "3.7"
tensorflow = "1.12.3"

[packages.packaging]
label = "packaging"
id_parts = 3

[packages.tensorflow]
label = "tf"
id_parts = 2
""" + PYTHONS
SUITE = '''
import pyparsing


def test_the_old_grammar_api_is_there():
    assert hasattr(pyparsing, "operatorPrecedence"), "pyparsing %s has no operatorPrecedence" % pyparsing.__version__


def test_packaging_is_the_pinned_release():
    import packaging
    assert packaging.__version__ == "20.9"
'''
CELL = "py3.7-packaging20.9"
NO_WHEEL = "py3.7-tf1.12"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinproject")
    (root / "tests").mkdir()
    (root / "tests" / "test_grammar.py").write_text(textwrap.dedent(SUITE))
    (root / "m.toml").write_text(textwrap.dedent(MATRIX))
    (root / "tfpin.toml").write_text('matrix = "m.toml"\ntest = ["tests"]\ntimeout = 120\n')
    return root


def test_without_the_pin_the_cell_fails(project):
    out = tfpin(project, "matrix", env=harness_env())
    assert out.returncode == 1
    result = json.loads((project / "reports" / "cells" / (CELL + ".json")).read_text())
    assert result["status"] == "failed" and "has no operatorPrecedence" in result["reason"]


def test_discovery_finds_the_bound_and_apply_makes_the_cell_pass(project):
    out = tfpin(project, "pins", "discover", "-j", "2", "--apply", env=harness_env(), timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    none = json.loads((project / "reports" / "pins" / (NO_WHEEL + ".json")).read_text())
    assert none["problem"] == "" and none["pins"] == [] and none["env_builds"] == 0
    assert "tensorflow==1.12.3 has no wheels with a matching Python ABI tag" in none["unavailable"]
    assert "%s| " % CELL in out.stdout  # parallel searches say whose line each is
    found = json.loads((project / "reports" / "pins" / (CELL + ".json")).read_text())
    assert found["problem"] == "" and found["era"] == "2021-01-30"
    (pin,) = found["pins"]
    assert pin["pin"] == "pyparsing<3.0.0" and pin["last_good"].startswith("2.") and pin["first_bad"] == "3.0.0"
    assert "has no operatorPrecedence" in pin["reason"]
    labels = [t["label"] for t in found["trials"]]
    assert labels[0] == "baseline" and labels[-1] == "confirm with the full suite"
    measured = [t for t in found["trials"] if "reused_from" not in t]
    assert found["env_builds"] == len(measured) and all(t["seconds"] > 0 for t in measured)
    _reused_trials_agree_with_their_twins(found["trials"])
    assert "pyparsing<3.0.0" in (project / "reports" / "pins" / (CELL + ".toml")).read_text()
    # Again, with the pin applied as a hint: identical trials are answered from reports/pins/trials.json.
    again = tfpin(project, "pins", "discover", env=harness_env(), timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    second = json.loads((project / "reports" / "pins" / (CELL + ".json")).read_text())
    assert [p["pin"] for p in second["pins"]] == ["pyparsing<3.0.0"]
    assert second["trials_reused"] > 0 and second["env_builds"] < found["env_builds"]
    assert "re-used: an identical trial of %s" % CELL in again.stdout
    _reused_trials_agree_with_their_twins(found["trials"] + second["trials"])
    applied = (project / "m.toml").read_text()
    assert 'pin = "pyparsing<3.0.0"' in applied and 'origin = "discovered"' in applied
    out = tfpin(project, "matrix", env=harness_env())
    assert out.returncode == 0, out.stdout[-2000:]
    report = json.loads((project / "reports" / "matrix-m.json").read_text())
    assert "pyparsing==2." in (project / "reports" / "locks" / (CELL + ".txt")).read_text()
    assert report["recommendation"]["constraints"] == ["packaging==20.9", "pyparsing<3.0.0"]
    # Measured where a search ran, and in force (no `when`) on every cell, the one without a wheel too.
    assert report["pins"] == [{"pin": "pyparsing<3.0.0", "reason": pin["reason"], "origin": "discovered",
                               "cells": [CELL, NO_WHEEL]}]
    # With the stored trials damaged (each entry a list, not a record: never trusted, as if forgotten), the search
    # runs again, but its confirmation is that matrix run: it passed the whole suite with exactly the final set, of
    # these sources, so the suite does not run a second time.
    store = project / "reports" / "pins" / "trials.json"
    stored = json.loads(store.read_text())
    store.write_text(json.dumps({key: [entry["verdict"]] for key, entry in stored.items()}))
    third = tfpin(project, "pins", "discover", env=harness_env(), timeout=900)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-2000:]
    confirm = json.loads((project / "reports" / "pins" / (CELL + ".json")).read_text())["trials"][-1]
    assert confirm["label"] == "confirm with the full suite" and confirm["verdict"] == "pass"
    assert confirm["reused_from"].startswith("the matrix run finished ") and confirm["seconds"] == 0.0
    lock = (project / "reports" / "locks" / (CELL + ".txt")).read_text()
    assert all("%s==%s" % kv in lock for kv in confirm["versions"].items())


def _reused_trials_agree_with_their_twins(trials):
    """A re-used trial says what the measured trial of the same set said (this project has no `smoke`: its oracle
    is its full suite, so the confirmation of a set measured before is re-used too)."""
    measured = {}
    for t in trials:
        key = json.dumps(t["versions"], sort_keys=True)
        if "reused_from" in t:
            assert t["seconds"] == 0.0 and t["verdict"] == measured[key], t
        else:
            measured.setdefault(key, t["verdict"])


def test_apply_merges_stored_results_and_refuses_stale_ones(project):
    """`pins apply` (CI fan-out: one job per cell discovers, one applies) re-reads reports/pins/; a result
    made for another definition (here: another cheap oracle) is refused by name, and nothing is written."""
    before = (project / "m.toml").read_text()
    out = tfpin(project, "pins", "apply", env=harness_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    after = (project / "m.toml").read_text()
    assert after.count('pin = "pyparsing<3.0.0"') == 1 and after == before  # the same pins again: replaced, not added
    config = project / "tfpin.toml"
    config.write_text(config.read_text() + 'smoke = ["tests/test_grammar.py"]\n')
    out = tfpin(project, "pins", "apply", env=harness_env())
    assert out.returncode == 2
    assert "%s: " % CELL in out.stderr and "differs in: oracle" in out.stderr
    assert "tfpin pins discover --cells %s" % CELL in out.stderr
    assert (project / "m.toml").read_text() == before


def test_a_known_pin_is_a_hint_rechecked_in_one_trial(project):
    """After --apply the matrix carries pyparsing<3.0.0: the next search starts from it and re-measures the
    bound by installing 3.0.0 alone, instead of raising and halving groups again."""
    out = tfpin(project, "pins", "discover", "--cells", CELL, env=harness_env(), timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    found = json.loads((project / "reports" / "pins" / (CELL + ".json")).read_text())
    assert "pyparsing<3.0.0" in found["hints"]
    labels = [t["label"] for t in found["trials"]]
    assert labels[:2] == ["baseline", "newest under the hints"]
    assert labels[2].startswith("pyparsing 2.") and labels[2].endswith("-> 3.0.0 (above the hint pyparsing<3.0.0)")
    assert found["trials"][2]["verdict"] == "fail" and labels[-1] == "confirm with the full suite"
    assert len(labels) == 4, labels
    (pin,) = found["pins"]
    assert pin["pin"] == "pyparsing<3.0.0" and "has no operatorPrecedence" in pin["reason"]


def test_a_stale_hint_is_searched_past(project):
    """A pin tighter than needed (pyparsing<2.3, a person's old guess) is not kept: 2.3.0 passes, so the
    search goes on upward and ends at the measured bound."""
    stale = (project / "m.toml").read_text().replace('pin = "pyparsing<3.0.0"', 'pin = "pyparsing<2.3"')
    (project / "stale.toml").write_text(stale)
    out = tfpin(project, "pins", "discover", "--matrix", "stale.toml", "--cells", CELL, env=harness_env(),
                timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    found = json.loads((project / "reports" / "pins" / (CELL + ".json")).read_text())
    checks = [t for t in found["trials"] if "above the hint pyparsing<2.3" in t["label"]]
    assert [t["verdict"] for t in checks] == ["pass"] and checks[0]["versions"]["pyparsing"] == "2.3.0"
    (pin,) = found["pins"]
    assert pin["pin"] == "pyparsing<3.0.0" and pin["first_bad"] == "3.0.0"


def _result(cell, python, tf, pins):
    return {"cell": cell, "python": python, "requirements": {"tensorflow": tf}, "problem": "", "unavailable": "",
            "pins": [{"pin": p, "reason": "%s: measured" % p} for p in pins]}


def test_proposals_use_the_one_condition_that_selects_exactly_the_cells_that_need_them():
    results = [_result("a6", "3.6", "1.12.3", ["h5py<3", "yaml<6"]), _result("a7", "3.7", "1.12.3", ["h5py<3",
               "yaml<6", "protobuf<4"]), _result("b6", "3.6", "1.15.5", ["yaml<6"]),
               _result("b7", "3.7", "1.15.5", ["yaml<6", "protobuf<4", "odd<1"]),
               _result("m6", "3.6", "1.13.2", ["h5py<3", "yaml<6"]),
               {**_result("c7", "3.7", "1.11.0", []), "unavailable": "no wheel"}]
    entries = {e["pin"]: e for e in pinproposal.constraint_blocks(results, None)}
    assert "when" not in entries["yaml<6"]  # every searched cell (the unavailable one was not searched)
    assert entries["protobuf<4"]["when"] == {"python": "==3.7"} and entries["protobuf<4"]["cells"] == ["a7", "b7"]
    assert entries["h5py<3"]["when"] == {"tensorflow": "<1.15.5"}  # below the first release measured without it
    assert entries["odd<1"]["when"] == {"python": "==3.7", "tensorflow": "==1.15.5"}  # one cell: spelled out
