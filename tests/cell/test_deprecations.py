"""A short run of the whole stack (train with towers/EMA/clip/metrics/checkpoint eval for each model
API -- graph, keras, tf.keras -- then the bench's own pieces: cached input, trace, kernel check) emits
no TensorFlow deprecation notice from our own code, on every cell. A positive control (a deprecated
call made on purpose, last) must be the one notice of ours found: a capture that sees nothing fails.

Mechanics this test depends on (shared notes, "Deprecation mechanics"):
* TF logs notices through the `tensorflow` logger as "From <file>:<line>: ...", naming the frame
  that *called* the deprecated symbol, so a notice is ours iff that file is one of our sources.
* 1.14/1.15 "The name tf.X is deprecated" notices are suppressed for '<string>' frames, so the run
  is a script FILE (scripts/stack_run.py) in a fresh process, never `python -c`; background.py
  runs it on the idle core while the rest of the suite runs.
* Every notice prints once per process.  The run is a fresh process and our code makes the first
  calls, so a TF-internal use of a symbol cannot hide a later use of the same symbol by us —
  except for the internal notices below, which fire from TF's own frames on our behalf.
"""
import json
import os
import re

import background

from resnet_core.train import available_apis

REPO = os.path.realpath(background.REPO)
SCRIPT = os.path.join(background.SCRIPTS, "stack_run.py")
# Our sources; not "anything under REPO": the harness may keep cell envs (site-packages) inside it.
OURS = tuple(os.path.join(REPO, d) + os.sep for d in ("compat", "resnet_core", "tests"))

# Internal notices we cannot avoid without giving up the feature; substring -> why it happens.
ALLOWED_INTERNAL = {
    "colocate_with (from tensorflow.python.framework.ops)":
        "1.13: op_def_library colocates on the first variable creation, whatever API creates it",
    "to_int32 (from tensorflow.python.ops.math_ops)":
        "1.13: math_ops.reduced_shape, used by the gradient of every reduce_mean/reduce_sum",
    "to_float (from tensorflow.python.ops.math_ops)":
        "1.13: metrics_impl (tf.metrics.accuracy) casts with to_float internally",
    "checkpoint_exists (from tensorflow.python.training.checkpoint_management)":
        "1.13/1.14: Saver.restore checks the checkpoint with the deprecated helper",
    "Variable.initialized_value (from tensorflow.python.ops.variables)":
        "1.14+: ExponentialMovingAverage.apply initialises each shadow with var.initialized_value()",
    "where (from tensorflow.python.ops.array_ops)":
        "1.15: data/util/random_seed.py uses tf.where for any seeded Dataset.shuffle",
    "add_dispatch_support.<locals>.wrapper (from tensorflow.python.ops.array_ops)":
        "1.14: the same seeded-shuffle tf.where, reported under its dispatch wrapper's name",
    "calling VarianceScaling.__init__ (from tensorflow.python.ops.init_ops) with dtype":
        "1.14: GlorotUniform.__init__ (the dense kernel's Keras-default init) passes dtype to its base",
    "calling BaseResourceVariable.__init__ (from tensorflow.python.ops.resource_variable_ops) with constraint":
        "1.15: tf.keras add_weight creates its variables passing constraint=None",
    "disable_resource_variables (from tensorflow.python.ops.":
        "2.x: tf.compat.v1.disable_v2_behavior (compat calls it once) switches resource variables off through it "
        "(variable_scope on 2.0-2.15, resource_variables_toggle on 2.21)",
}
# Standalone Keras 2.2.4/2.2.5 calls the TF 1.x names itself (tf.Session, tf.get_default_graph, ...; it
# never uses tf.compat.v1), so 1.14/1.15 notice them from its own backend: a notice located in the keras
# package is Keras-internal by where it happens, whatever the name.
KERAS_PACKAGE = os.sep + "site-packages" + os.sep + "keras" + os.sep
CONTROL = ("stack_run.py", "Print (from tensorflow.python.ops.logging_ops) is deprecated")

background.start("stack_run.py")  # fresh process, runs on the idle core while other tests do
NOTICE = re.compile(r"^WARNING:tensorflow:(?:From (?P<file>.+?):(?P<line>\d+): )?(?P<message>.*deprecat.*)$",
                    re.IGNORECASE)


def notices(stderr):
    return [m.groupdict() for m in map(NOTICE.match, stderr.splitlines()) if m]


def is_ours(path):
    return os.path.realpath(path).startswith(OURS)


def test_no_deprecation_notices_from_our_code():
    run = background.result("stack_run.py")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["apis"] == available_apis() and all(summary["finite"]), summary
    assert summary["trace_bytes"] > 0
    found = notices(run.stderr)
    ours = [n for n in found if n["file"] and is_ours(n["file"])]
    control = [n for n in ours if n["file"].endswith(CONTROL[0]) and CONTROL[1] in n["message"]]
    assert len(control) == 1, "the positive control's notice was not captured; the census is blind:\n%s" % (
        run.stderr[-2000:])
    ours.remove(control[0])
    assert not ours, "deprecated TF API used by our code:\n%s" % "\n".join(
        "%(file)s:%(line)s: %(message)s" % n for n in ours)
    unexplained = [n for n in found if n not in ours and n is not control[0]
                   and not (n["file"] and KERAS_PACKAGE in n["file"])
                   and not any(k in n["message"] for k in ALLOWED_INTERNAL)]
    assert not unexplained, "new internal notice; explain it in ALLOWED_INTERNAL or avoid it:\n%s" % "\n".join(
        "%(file)s:%(line)s: %(message)s" % n for n in unexplained)


def test_notice_parser_attributes_the_calling_file():
    """The parser above is the instrument; check it on the exact formats TF prints."""
    stderr = "\n".join([
        "WARNING:tensorflow:From /r/resnet_core/x.py:3: The name tf.Session is deprecated. Please use "
        "tf.compat.v1.Session instead.",
        "WARNING:tensorflow:From /site/tf/ops.py:9: to_float (from tensorflow.python.ops.math_ops) is deprecated "
        "and will be removed in a future version.",
        "Instructions for updating:",
        "WARNING:tensorflow:something unrelated",
    ])
    assert [(n["file"], n["line"]) for n in notices(stderr)] == [("/r/resnet_core/x.py", "3"), ("/site/tf/ops.py", "9")]
    assert is_ours(os.path.join(REPO, "resnet_core", "train.py")) and is_ours(SCRIPT)
    assert not is_ours(os.path.join(REPO, ".tfpin", "envs", "x", "site-packages", "tensorflow", "ops.py"))
