"""python -m resnet_core.artifacts write DIR | read SOURCE_DIR...: the evidence compared *between* cells.

write (in each cell that passed): from seed 0 on one thread, 50 steps (batch 32) of the CLI's training loop
(train(): ResNet-20 on digits, BN updates, weight EMA) saved by tf.train.Saver with every global
variable (moving statistics and EMA shadows included); a fixed input batch (the first 16 test digits);
the checkpoint's inference logits on it; the same weights saved as h5 by every Keras flavour this cell
has, with that model's logits; the 50 training losses.  manifest.json names them all.

read (in each target cell): for every source directory, restore the source's checkpoint into this
cell's ResNet-20 and load every h5 of the source in every flavour this cell has, each time computing
the logits of the source's inputs.  One JSON line on stdout.  A pair that does not restore is a result,
quoted, not an exception: the host turns these into the report's cross-cell tables.
"""
import json
import os
import sys

import numpy as np

MODEL = "resnet20"
STEPS = 50
SEED = 0
BATCH = 32  # the loss curve is compared between cells, not judged: half the CLI's 64 halves the cost
INPUTS = 16
MANIFEST = "manifest.json"


def _arch_and_model_fn():
    from resnet_core.arch import resnet_arch
    from resnet_core.run import make_model_fn

    arch = resnet_arch(MODEL, num_classes=10)
    return arch, make_model_fn("graph", arch, "layers", "NHWC")


def _model_values(prefix):
    """{layer/weight: value} of the model's own variables in a training checkpoint (the 'resnet/' scope
    stripped, as keras_model names them; optimizer slots and EMA shadows are not model weights)."""
    from compat import tf1

    reader = tf1.train.NewCheckpointReader(prefix)
    return {name[len("resnet/"):]: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("resnet/")}


def _quote(exc):
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return "%s: %s" % (type(exc).__name__, lines[0][:300] if lines else "")


def write(out):
    import compat
    from compat import keras as ck
    from resnet_core import checkpoint
    from resnet_core import keras_model as km
    from resnet_core.data import load_digits_split
    from resnet_core.train import config_from, train

    arch, model_fn = _arch_and_model_fn()
    result = train(config_from(dataset="digits", model=MODEL, steps=STEPS, seed=SEED, batch_size=BATCH, threads=1,
                               evaluate=False, checkpoint_dir=os.path.join(out, "ckpt")))
    x = load_digits_split()[2][:INPUTS]
    _, logits = checkpoint.evaluate(result["checkpoint"], model_fn, x, np.zeros(len(x), np.int64), threads=1)
    np.save(os.path.join(out, "inputs.npy"), x)
    np.save(os.path.join(out, "logits.npy"), logits)
    values = _model_values(result["checkpoint"])
    h5 = {}
    for flavour in ck.available_flavours():
        with km.keras_session(flavour, threads=1) as sess:
            model = km.build_keras_model(arch, flavour, x.shape[1:])
            sess.run(compat.tf1.variables_initializer(model.weights))
            km.copy_graph_weights_to_keras(values, model, sess)
            model.save(os.path.join(out, flavour + ".h5"))
            np.save(os.path.join(out, flavour + "_logits.npy"), model.predict(x))
        h5[flavour] = {"file": flavour + ".h5", "logits": flavour + "_logits.npy"}
    manifest = {"model": MODEL, "steps": STEPS, "seed": SEED, "batch_size": BATCH, "versions": compat.describe(),
                "checkpoint": os.path.relpath(result["checkpoint"], out), "inputs": "inputs.npy",
                "logits": "logits.npy", "losses": result["losses"], "h5": h5}
    with open(os.path.join(out, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def _max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def read(sources):
    """{source: {"checkpoint": {restored, max_abs_logit_diff, logits | reason}, "h5": [...]}} in this cell."""
    from compat import keras as ck
    from compat import session_config, tf1
    from resnet_core import keras_model as km

    _, model_fn = _arch_and_model_fn()
    loaded = []  # (source dir, its entry in the result, its manifest, its inputs)
    graph = tf1.Graph()
    with graph.as_default():
        images = tf1.placeholder(tf1.float32, (None, 8, 8, 1), name="images")
        with tf1.variable_scope("resnet"):
            logits = model_fn(images, False)
        saver = tf1.train.Saver(tf1.global_variables())
        with tf1.Session(graph=graph, config=session_config(threads=1)) as sess:
            for source in sources:
                with open(os.path.join(source, MANIFEST)) as f:
                    manifest = json.load(f)
                x = np.load(os.path.join(source, manifest["inputs"]))
                entry = {"checkpoint": {"restored": False}, "h5": []}
                try:
                    saver.restore(sess, os.path.join(source, manifest["checkpoint"]))
                    got = sess.run(logits, {images: x})
                    entry["checkpoint"] = {"restored": True, "logits": got.tolist(),
                                           "max_abs_logit_diff": _max_abs(got, np.load(
                                               os.path.join(source, manifest["logits"])))}
                except Exception as exc:  # noqa: BLE001 -- any failure to restore is the finding
                    entry["checkpoint"]["reason"] = _quote(exc)
                loaded.append((source, entry, manifest, x))
    for flavour in ck.available_flavours():
        # One session per loading flavour, inference phase (the check is logits: no BN update ops to build).
        # A file whose model config is byte-identical to one this flavour already loaded gets its weights
        # loaded into that model (load_model = the config's model + load_weights): 28 builds become ~8.
        with km.keras_session(flavour, threads=1):
            ck.backend(flavour).set_learning_phase(0)
            built = {}
            for source, entry, manifest, x in loaded:
                for written, files in sorted(manifest["h5"].items()):
                    path = os.path.join(source, files["file"])
                    row = {"written_by": written, "loaded_by": flavour, "loaded": False}
                    try:
                        config = _model_config(path)
                        if config in built:
                            model = built[config]
                            model.load_weights(path)
                        else:
                            model = built[config] = km.load_keras_model(path, flavour)
                        got = model.predict(x)
                        expected = np.load(os.path.join(source, files["logits"]))
                        row.update(loaded=True, max_abs_logit_diff=_max_abs(got, expected))
                    except Exception as exc:  # noqa: BLE001
                        row["reason"] = _quote(exc)
                    entry["h5"].append(row)
    for _, entry, _, _ in loaded:
        entry["h5"].sort(key=lambda r: (r["written_by"], r["loaded_by"]))
    return {os.path.basename(os.path.normpath(source)): entry for source, entry, _, _ in loaded}


def _model_config(path):
    import h5py

    with h5py.File(path, "r") as f:
        config = f.attrs["model_config"]
    return config.decode("utf-8") if isinstance(config, bytes) else config


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in ("write", "read"):
        sys.stderr.write("usage: python -m resnet_core.artifacts write DIR | read SOURCE_DIR [SOURCE_DIR ...]\n")
        return 2
    if argv[0] == "write":
        out = argv[1]
        if not os.path.isdir(out):
            os.makedirs(out)
        write(out)  # manifest.json last: a directory without one is an interrupted write, never read
        sys.stdout.write(json.dumps({"written": out}) + "\n")
    else:
        sys.stdout.write(json.dumps(read(argv[1:]), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
