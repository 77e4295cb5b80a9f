"""TensorFlow's own persistence and logging paths, round-tripped with the values compared.

Checkpoints (tf.train.Saver with its MetaGraph, tf.train.Checkpoint), SavedModel, GraphDef files
(text and binary protobuf), TensorBoard event files read back by TF and by the tensorboard package,
and a tiny tf.estimator run checked against numpy gradient descent.  These depend on protobuf,
numpy, tensorboard and tensorflow-estimator, the packages a pin has to get right.
"""
import glob
import os

import numpy as np
import pytest
from google.protobuf import text_format

import compat
from compat import autograph_to_graph, load_saved_model, numpy_input_fn, session_config, tf1

SERVING_KEY = "serving_default"  # tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY
W = np.array([[1.5, -0.5, 0.25], [-2.0, 0.75, 1.0]], np.float32)
B = np.array([0.5, -0.25, 0.125], np.float32)


def small_graph(w=W, b=B):
    """y = tanh(x w + b) with w, b variables initialised to the given values; returns (x, y, [w, b])."""
    x = tf1.placeholder(tf1.float32, [None, 2], name="x")
    wv = tf1.get_variable("w", initializer=tf1.constant(w))
    bv = tf1.get_variable("b", initializer=tf1.constant(b))
    y = tf1.tanh(tf1.matmul(x, wv) + bv, name="y")
    return x, y, [wv, bv]


def inputs(count=4, seed=0):
    return np.random.RandomState(seed).uniform(-1.0, 1.0, (count, 2)).astype(np.float32)


def numpy_forward(x, w=W, b=B):
    return np.tanh(x.dot(w) + b)


def fresh_session():
    graph = tf1.Graph()
    return graph, tf1.Session(graph=graph, config=session_config(threads=1))


# ----------------------------------------------------------------------------- checkpoints
def test_saver_meta_graph_round_trip(graph, session, tmp_path):
    """Saver.save writes variables + MetaGraph; import_meta_graph rebuilds the graph with no Python model code."""
    x, y, _ = small_graph()
    step = tf1.train.get_or_create_global_step()
    session.run(tf1.global_variables_initializer())
    session.run(tf1.assign(step, 3))
    xb = inputs()
    before = session.run(y, {x: xb})
    np.testing.assert_allclose(before, numpy_forward(xb), rtol=1e-5)
    path = tf1.train.Saver().save(session, str(tmp_path / "model.ckpt"), global_step=step)
    assert path.endswith("model.ckpt-3") and tf1.train.latest_checkpoint(str(tmp_path)) == path
    reader = tf1.train.load_checkpoint(path)
    np.testing.assert_array_equal(reader.get_tensor("w"), W)
    assert dict(tf1.train.list_variables(path)) == {"w": [2, 3], "b": [3], "global_step": []}

    other, sess = fresh_session()
    with other.as_default(), sess:
        saver = tf1.train.import_meta_graph(path + ".meta")
        saver.restore(sess, path)
        after = sess.run("y:0", {"x:0": xb})
        assert sess.run("global_step:0") == 3
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_object_based_checkpoint_round_trip(tmp_path):
    """tf.train.Checkpoint in graph mode: save with a session, restore into differently initialised variables."""
    xb = inputs()
    first, sess = fresh_session()
    with first.as_default(), sess:
        x, y, (w, b) = small_graph()
        sess.run(tf1.global_variables_initializer())
        before = sess.run(y, {x: xb})
        path = tf1.train.Checkpoint(weights=w, bias=b).save(str(tmp_path / "ckpt"), session=sess)
    stored = dict(tf1.train.list_variables(path))
    assert stored["weights/.ATTRIBUTES/VARIABLE_VALUE"] == [2, 3]
    assert stored["save_counter/.ATTRIBUTES/VARIABLE_VALUE"] == []

    second, sess = fresh_session()
    with second.as_default(), sess:
        x, y, (w, b) = small_graph(np.zeros_like(W), np.zeros_like(B))
        checkpoint = tf1.train.Checkpoint(weights=w, bias=b)
        checkpoint.restore(path).assert_existing_objects_matched().run_restore_ops(sess)
        after = sess.run(y, {x: xb})
    np.testing.assert_allclose(after, before, rtol=1e-6)
    np.testing.assert_allclose(after, numpy_forward(xb), rtol=1e-5)


