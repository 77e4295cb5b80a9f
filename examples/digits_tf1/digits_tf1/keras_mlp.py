"""A standalone-Keras MLP on the same digits, saved to and loaded from a single HDF5 file.

Keras (2.2.x) keeps its own session; `fresh_session` gives every model a clean graph with a
seed and the same thread budget as the graph trainer.
"""
import keras
import numpy as np
import tensorflow as tf

from digits_tf1.data import IMAGE_SIZE, NUM_CLASSES
from digits_tf1.runtime import session_config

tf1 = tf.compat.v1


def fresh_session(seed=0):
    """Drop every Keras model built so far and start a seeded graph and session."""
    keras.backend.clear_session()
    np.random.seed(seed)
    tf1.set_random_seed(seed)
    keras.backend.set_session(tf1.Session(graph=tf1.get_default_graph(), config=session_config()))


def build(hidden=64, learning_rate=0.01):
    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
        keras.layers.Dense(hidden, use_bias=False, name="hidden"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Activation("relu"),
        keras.layers.Dense(NUM_CLASSES, activation="softmax", name="scores"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(lr=learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def fit(model, split, epochs=15, batch_size=64):
    return model.fit(split.images, split.labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)


def accuracy(model, split):
    return float(np.mean(np.argmax(model.predict(split.images), axis=1) == split.labels))


def save(model, path):
    """Architecture, weights and optimizer state in one HDF5 file."""
    model.save(str(path), include_optimizer=True)


def load(path):
    return keras.models.load_model(str(path))


def trainable_values(model):
    return keras.backend.batch_get_value(model.trainable_weights)
