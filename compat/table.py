"""What moved where between TensorFlow 1.12 and 1.15, as data.

Every version difference the project depends on is one row of TABLE:
    logical name -> [(first TF version the entry applies to, where it is), ...] oldest first.
The entry with the highest version <= the running TF wins.  "Where it is" is either
  * "package.module:attr.chain" -- imported/looked up on first use (lazily, so e.g.
    tf.contrib is never loaded unless a row that points into it is used), or
  * any other value, returned as is (a keyword name, an adapter function).
Rows were measured on every cell (see shared notes, api-catalog.md); keep them that way:
add a row only for a difference you have seen.
"""
import importlib

import tensorflow as tf

TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])
SUPPORTED = ((1, 12), (1, 15))


def _method(name):
    """Dataset methods that became free functions under tf.compat.v1.data."""
    def call(obj):
        return getattr(obj, name)()
    call.__name__ = name
    return call


def _attribute(name):
    def get(obj):
        return getattr(obj, name)
    get.__name__ = name
    return get


def _gpus_from_device_lib():
    # 1.12/1.13 have no tf.config; device_lib enumerates (and on a GPU host initialises) devices,
    # so ask it to grow GPU memory instead of reserving all of it for this process.
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.client import device_lib
    config = config_pb2.ConfigProto()
    config.gpu_options.allow_growth = True
    return [d.name for d in device_lib.list_local_devices(config) if d.device_type == "GPU"]


def _gpus_from_config():
    # tf.config (1.14+) lists physical devices without creating a session or grabbing GPU memory.
    return [d.name for d in tf.config.experimental.list_physical_devices("GPU")]


TABLE = {
    # tf.compat.v1 appears in 1.13; on 1.12 the top-level namespace *is* the v1 API.  On 1.14/1.15
    # only the compat.v1 spelling is free of "The name tf.X is deprecated" notices.
    "tf1": [((1, 12), "tensorflow:"), ((1, 13), "tensorflow:compat.v1")],
    "get_logger": [((1, 12), "tensorflow.python.platform.tf_logging:_get_logger"),
                   ((1, 13), "tensorflow:get_logger")],
    # 1.12 exports AUTOTUNE only as tf.contrib.data.AUTOTUNE (same object as this private path,
    # which avoids loading all of tf.contrib).
    "AUTOTUNE": [((1, 12), "tensorflow.python.data.experimental.ops.optimization:AUTOTUNE"),
                 ((1, 13), "tensorflow:data.experimental.AUTOTUNE")],
    "make_one_shot_iterator": [((1, 12), _method("make_one_shot_iterator")),
                               ((1, 13), "tensorflow:compat.v1.data.make_one_shot_iterator")],
    "make_initializable_iterator": [((1, 12), _method("make_initializable_iterator")),
                                    ((1, 13), "tensorflow:compat.v1.data.make_initializable_iterator")],
    "dataset_output_shapes": [((1, 12), _attribute("output_shapes")),
                              ((1, 14), "tensorflow:compat.v1.data.get_output_shapes")],
    # tf.nn.moments: only keep_dims= before 1.14.
    "moments_keepdims_kwarg": [((1, 12), "keep_dims"), ((1, 14), "keepdims")],
    "list_gpus": [((1, 12), _gpus_from_device_lib), ((1, 14), _gpus_from_config)],
    # Not exported under tf.*, same signature 1.12-1.15 (1.15 resolves it through tensorflow_core).
    "assign_moving_average": [((1, 12), "tensorflow.python.training.moving_averages:assign_moving_average")],
    # tf.keras's backend module: get_session() here is silent, even tf.compat.v1.keras.backend's warns (1.14+).
    "tf_keras_backend": [((1, 12), "tensorflow.python.keras:backend")],
    "tf_keras_layer": [((1, 12), "tensorflow.python.keras.layers:Layer")],
    "contrib_batch_norm": [((1, 12), "tensorflow:contrib.layers.batch_norm")],
}

_cache = {}


def entry(name, version=None):
    """The raw TABLE entry that applies to `version` (default: the running TF)."""
    version = TF_VERSION if version is None else tuple(version)
    rows = TABLE[name]
    chosen = None
    for first, where in rows:
        if tuple(first) <= version:
            chosen = where
    if chosen is None:
        raise RuntimeError("compat table: %r has no entry for TensorFlow %d.%d (supported %d.%d-%d.%d)"
                           % ((name,) + version + SUPPORTED[0] + SUPPORTED[1]))
    return chosen


def resolve(name):
    """The object TABLE[name] designates on the running TF (cached)."""
    if name not in _cache:
        _cache[name] = _load(entry(name))
    return _cache[name]


def _load(where):
    if not isinstance(where, str) or ":" not in where:
        return where
    module_name, _, attrs = where.partition(":")
    obj = importlib.import_module(module_name)
    for attr in filter(None, attrs.split(".")):
        obj = getattr(obj, attr)
    return obj