def test_saved_model_round_trip(tmp_path):
    """SavedModelBuilder with a predict signature; loaded into a fresh graph by tags, run through the signature."""
    export_dir = str(tmp_path / "export")
    xb = inputs()
    first, sess = fresh_session()
    with first.as_default(), sess:
        x, y, _ = small_graph()
        sess.run(tf1.global_variables_initializer())
        before = sess.run(y, {x: xb})
        builder = tf1.saved_model.builder.SavedModelBuilder(export_dir)
        signature = tf1.saved_model.signature_def_utils.predict_signature_def(inputs={"x": x}, outputs={"y": y})
        builder.add_meta_graph_and_variables(sess, [tf1.saved_model.tag_constants.SERVING],
                                             signature_def_map={SERVING_KEY: signature})
        builder.save()

    second, sess = fresh_session()
    with second.as_default(), sess:
        meta = load_saved_model(sess, [tf1.saved_model.tag_constants.SERVING], export_dir)
        signature = meta.signature_def[SERVING_KEY]
        assert signature.method_name == "tensorflow/serving/predict"
        assert list(meta.meta_info_def.tags) == [tf1.saved_model.tag_constants.SERVING]
        after = sess.run(signature.outputs["y"].name, {signature.inputs["x"].name: xb})
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_graph_def_text_and_binary_round_trip(graph, session, tmp_path):
    """write_graph as text and as binary protobuf; both parse to the same GraphDef, which imports and runs."""
    x = tf1.placeholder(tf1.float32, [None, 2], name="x")
    tf1.add(tf1.matmul(x, tf1.constant(W)), tf1.constant(B), name="y")
    graph_def = graph.as_graph_def()
    tf1.train.write_graph(graph_def, str(tmp_path), "graph.pbtxt", as_text=True)
    tf1.train.write_graph(graph_def, str(tmp_path), "graph.pb", as_text=False)
    with open(str(tmp_path / "graph.pbtxt")) as f:
        from_text = text_format.Parse(f.read(), tf1.GraphDef())
    with open(str(tmp_path / "graph.pb"), "rb") as f:
        from_binary = tf1.GraphDef.FromString(f.read())
    assert from_text == from_binary == graph_def

    xb = inputs()
    other, sess = fresh_session()
    with other.as_default(), sess:
        tf1.import_graph_def(from_binary, name="")
        got = sess.run("y:0", {"x:0": xb})
    np.testing.assert_allclose(got, xb.dot(W) + B, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- TensorBoard event files
def test_summaries_round_trip_through_event_file(graph, session, tmp_path):
    """Scalar, histogram and image summaries written by FileWriter read back by TF's summary_iterator and by
    tensorboard's EventAccumulator, compared with the numpy values that went in."""
    rng = np.random.RandomState(4)
    losses = [0.5, 0.25]
    values = rng.normal(2.0, 3.0, 1000).astype(np.float32)
    pictures = rng.randint(0, 256, (2, 4, 5, 3)).astype(np.uint8)
    loss = tf1.placeholder(tf1.float32, [])
    tf1.summary.scalar("loss", loss)
    tf1.summary.histogram("values", tf1.constant(values))
    tf1.summary.image("pictures", tf1.constant(pictures), max_outputs=2)
    merged = tf1.summary.merge_all()
    writer = tf1.summary.FileWriter(str(tmp_path), graph)
    for step, value in enumerate(losses):
        writer.add_summary(session.run(merged, {loss: value}), step)
    writer.close()
    (path,) = glob.glob(os.path.join(str(tmp_path), "events.out.tfevents.*"))

    by_tag, graph_defs = {}, []
    for event in tf1.train.summary_iterator(path):
        if event.HasField("graph_def"):
            graph_defs.append(tf1.GraphDef.FromString(event.graph_def))
        for value in event.summary.value:
            by_tag.setdefault(value.tag, []).append((event.step, value))
    assert len(graph_defs) == 1 and "loss" in [node.name for node in graph_defs[0].node]
    assert [(step, v.simple_value) for step, v in by_tag["loss"]] == list(enumerate(losses))
    histo = by_tag["values"][0][1].histo
    assert (histo.num, histo.min, histo.max) == (1000, values.min(), values.max())
    np.testing.assert_allclose([histo.sum, histo.sum_squares], [values.sum(), (values.astype(np.float64) ** 2).sum()],
                               rtol=1e-5)
    assert sum(histo.bucket) == 1000 and list(histo.bucket_limit) == sorted(histo.bucket_limit)
    encoded = {}
    for i in range(2):
        image = by_tag["pictures/image/%d" % i][0][1].image
        assert (image.height, image.width, image.colorspace) == (4, 5, 3)
        encoded[i] = image.encoded_image_string
        np.testing.assert_array_equal(session.run(tf1.image.decode_png(image.encoded_image_string)), pictures[i])

    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(str(tmp_path))
    accumulator.Reload()
    assert [(s.step, s.value) for s in accumulator.Scalars("loss")] == list(enumerate(losses))
    histogram = accumulator.Histograms("values")[0].histogram_value
    assert (histogram.num, histogram.min, histogram.max) == (1000, values.min(), values.max())
    assert [accumulator.Images("pictures/image/%d" % i)[0].encoded_image_string for i in range(2)] == [
        encoded[0], encoded[1]]


# ----------------------------------------------------------------------------- tf.estimator
LEARNING_RATE = 0.1
STEPS = 5


def _linear_model_fn(features, labels, mode):
    w = tf1.get_variable("w", [2, 1], initializer=tf1.zeros_initializer())
    b = tf1.get_variable("b", [1], initializer=tf1.zeros_initializer())
    predictions = tf1.matmul(features["x"], w) + b
    if mode == tf1.estimator.ModeKeys.PREDICT:
        return tf1.estimator.EstimatorSpec(mode, predictions={"y": predictions})
    loss = tf1.reduce_mean(tf1.square(predictions - labels))
    train_op = tf1.train.GradientDescentOptimizer(LEARNING_RATE).minimize(
        loss, global_step=tf1.train.get_or_create_global_step())
    return tf1.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _numpy_gradient_descent(x, y, steps):
    """Full-batch gradient descent on mean squared error from zeros: the estimator's run in closed form."""
    w, b = np.zeros((2, 1)), np.zeros(1)
    for _ in range(steps):
        residual = x.dot(w) + b - y
        w = w - LEARNING_RATE * 2.0 * x.T.dot(residual) / len(x)
        b = b - LEARNING_RATE * 2.0 * residual.mean(axis=0)
    return w, b


def test_estimator_trains_evaluates_and_predicts(tmp_path):
    if compat.unavailable("estimator_broken"):
        pytest.skip(compat.unavailable("estimator_broken"))
    x = inputs(8, seed=5)
    y = (x.dot([[1.5], [-2.0]]) + 0.5).astype(np.float32)
    config = tf1.estimator.RunConfig(model_dir=str(tmp_path), session_config=session_config(threads=1),
                                     tf_random_seed=0)
    estimator = tf1.estimator.Estimator(_linear_model_fn, config=config)
    # batch_size = all 8 rows, in order: every training step is one full-batch gradient step.
    estimator.train(numpy_input_fn({"x": x}, y, batch_size=8, num_epochs=None, shuffle=False), steps=STEPS)
    w, b = estimator.get_variable_value("w"), estimator.get_variable_value("b")
    want_w, want_b = _numpy_gradient_descent(x.astype(np.float64), y.astype(np.float64), STEPS)
    np.testing.assert_allclose(w, want_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, want_b, rtol=1e-5, atol=1e-6)
    assert estimator.get_variable_value("global_step") == STEPS

    metrics = estimator.evaluate(numpy_input_fn({"x": x}, y, batch_size=8, num_epochs=1, shuffle=False))
    assert metrics["global_step"] == STEPS
    np.testing.assert_allclose(metrics["loss"], np.mean((x.dot(w) + b - y) ** 2), rtol=1e-5)

    predicted = estimator.predict(numpy_input_fn({"x": x}, batch_size=8, num_epochs=1, shuffle=False))
    np.testing.assert_allclose(np.array([p["y"] for p in predicted]), x.dot(w) + b, rtol=1e-5, atol=1e-6)


def _collatz_steps(n):
    """Python control flow on a tensor: AutoGraph must turn the `while` and `if` into graph ops.

    (`n % 2 > 0`, not `== 1`: a TF1 Tensor's `==` is Python identity, so AutoGraph would see a constant False.)
    """
    steps = 0
    while n > 1:
        if n % 2 > 0:
            n = 3 * n + 1
        else:
            n = n // 2
        steps += 1
    return steps


def test_autograph_converts_python_control_flow():
    """AutoGraph parses Python source with gast; a gast its TF release does not know fails right here."""
    converted = autograph_to_graph(_collatz_steps)
    starts = [1, 2, 3, 6, 7, 27]
    expected = [_collatz_steps(n) for n in starts]  # plain Python on ints
    graph, sess = fresh_session()
    with graph.as_default(), sess:
        n = tf1.placeholder(tf1.int32, [], name="n")
        steps = converted(n)
        got = [sess.run(steps, {n: start}) for start in starts]
        ops = {op.type for op in graph.get_operations()}
    assert got == expected
    assert "While" in ops or "Enter" in ops, "no graph loop was built: %s" % sorted(ops)
