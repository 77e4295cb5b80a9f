"""Keras-applications ResNet50 in one Keras flavour: build, get_config, from_config, set_weights, predict.

Usage: resnet50_from_config.py FLAVOUR... (keras, tf.keras).  Run by tests/cell/test_roundtrips_keras.py in a
background process: two 23.6M-parameter graphs per flavour take 8-10 s on one core, which the otherwise idle
core can spend while the suite runs (one process for both flavours: importing TF and Keras costs seconds too).
Prints one JSON line: {flavour: {"params", "params_from_config", "same_config", "output_shape", "outputs",
"restored"}}.
"""
import json
import sys

import numpy as np

from compat import keras as ck
from compat import tf1
from resnet_core.keras_model import keras_session

INPUT_SHAPE = (32, 32, 3)  # keras-applications' smallest legal ResNet50 input without pretrained weights


def from_config(flavour):
    x = np.random.RandomState(0).uniform(0.0, 1.0, (2,) + INPUT_SHAPE).astype(np.float32)
    K = ck.backend(flavour)
    with keras_session(flavour, threads=1) as sess:
        # Initialise explicitly, once: otherwise both Keras backends look for uninitialised variables among the
        # graph's ~1,000 before the first get_weights/set_weights/predict (seconds for two ResNet50s).
        K.manual_variable_initialization(True)
        # The check is inference (features for the same input): with the phase fixed to 0, BN builds no
        # moving-average updates (212 zero-debiased ones in standalone Keras: 3.4 of 20 s).
        K.set_learning_phase(0)
        try:
            # The convolutional trunk + global average pool (2048 features): compared as features, not
            # through a 1000-way softmax that a random network saturates.
            built = ck.keras_module(flavour).applications.ResNet50(weights=None, include_top=False, pooling="avg",
                                                                   input_shape=INPUT_SHAPE)
            config = built.get_config()
            rebuilt = ck.models(flavour).Model.from_config(config)
            # Both: tf.keras 1.14's set_weights reads the current values first.
            sess.run(tf1.variables_initializer(built.weights + rebuilt.weights))
            rebuilt.set_weights(built.get_weights())
            result = {
                "params": int(built.count_params()),
                "params_from_config": int(rebuilt.count_params()),
                "same_config": json.dumps(rebuilt.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True),
                "output_shape": list(built.output_shape),
                "outputs": built.predict(x).tolist(),
                "restored": rebuilt.predict(x).tolist(),
            }
        finally:
            K.manual_variable_initialization(False)
    return result


if __name__ == "__main__":
    print(json.dumps({flavour: from_config(flavour) for flavour in sys.argv[1:]}))
