"""The shim resolves one API on every cell, and the cell really is the cell it claims to be."""
import json

import background
import numpy as np
import pytest

import compat
from compat import table, tf1
from resnet_core import batchnorm

GRAPH_API = [
    "Session", "ConfigProto", "Graph", "GraphKeys", "placeholder", "placeholder_with_default", "get_variable",
    "variable_scope", "name_scope", "get_collection", "get_collection_ref", "add_to_collection",
    "global_variables_initializer", "local_variables_initializer", "trainable_variables", "global_variables",
    "get_default_graph", "reset_default_graph", "set_random_seed", "cond", "control_dependencies", "device",
    "train.Saver", "train.MomentumOptimizer", "train.GradientDescentOptimizer", "train.ExponentialMovingAverage",
    "train.get_or_create_global_step", "metrics.accuracy", "losses.sparse_softmax_cross_entropy",
    "summary.scalar", "summary.FileWriter", "layers.BatchNormalization", "nn.fused_batch_norm", "nn.moments",
    "nn.batch_normalization", "nn.batch_norm_with_global_normalization", "nn.max_pool",
    "variance_scaling_initializer", "glorot_uniform_initializer", "keras.layers.BatchNormalization", "data.Dataset",
]


@pytest.mark.parametrize("dotted", GRAPH_API)
def test_tf1_namespace_has_graph_api(dotted):
    obj = tf1
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        assert obj is not None, "tf1.%s missing on TensorFlow %d.%d" % ((dotted,) + compat.TF_VERSION)


@pytest.mark.parametrize("name", sorted(table.TABLE))
def test_every_version_table_row_resolves_on_this_cell(name):
    """A row that points to a moved or missing symbol would only fail when first used: resolve them all."""
    versions = [tuple(first) for first, _ in table.TABLE[name]]
    assert versions == sorted(set(versions)) and versions[0] == table.SUPPORTED[0], versions
    assert table.resolve(name) is not None


def test_migration_rows_are_named_on_the_cells_verdict(record_property):
    """The compat rows this cell needs beyond TF 1.x (none on 1.x): each resolves here, a Broken one says why,
    and the list goes on the cell's verdict (the migration report's "what needed a compat row")."""
    rows = table.rows_since((2, 0))
    for name, key in rows:
        value = table.resolve(name)
        assert value is not None and key == max(tuple(f) for f, _ in table.TABLE[name] if tuple(f) <= compat.TF_VERSION)
        if isinstance(value, table.Broken):
            assert compat.unavailable(name) == value.reason and value.reason
    if rows:
        broken = [name for name, _ in rows if isinstance(table.resolve(name), table.Broken)]
        record_property("tfpin_note", "compat rows for TF 2.x (%d): %s; of them cannot work here (tests skip): %s"
                        % (len(rows), ", ".join("%s (%d.%d)" % ((name,) + key) for name, key in rows),
                           ", ".join(broken) or "none"))


def test_tf1_graph_api_runs(graph, session):
    """The core graph API works end to end through tf1: a variable, a collection, a feed."""
    x = tf1.placeholder(tf1.float32, [None, 2])
    with tf1.variable_scope("s"):
        w = tf1.get_variable("w", [2], initializer=tf1.constant_initializer([2.0, 3.0]))
    tf1.add_to_collection("mine", w)
    y = tf1.reduce_sum(x * w, axis=1)
    session.run(tf1.global_variables_initializer())
    np.testing.assert_allclose(session.run(y, {x: [[1.0, 1.0], [0.5, 2.0]]}), [5.0, 7.0])
    assert tf1.get_collection("mine") == [w] and w.name == "s/w:0"


def test_autotune_drives_a_real_pipeline(graph, session):
    # A TF function, not a lambda: 1.15's AutoGraph would spend seconds converting a lambda.
    ds = tf1.data.Dataset.range(6).map(tf1.negative, num_parallel_calls=compat.AUTOTUNE).prefetch(compat.AUTOTUNE)
    nxt = compat.make_one_shot_iterator(ds).get_next()
    assert [session.run(nxt) for _ in range(6)] == [0, -1, -2, -3, -4, -5]
    with pytest.raises(tf1.errors.OutOfRangeError):
        session.run(nxt)


def test_initializable_iterator_reinitialises_with_new_feed(graph, session):
    limit = tf1.placeholder(tf1.int64, [])
    ds = tf1.data.Dataset.range(limit).batch(2)
    it = compat.make_initializable_iterator(ds)
    nxt = it.get_next()
    for n, expected in ((3, [[0, 1], [2]]), (4, [[0, 1], [2, 3]])):
        session.run(it.initializer, {limit: n})
        got = [session.run(nxt).tolist() for _ in expected]
        assert got == expected


def test_dataset_output_shapes(graph):
    ds = tf1.data.Dataset.from_tensor_slices(np.zeros((10, 3), np.float32)).batch(4)
    assert compat.dataset_output_shapes(ds).as_list() == [None, 3]


