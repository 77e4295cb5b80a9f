"""Every batch-norm implementation through the real training loop (resnet_core.train.train, the CLI's
path: towers, momentum SGD, decay, clipping, EMA, checkpoint), a few steps of resnet8 on digits, in a fresh
process.

Usage: bn_training.py STEPS IMPL [IMPL ...]. Prints one JSON line {impl: {...}} with the losses and,
read back from the saved checkpoint, every BN layer's moving statistics and (zero-debiased
implementations) their local_step counters, so the test can check them against what each
implementation documents.
"""
import json
import shutil
import sys
import tempfile

import numpy as np

from compat import tf1
from resnet_core.train import config_from, train

MODEL = "resnet8"  # every BN layer kind the CIFAR family has (stem, block, pad shortcut) at a third of resnet20's build


def moving_statistics(checkpoint):
    """{layer: {moving_mean: [...], moving_variance: [...], <stat>_local_step: n}} from a checkpoint.

    Standalone Keras creates its zero-debias variables under the name scope *and* the variable scope,
    e.g. resnet/stem/resnet/stem/bn/moving_mean/local_step for layer resnet/stem/bn: such a counter
    belongs to the layer whose name its prefix ends with.
    """
    reader = tf1.train.NewCheckpointReader(checkpoint)
    layers, counters = {}, []
    for name in reader.get_variable_to_shape_map():
        if "ExponentialMovingAverage" in name or "Momentum" in name:
            continue
        for stat in ("moving_mean", "moving_variance"):
            head, sep, tail = name.partition("/" + stat)
            if sep and tail == "":
                layers.setdefault(head, {})[stat] = [float(v) for v in np.ravel(reader.get_tensor(name))]
            elif sep and tail == "/local_step":
                counters.append((head, stat, float(reader.get_tensor(name))))
    for head, stat, value in counters:
        owner = [layer for layer in layers if head == layer or head.endswith("/" + layer)]
        layers.setdefault(owner[0] if len(owner) == 1 else head, {})[stat + "_local_step"] = value
    return layers


if __name__ == "__main__":
    steps, impls = int(sys.argv[1]), sys.argv[2:]
    out = {}
    for impl in impls:
        directory = tempfile.mkdtemp(prefix="bn_training_")
        try:
            result = train(config_from(dataset="digits", model=MODEL, bn=impl, steps=steps, batch_size=16,
                                       threads=1, evaluate=False, checkpoint_dir=directory, seed=0))
            out[impl] = {"losses": result["losses"], "update_ops": result["update_ops"],
                         "bn_layers": moving_statistics(result["checkpoint"])}
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(out))
