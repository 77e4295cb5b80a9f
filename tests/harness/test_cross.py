"""Cross-cell verdicts on the host: what the readers' records become in matrix.json and matrix.md.

The inputs are what the in-cell plugin writes (cellplugin/tfpin_cross.py: one row per reader test and
writer cell), written out by hand for two cells; the expected numbers are worked out here from them.
The real runs are tests/harness/test_cross_api.py (a user's TF-free project) and `nox -s matrix`
(this repository's checkpoints and h5 files in real TF cells).
"""
import json

from tfpin.cross import run as cross
from tfpin.cross import verdicts as crossverdicts
from tfpin.report import crossview as crossview
from tfpin.report import html

A, B = "py3.6-tf1.12-keras2.2.4", "py3.7-tf1.15-keras2.2.5"
CKPT = "tests/test_x.py::test_restores"


def row(source, outcome="passed", error="", **values):
    return {"test": "%s[from:%s]" % (CKPT, source), "reader": CKPT, "reads": ["checkpoint"], "from": source,
            "outcome": outcome, "error": error, "values": values}


def inputs():
    written = {A: {"checkpoint": {"series": {"loss": [2.0, 1.5, 1.0]}}},
               B: {"checkpoint": {"series": {"loss": [2.0, 1.5004, 1.1]}}}}
    reads = {
        A: ({"exitstatus": 0, "rows": [row(A, max_abs_diff=0.0, logits=[[1.0, 2.0], [3.0, 4.0]]),
                                       row(B, max_abs_diff=0.0, logits=[[0.0, 0.0], [0.0, 0.0]])]}, ""),
        B: ({"exitstatus": 1, "rows": [row(A, max_abs_diff=0.5, logits=[[1.0, 2.5], [3.0, 4.0]]),
                                       row(B, "failed", "NotFoundError: Key resnet/x not found")]}, ""),
    }
    return written, reads


def test_every_ordered_pair_is_listed_with_what_it_recorded_or_its_error():
    out = crossverdicts.summarize(*inputs())
    pairs = {(p["from"], p["to"]): p for p in out["pairs"]}
    assert sorted(pairs) == [(A, A), (A, B), (B, A), (B, B)]
    assert pairs[A, B]["outcome"] == "passed" and pairs[A, B]["values"]["max_abs_diff"] == 0.5
    assert pairs[B, B]["outcome"] == "failed" and pairs[B, B]["error"] == "NotFoundError: Key resnet/x not found"
    assert out["readers"] == [{"reader": CKPT, "reads": ["checkpoint"], "pairs": 4, "passed": 3, "not_written": 0}]
    assert out["errors"] == []  # a pair that fails is a finding about the versions


def test_drift_compares_the_same_writer_read_in_two_cells_and_the_writers_series():
    out = crossverdicts.summarize(*inputs())
    # A's checkpoint gave [[1, 2], [3, 4]] read in A and [[1, 2.5], [3, 4]] in B: 0.5 apart; B's was read only in A.
    assert out["drift"] == [{"reader": CKPT, "key": "logits", "a": A, "b": B, "max_abs_diff": 0.5,
                             "writers_compared": 1}]
    (losses,) = out["series_drift"]
    assert losses["series"] == "checkpoint/loss" and abs(losses["max_abs_diff"] - 0.1) < 1e-12
    assert losses["first_step_over"] == 3  # step 2 differs by 4e-4, under the 1e-3 threshold


def test_a_reading_cell_whose_pytest_crashed_is_an_error_naming_it():
    written, reads = inputs()
    reads[B] = (None, B + ": the readers' pytest exited 3: Fatal Python error")
    out = crossverdicts.summarize(written, reads)
    assert out["errors"] == [reads[B][1]] and {p["to"] for p in out["pairs"]} == {A}
    text = "\n".join(crossview.markdown(out))
    assert "- error: %s" % reads[B][1].replace("_", "\\_") in text


def test_markdown_shows_one_grid_per_reader_and_the_failures():
    text = "\n".join(crossview.markdown(crossverdicts.summarize(*inputs())))
    assert "| c1 | 0.0e+00 | 5.0e-01 |" in text and "| c2 | 0.0e+00 | ✗ |" in text
    assert "%s → %s: NotFoundError: Key resnet/x not found" % (B, B) in text
    assert "| `%s` | logits | 5.0e-01 | c1, c2 |" % CKPT in text


def test_filtered_runs_are_skipped_with_the_reason():
    assert "filtered run" in cross.skip_reason(["-k", "x"]) and cross.skip_reason(None) == ""


def test_a_series_or_a_value_that_turns_nan_is_a_finding_never_a_drift_of_zero():
    """NaN compares false with everything: a loss that went NaN at step 2 used to be reported as `0.0e+00, never`."""
    written, reads = inputs()
    written[B]["checkpoint"]["series"]["loss"] = [2.0, float("nan"), float("inf")]
    reads[A][0]["rows"][0]["values"]["logits"] = [[float("nan"), 2.0], [3.0, 4.0]]  # A's logits read in A
    out = crossverdicts.summarize(written, reads)
    (losses,) = out["series_drift"]
    assert losses["first_step_over"] == 2 and losses["diverged"] == {B: 2} and losses["max_abs_diff"] == 0.0
    assert out["diverged"] == [{"series": "checkpoint/loss", "cell": B, "step": 2, "value": "nan"}]
    (logits,) = out["drift"]
    assert logits["non_finite"] == ["%s read in %s" % (A, A)] and logits["max_abs_diff"] is None
    text = json.dumps(out, allow_nan=False)  # strict JSON: NaN and infinity are null, said in `diverged`
    assert json.loads(text)["curves"]["checkpoint/loss"][B] == [2.0, None, None]
    md = "\n".join(crossview.markdown(out))
    assert "| c1, c2 | 0.0e+00 | 2 (c2 diverged at step 2) |" in md and "- c2 diverged at step 2 (nan)" in md
    assert "NaN/inf: %s read in %s" % (A, A) in md.replace("\\", "")
    page = "\n".join(html._heatmaps(out))
    assert "2 (%s diverged at step 2)" % B in page and "NaN/inf: " in page and "0.0e+00</td><td>never" not in page