def test_moments_keepdims_both_ways(graph, session):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = tf1.constant(data)
    kept = compat.moments(x, [0, 1], keepdims=True)
    flat = compat.moments(x, [0, 1])
    (km, kv), (fm, fv) = session.run([kept, flat])
    assert km.shape == (1, 1, 4) and fm.shape == (4,)
    np.testing.assert_allclose(fm, data.mean(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(fv, data.var(axis=(0, 1)), rtol=1e-5)  # biased (/n), numpy's default
    np.testing.assert_allclose(km.ravel(), fm)


def test_session_config_fields():
    cfg = compat.session_config(threads=1, cpu_devices=3, soft_placement=False)
    assert (cfg.intra_op_parallelism_threads, cfg.inter_op_parallelism_threads) == (1, 1)
    assert dict(cfg.device_count) == {"CPU": 3} and cfg.allow_soft_placement is False
    assert len(compat.session_config().device_count) == 0


def test_cpu_device_count_gives_real_towers(graph):
    """With cpu_devices=2 an op pinned to the second virtual CPU really runs there."""
    devices = compat.tower_devices(2)
    if devices[0].startswith("/gpu"):
        pytest.skip("this cell has >= 2 GPUs: towers are GPUs, virtual CPU towers are not used")
    assert devices == ["/cpu:0", "/cpu:1"]
    x = tf1.placeholder(tf1.float32, [3])  # a feed keeps Grappler from constant-folding onto CPU:0
    outs = []
    for i, dev in enumerate(devices):
        with tf1.device(dev):
            outs.append(tf1.multiply(x, float(i + 2), name="tower%d_mul" % i))
    meta = tf1.RunMetadata()
    with tf1.Session(graph=graph, config=compat.session_config(threads=1, cpu_devices=2)) as sess:
        names = [d.name for d in sess.list_devices()]
        assert any(n.endswith("CPU:1") for n in names), names
        got = sess.run(outs, {x: [1.0, 2.0, 3.0]}, options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE),
                       run_metadata=meta)
    np.testing.assert_allclose(got, [[2, 4, 6], [3, 6, 9]])
    ran_on = {node.node_name: dev.device for dev in meta.step_stats.dev_stats for node in dev.node_stats}
    assert ran_on["tower1_mul"].endswith("CPU:1"), ran_on


def test_gpu_devices_agree_with_session(graph):
    with tf1.Session(graph=graph, config=compat.session_config(threads=1)) as sess:
        session_gpus = [d for d in sess.list_devices() if d.device_type == "GPU"]
    assert len(compat.gpu_devices()) == len(session_gpus)
    assert all(name.startswith("/gpu:") for name in compat.gpu_devices())


def test_tower_devices_rejects_zero():
    with pytest.raises(ValueError, match="at least one tower"):
        compat.tower_devices(0)


@pytest.fixture(scope="module")
def description():
    return compat.describe()


def test_describe_reports_everything(description):
    for key in ("python", "tensorflow", "tf.keras", "numpy", "protobuf", "h5py", "fused_batch_norm_op"):
        assert description.get(key) not in (None, ""), "describe() lacks %s: %s" % (key, description)
    assert "keras" in description and isinstance(description["gpus"], list)  # keras: None if not installed
    assert description["fused_batch_norm_op"].startswith("FusedBatchNorm")
    json.dumps(description)  # it goes into reports


def test_cell_versions_are_the_pinned_ones(cell, description):
    """Issue 2: tensorflow and keras import at exactly the versions the matrix cell pins."""
    if cell is None:
        pytest.skip("TFPIN_CELL not set (suite run by hand, not by the harness): nothing to compare with")
    wanted = dict(cell["requirements"])
    # Every build imports as `tensorflow`: stock, GPU, Intel's MKL-DNN.
    builds = [name for name in ("tensorflow", "tensorflow-gpu", "intel-tensorflow") if name in wanted]
    assert len(builds) == 1, "the harness must pin one TensorFlow build in every cell: %s" % cell
    wanted["tensorflow"] = wanted.pop(builds[0])
    if "tf-keras" in wanted:  # TF >= 2.16 cells: tf.keras must be the pinned tf-keras (compat's TF_USE_LEGACY_KERAS)
        wanted["tf.keras"] = wanted.pop("tf-keras")
    for package, version in sorted(wanted.items()):
        if package in description:
            assert description[package] == version, "%s: imported %s, cell %s pins %s" % (
                package, description[package], cell["id"], version)
    assert description["tf_version_table_key"] == ".".join(wanted["tensorflow"].split(".")[:2])
    if cell.get("python"):
        assert description["python"].split(".")[:2] == cell["python"].split(".")[:2]


# Every BN implementation is built, the deprecated-by-design ones too. Measured on every cell: contrib and
# global_norm notice nothing from our frames; layers_fn (tf.layers.batch_normalization, the notes' own
# spelling, kept on purpose) carries its decorator notice on 1.13+. That notice, and only it, is expected.
EXPECTED_NOTICE = {"layers_fn": "batch_normalization (from tensorflow.python.layers.normalization) is deprecated"}
CONTROL_NOTICE = "Print (from tensorflow.python.ops.logging_ops) is deprecated"
NOTICE_ARGS = [background.REPO] + list(batchnorm.available_implementations())  # TF 2.x: no contrib, no keras
background.start("deprecation_notices.py", NOTICE_ARGS)  # fresh process, runs while other tests do


def test_our_code_triggers_no_deprecation_notice():
    """Through compat, resnet_core builds model + loss with every BN implementation without a notice.

    Only notices whose "From <file>" is one of our sources (compat/, resnet_core/, tests/) count: TF
    and Keras internals notice on their own, and the harness keeps cell envs inside the repository.
    A positive control (a deprecated call made on purpose, last) must be seen, else the capture is broken.

    Runs in a fresh process from a file: notices fire once per process, and 1.14/1.15 suppress
    'The name tf.X is deprecated' for code run from a string.
    """
    run = background.result("deprecation_notices.py", NOTICE_ARGS)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert sorted(found) == sorted(["compat", "control"] + NOTICE_ARGS[1:]), found
    control = found.pop("control")
    assert len(control) == 1 and CONTROL_NOTICE in control[0], "the positive control was not captured: %s" % control
    ours = {step: [n for n in notices if EXPECTED_NOTICE.get(step, "\0") not in n] for step, notices in found.items()}
    ours = {step: notices for step, notices in ours.items() if notices}
    assert not ours, "deprecation notices raised from our code:\n" + json.dumps(ours, indent=1)
