"""The evidence this repository compares *between* cells, as a library its cell tests use through tfpin's API
(tests/cell/test_between_cells.py: tfpin_artifact writes, tfpin_reads + tfpin_source read).

write (in every cell's suite): the checkpoint of a training run the suite already made (tests/cell/conftest.py's
cli_digits: the CLI's defaults on digits, ResNet-20 from seed 0 with BN updates and weight EMA, every global
variable saved by tf.train.Saver, moving statistics and EMA shadows included), copied in; a fixed input batch (the
first 16 test digits); the checkpoint's inference logits on it; the same weights saved as h5 by every Keras flavour
this cell has, with that model's logits; the run's training losses.  manifest.json names them all.

Checkpoints (restore a source's checkpoint into this cell's ResNet-20) and H5Files (load a source's h5 in
one flavour) give the logits of the source's inputs in the reading cell; a pair that does not restore
raises, and the reading test records that as its finding.
"""
import json
import os
import shutil

import numpy as np

MODEL = "resnet20"  # what Checkpoints builds to restore a source's checkpoint into
BUILT_AS = ("graph", "layers", "NHWC")  # its API, BN implementation and data format
INPUTS = 16
MANIFEST = "manifest.json"


def _arch_and_model_fn():
    from resnet_core.arch import resnet_arch
    from resnet_core.run import make_model_fn

    arch = resnet_arch(MODEL, num_classes=10)
    return arch, make_model_fn(BUILT_AS[0], arch, *BUILT_AS[1:])


def _model_values(prefix):
    """{layer/weight: value} of the model's own variables in a training checkpoint (the 'resnet/' scope
    stripped, as keras_model names them; optimizer slots and EMA shadows are not model weights)."""
    from compat import tf1

    reader = tf1.train.NewCheckpointReader(prefix)
    return {name[len("resnet/"):]: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("resnet/")}


def write(out, config, result):
    """Keep `result` (train(config)'s, with a checkpoint) as this cell's evidence in `out`."""
    import compat
    from compat import keras as ck
    from resnet_core import checkpoint
    from resnet_core import keras_model as km
    from resnet_core.data import load_digits_split

    got = (config.model, config.dataset, config.api, config.bn, config.data_format)
    if got != (MODEL, "digits") + BUILT_AS or not result.get("checkpoint"):
        raise ValueError("the evidence is a checkpoint of %s on digits as Checkpoints builds it (%s), not %s" % (
            MODEL, "/".join(BUILT_AS), "/".join(got)))
    arch, model_fn = _arch_and_model_fn()
    prefix = result["checkpoint"]
    os.makedirs(os.path.join(out, "ckpt"))
    for name in os.listdir(os.path.dirname(prefix)):
        if name.startswith(os.path.basename(prefix) + "."):
            shutil.copy2(os.path.join(os.path.dirname(prefix), name), os.path.join(out, "ckpt", name))
    kept = os.path.join(out, "ckpt", os.path.basename(prefix))
    x = load_digits_split()[2][:INPUTS]
    _, logits = checkpoint.evaluate(kept, model_fn, x, np.zeros(len(x), np.int64), threads=1)
    np.save(os.path.join(out, "inputs.npy"), x)
    np.save(os.path.join(out, "logits.npy"), logits)
    values = _model_values(kept)
    h5 = {}
    for flavour in ck.available_flavours():
        with km.keras_session(flavour, threads=1) as sess:
            model = km.build_keras_model(arch, flavour, x.shape[1:])
            sess.run(compat.tf1.variables_initializer(model.weights))
            km.copy_graph_weights_to_keras(values, model, sess)
            model.save(os.path.join(out, flavour + ".h5"))
            np.save(os.path.join(out, flavour + "_logits.npy"), model.predict(x))
        h5[flavour] = {"file": flavour + ".h5", "logits": flavour + "_logits.npy"}
    manifest = {"model": MODEL, "steps": config.steps, "seed": config.seed, "batch_size": config.batch_size,
                "versions": compat.describe(), "checkpoint": os.path.relpath(kept, out), "inputs": "inputs.npy",
                "logits": "logits.npy", "losses": result["losses"], "h5": h5}
    with open(os.path.join(out, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def manifest_of(source):
    with open(os.path.join(source, MANIFEST)) as f:
        return json.load(f)


class Checkpoints(object):
    """One graph of this cell's ResNet-20 and a session; restore() any source's checkpoint into it."""

    def __init__(self):
        from compat import session_config, tf1

        _, model_fn = _arch_and_model_fn()
        self.graph = tf1.Graph()
        with self.graph.as_default():
            self.images = tf1.placeholder(tf1.float32, (None, 8, 8, 1), name="images")
            with tf1.variable_scope("resnet"):
                self.logits = model_fn(self.images, False)
            self.saver = tf1.train.Saver(tf1.global_variables())
            self.sess = tf1.Session(graph=self.graph, config=session_config(threads=1))

    def restore(self, source):
        """(logits here, the writer's own logits) of the source's inputs."""
        manifest = manifest_of(source)
        self.saver.restore(self.sess, os.path.join(source, manifest["checkpoint"]))
        got = self.sess.run(self.logits, {self.images: np.load(os.path.join(source, manifest["inputs"]))})
        return got, np.load(os.path.join(source, manifest["logits"]))

    def close(self):
        self.sess.close()


class H5Files(object):
    """Loading h5 files in one Keras flavour, inference phase (the check is logits: no BN update ops to build),
    in one session.  A file whose model config is byte-identical to one already loaded gets its weights loaded
    into that model (load_model = the config's model + load_weights): 28 builds per cell become ~8."""

    def __init__(self, flavour):
        from compat import keras as ck
        from resnet_core import keras_model as km

        self.flavour, self._km = flavour, km
        self._session = km.keras_session(flavour, threads=1)
        self._session.__enter__()
        ck.backend(flavour).set_learning_phase(0)
        self._built = {}

    def load(self, source, written_by):
        """(logits here, the writer's own logits) of the source's inputs from its `written_by` h5."""
        manifest = manifest_of(source)
        files = manifest["h5"][written_by]
        path = os.path.join(source, files["file"])
        config = _model_config(path)
        if config in self._built:
            model = self._built[config]
            model.load_weights(path)
        else:
            model = self._built[config] = self._km.load_keras_model(path, self.flavour)
        got = model.predict(np.load(os.path.join(source, manifest["inputs"])))
        return got, np.load(os.path.join(source, files["logits"]))

    def close(self):
        self._session.__exit__(None, None, None)


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _model_config(path):
    import h5py

    with h5py.File(path, "r") as f:
        config = f.attrs["model_config"]
    return config.decode("utf-8") if isinstance(config, bytes) else config
