"""Cross-cell verdicts on the host: what the pairs become in matrix.json and matrix.md.

The inputs are what the cells print (resnet_core.artifacts read, resnet_core.naive_tf1), written out by
hand for two cells; the expected numbers are worked out here from those inputs.  The real artifacts,
in real TF cells, are made and read by `nox -s matrix` (README, "Between cells").
"""
import pytest

from tfpin import cross

A, B = "py3.6-tf1.12-keras2.2.4", "py3.7-tf1.15-keras2.2.5"
LOGITS_A = [[1.0, 2.0], [3.0, 4.0]]


def manifest(losses):
    return {"losses": losses, "h5": {}}


def restored(logits, diff):
    return {"checkpoint": {"restored": True, "logits": logits, "max_abs_logit_diff": diff}, "h5": []}


def inputs():
    written = {A: manifest([2.0, 1.5, 1.0]), B: manifest([2.0, 1.5004, 1.1])}
    reads = {
        A: ({A: restored(LOGITS_A, 0.0), B: restored([[0.0, 0.0], [0.0, 0.0]], 0.0)}, ""),
        B: ({A: restored([[1.0, 2.5], [3.0, 4.0]], 0.5),
             B: {"checkpoint": {"restored": False, "reason": "NotFoundError: Key resnet/x not found"},
                 "h5": [{"written_by": "tf.keras", "loaded_by": "keras", "loaded": False,
                         "reason": "TypeError: unexpected keyword argument 'ragged'"}]}}, ""),
    }
    census = {A: ({"notices": []}, ""), B: ({"notices": ["The name tf.Session is deprecated."]}, "")}
    return written, reads, census


def test_every_ordered_pair_is_listed_with_its_difference_or_reason():
    out = cross.summarize(*inputs(), failures={})
    pairs = {(p["from"], p["to"]): p for p in out["checkpoints"]}
    assert sorted(pairs) == [(A, A), (A, B), (B, A), (B, B)]
    assert pairs[A, B]["restored"] and pairs[A, B]["max_abs_logit_diff"] == 0.5
    assert not pairs[B, B]["restored"] and pairs[B, B]["reason"] == "NotFoundError: Key resnet/x not found"
    assert out["h5"] == [{"from": B, "to": B, "written_by": "tf.keras", "loaded_by": "keras", "loaded": False,
                          "max_abs_logit_diff": None, "reason": "TypeError: unexpected keyword argument 'ragged'"}]


def test_drift_compares_the_same_weights_and_the_same_seed():
    out = cross.summarize(*inputs(), failures={})
    # A's weights gave LOGITS_A in A and [[1, 2.5], [3, 4]] in B: 0.5 apart; B's weights restored only in A.
    assert out["logits"] == [{"a": A, "b": B, "max_abs_logit_diff": 0.5, "weights_compared": 1}]
    (losses,) = out["losses"]
    assert abs(losses["max_abs_diff"] - 0.1) < 1e-12
    assert losses["first_step_over"] == 3  # step 2 differs by 4e-4, under the 1e-3 threshold
    assert out["deprecations"] == {A: {"count": 0, "notices": [], "breaks": None},
                                   B: {"count": 1, "notices": ["The name tf.Session is deprecated."], "breaks": None}}


def test_naive_code_that_does_not_run_is_a_finding_not_an_error():
    """On TF 2.x the naive TF1 step stops at `tf.set_random_seed`: the census says so; the run has no error."""
    written, reads, census = inputs()
    stopped = "AttributeError: module 'tensorflow' has no attribute 'set_random_seed'"
    census[B] = ({"notices": [], "breaks": stopped}, "")
    out = cross.summarize(written, reads, census, {})
    assert out["errors"] == [] and out["deprecations"][B]["breaks"] == stopped
    rows = "\n".join(cross.markdown(out))
    shown = stopped.replace("_", "\\_")  # free text in matrix.md: `_` backslash-escaped, rendered as written
    assert "| `%s` | does not run: %s (0 notices before it stopped) |" % (B, shown) in rows


def test_a_target_whose_reader_failed_gives_its_reason_on_every_pair():
    written, reads, census = inputs()
    reads[B] = (None, B + ": reading artifacts exited 1: ImportError: no module named h5py")
    pairs = {(p["from"], p["to"]): p for p in cross.summarize(written, reads, census, {})["checkpoints"]}
    assert [pairs[s, B]["reason"] for s in (A, B)] == [reads[B][1]] * 2
    assert cross.summarize(written, reads, census, {})["errors"] == [reads[B][1]]  # the run fails, naming it


def test_markdown_shows_the_grid_and_the_failures():
    text = "\n".join(cross.markdown(cross.summarize(*inputs(), failures={})))
    assert "| c1 | 0.0e+00 | 5.0e-01 |" in text and "| c2 | 0.0e+00 | ✗ |" in text
    assert "%s → %s: NotFoundError" % (B, B) in text
    assert "| `%s` | 1 |" % B in text


def test_projects_without_cross_commands_and_filtered_runs_are_skipped_with_the_reason(tmp_path):
    from tfpin import project as projects

    (tmp_path / "tests").mkdir()
    (tmp_path / "tfpin.toml").write_text('test = ["tests"]\n')
    bare = projects.load_file(tmp_path / "tfpin.toml")
    assert "declares no cross-cell checks (key `cross`" in cross.skip_reason(bare, None)
    (tmp_path / "tfpin.toml").write_text('test = ["tests"]\ncross = { write = ["-m", "a", "w"], read = ["-m", "a"] }\n')
    declared = projects.load_file(tmp_path / "tfpin.toml")
    assert cross.skip_reason(declared, None) == "" and declared.cross["read"] == ["-m", "a"]
    assert "filtered run" in cross.skip_reason(declared, ["-k", "x"])
    (tmp_path / "tfpin.toml").write_text('test = ["tests"]\ncross = { write = ["-m", "a"] }\n')
    with pytest.raises(projects.ProjectError, match="key 'cross'.*read .gets every cell's directory"):
        projects.load_file(tmp_path / "tfpin.toml")
