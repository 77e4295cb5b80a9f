"""What moved where between TensorFlow 1.12 and 2.21, as data.

Every version difference the project depends on is one row of TABLE:
    logical name -> [(first TF version the entry applies to, where it is), ...] oldest first.
The entry with the highest version <= the running TF wins.  "Where it is" is either
  * "package.module:attr.chain" -- imported/looked up on first use (lazily, so e.g.
    tf.contrib is never loaded unless a row that points into it is used), or
  * any other value, returned as is (a keyword name, an adapter function, `Broken(reason)`: cannot work there).
Rows were measured on every cell (see shared notes, api-catalog.md); keep them that way:
add a row only for a difference you have seen.
"""
import collections
import importlib
import re

import tensorflow as tf

TF_VERSION = tuple(int(p) for p in tf.__version__.split(".")[:2])
SUPPORTED = ((1, 12), (2, 21))  # 2.x: through tf.compat.v1 with the v2 behaviour off (matrices/migration.toml)


# A row value saying "this cannot work on these releases", with the measured failure (a plain string would be
# read as a "module:attr" path).
Broken = collections.namedtuple("Broken", "reason")


def _nothing():
    """TF 1.x: graph mode, reference variables and v1 shapes are already the behaviour."""


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


def _tf_keras_package_version():
    # TF 2.6+: tf.keras is the API module of a separate package (keras, or tf_keras under TF_USE_LEGACY_KERAS), which
    # 2.15's keras.api._v2.keras no longer gives a __version__ (2.11's still does); the package itself has it.
    package = tf.compat.v1.keras.layers.Layer.__module__.split(".")[0]
    return importlib.import_module(package).__version__


def _keras_export_contrib(model, path):
    # 1.12/1.13: tf.contrib.saved_model.save_keras_model(model, base) writes base/<timestamp>/ and returns that
    # directory as bytes (tf.keras.experimental does not exist yet).
    from tensorflow.contrib import saved_model
    export_dir = saved_model.save_keras_model(model, path)
    return export_dir.decode("utf-8") if isinstance(export_dir, bytes) else export_dir


def _keras_export_experimental(model, path):
    # 1.14: tf.keras.experimental.export_saved_model writes into `path` itself and returns None
    # (model.save(save_format="tf") raises NotImplementedError in 1.14 graph mode).
    tf.compat.v1.keras.experimental.export_saved_model(model, path)
    return path


def _keras_export_save_format_tf(model, path):
    # 1.15: export_saved_model notices ("Please use model.save(..., save_format=\"tf\")"), and that works in graph mode.
    model.save(path, save_format="tf")
    return path


def _release(version):
    """'5.4.1' -> (5, 4, 1), '4.2b1' -> (4, 2): the leading dotted numbers of a version string."""
    return tuple(int(p) for p in re.match(r"\d+(?:\.\d+)*", version).group().split("."))


_NUMPY_TAG = "'tag:yaml.org,2002:python/object/apply:numpy.core.multiarray._reconstruct'"


def _standalone_keras_yaml_numpy():
    """Broken(measured failure) or False: standalone Keras' model_from_yaml of a config holding a numpy array (e.g. a
    Constant initializer from np.array), which to_yaml writes as a python/object/apply tag of numpy's reconstructor.
    Decided by the installed Keras (how its model_from_yaml calls yaml.load) and PyYAML (what that loader constructs),
    both read here.  Measured with keras 2.2.4 (py3.6, TF 1.12) and 2.2.5 (py3.7, TF 1.15) on PyYAML 3.13, 4.2b1, 5.1,
    5.1.2, 5.2, 5.3.1, 5.4, 5.4.1 and 6.0.1."""
    import keras
    import yaml

    keras_version, yaml_version = _release(keras.__version__), _release(yaml.__version__)
    where = "standalone Keras %s with PyYAML %s: model_from_yaml of a config holding a numpy array" % (
        keras.__version__, yaml.__version__)
    if yaml_version >= (5, 2):
        error = "ConstructorError: could not determine a constructor for the tag " + _NUMPY_TAG
    else:  # 5.1.x; before 5.1 only for keras 2.2.4, where it loads
        error = ("ConstructorError: while constructing a Python instance, expected a class, but found "
                 "<class 'builtin_function_or_method'>")
    if keras_version < (2, 2, 5):  # yaml.load(text): PyYAML's default loader (the unsafe one before 5.1)
        if yaml_version >= (6, 0):
            return Broken("%s: TypeError: load() missing 1 required positional argument: 'Loader'" % where)
        if yaml_version >= (5, 1):
            return Broken("%s fails: %s. Only the opt-in pin pyyaml<5.1 loads it (its yaml.load defaults to the "
                          "unsafe full Loader: CVE-2017-18342), which tfpin's pins leave out: a known residual"
                          % (where, error))
        return False
    # keras 2.2.5: yaml.load(text, Loader=yaml.FullLoader)
    if yaml_version < (5, 1):
        return Broken("%s fails: AttributeError: module 'yaml' has no attribute 'FullLoader' (keras 2.2.5 loads "
                      "with FullLoader, new in PyYAML 5.1)" % where)
    return Broken("%s fails: %s. No PyYAML release loads it (keras 2.2.5 loads with FullLoader: missing before 5.1, "
                  "refuses numpy's reconstructor from 5.1 on), so no opt-in pin closes it: a known residual"
                  % (where, error))


TABLE = {
    # TF 2.x runs the TF1 stack only with the v2 behaviours off (eager execution, resource variables, v2 TensorShape
    # whose dims have no .value, v2 control flow, Tensor.__eq__ as a value comparison): called once, by compat.core,
    # before anything builds a graph.
    "disable_v2_behavior": [((1, 12), _nothing), ((2, 0), "tensorflow:compat.v1.disable_v2_behavior")],
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
    # From TF 2.6 tf.keras is the separate `keras` package (tf-keras with TF_USE_LEGACY_KERAS from 2.16) and
    # tensorflow.python.keras a stale copy with its own classes and global session (measured on 2.11: its Layer is
    # not tf.keras.layers.Layer), so the tf.compat.v1.keras spelling is the one that is tf.keras.
    # tf.keras' own version string ('2.2.4-tf' on 1.13-1.15).
    "tf_keras_version": [((1, 12), "tensorflow:keras.__version__"), ((2, 6), _tf_keras_package_version)],
    "tf_keras_backend": [((1, 12), "tensorflow.python.keras:backend"), ((2, 6), "tensorflow:compat.v1.keras.backend")],
    "tf_keras_layer": [((1, 12), "tensorflow.python.keras.layers:Layer"),
                       ((2, 6), "tensorflow:compat.v1.keras.layers.Layer")],
    # The module whose Network class every tf.keras Model derives from (the counterpart of standalone Keras'
    # keras.engine.topology).  TF 2.3 merged Network into Model/Functional: engine/network.py exists on 2.0
    # (measured), not from 2.3 on (measured on 2.11: no such module in tensorflow.python.keras or keras).
    "tf_keras_topology": [((1, 12), "tensorflow.python.keras.engine.network:"),
                          ((2, 3), Broken("tf.keras has no Network class from TF 2.3 (merged into Model and "
                                          "Functional; tensorflow/python/keras/engine/network.py is gone)"))],
    "contrib_batch_norm": [((1, 12), "tensorflow:contrib.layers.batch_norm"),
                           ((2, 0), Broken("tf.contrib was removed in TF 2.0 (no tf.contrib.layers.batch_norm, and "
                                           "tf.compat.v1 never had contrib)"))],
    # Standalone Keras 2.2.x (the `keras` flavour) drives TF through its 1.x top-level names.  Measured with
    # keras 2.2.5 on TF 2.0.4: keras.layers.Input raises "RuntimeError: It looks like you are trying to use a
    # version of multi-backend Keras that does not support TensorFlow 2.0" (tf.get_default_graph is gone).  On
    # TF 2.6-2.15 `import keras` is tf.keras itself and from 2.16 Keras 3: neither is the standalone flavour.
    "standalone_keras_broken": [
        ((1, 12), False),
        ((2, 0), Broken("standalone Keras 2.2.x needs TF 1.x: keras 2.2.5 on TF 2.0.4 raises 'RuntimeError: It looks "
                        "like you are trying to use a version of multi-backend Keras that does not support "
                        "TensorFlow 2.0' at its first layer; TF 2.x cells use tf.keras only"))],
    # tf.saved_model.loader.load (also as tf.compat.v1.saved_model.load / .loader.load) notices from 1.13 ("will only
    # be available through the v1 compatibility library"); the class its body uses is silent and the same on 1.12-1.15.
    "saved_model_loader": [((1, 12), "tensorflow.python.saved_model.loader_impl:SavedModelLoader")],
    # 1.14/1.15 log "The name tf.estimator.inputs is deprecated" even for tf.compat.v1.estimator.inputs; the function
    # itself (tensorflow_estimator since 1.13) is silent.
    "numpy_input_fn": [((1, 12), "tensorflow:estimator.inputs.numpy_input_fn"),
                       ((1, 14), "tensorflow_estimator.python.estimator.inputs.numpy_io:numpy_input_fn"),
                       ((2, 16), Broken("tf.estimator was removed in TF 2.16 (TF 2.21: no tf.compat.v1.estimator, "
                                        "no tensorflow_estimator package)"))],
    # tf.estimator as a whole (tf1.estimator.Estimator, RunConfig, EstimatorSpec): False where it exists.
    "estimator_broken": [((1, 12), False),
                         ((2, 16), Broken("tf.estimator was removed in TF 2.16 (TF 2.21: no tf.compat.v1.estimator, "
                                          "no tensorflow_estimator package)"))],
    # Private TensorFlow the bench needs, in one place: selecting registered kernels by label (the conv-gradient
    # kernels, resnet_core/bench.py) and a traced step's Chrome trace. Both unchanged 1.12-1.15 (every table cell).
    "kernel_label_map": [((1, 12), "tensorflow.python.framework.ops:Graph._kernel_label_map")],
    "timeline": [((1, 12), "tensorflow.python.client.timeline:Timeline")],
    # Unported 1.x code (resnet_core/naive_tf1.py: tf.set_random_seed, tf.contrib, top-level tf.placeholder ...):
    # runs, with deprecation notices, on 1.x; stops at its first missing name on 2.x.
    "naive_tf1_broken": [((1, 12), False),
                         ((2, 0), Broken("TF 2.x has no tf.set_random_seed, tf.contrib or top-level 1.x graph names: "
                                         "unported 1.x code stops at its first missing name"))],
    # AutoGraph (Python control flow on tensors -> graph ops) is tf.contrib.autograph in 1.12, tf.autograph from 1.13.
    # It parses source with gast, which TF 1.12-1.14 leave unpinned (api-catalog.md: gast 0.7.0 breaks 1.13).
    "autograph_to_graph": [((1, 12), "tensorflow:contrib.autograph.to_graph"),
                           ((1, 13), "tensorflow:autograph.to_graph")],
    # A tf.keras Model as a SavedModel: adapter(model, path) -> the directory holding saved_model.pb.
    "tf_keras_export_saved_model": [((1, 12), _keras_export_contrib), ((1, 14), _keras_export_experimental),
                                    ((1, 15), _keras_export_save_format_tf)],
    # ... and back (1.15: load_from_saved_model notices "Please switch to tf.keras.models.load_model").
    "tf_keras_load_saved_model": [((1, 12), "tensorflow:contrib.saved_model.load_keras_model"),
                                  ((1, 14), "tensorflow:compat.v1.keras.experimental.load_from_saved_model"),
                                  ((1, 15), "tensorflow:compat.v1.keras.models.load_model")],
    # tf.keras 1.14 writes a BatchNormalization's `axis` (a tracking _ListWrapper) into to_yaml() as a python/object/new
    # tag with both `listitems` and `_storage`, so model_from_yaml fails with every PyYAML: "ValueError: Duplicate
    # axis: ListWrapper([3, 3])" (3.13, 5.1.2, 5.3.1), ConstructorError (5.4.1), no Loader (6.0.1).  1.12/1.13 write
    # an int.  1.15 writes a python/object/apply tag that loads with PyYAML 5.1.x only (5.2-5.4.1: ConstructorError;
    # 6.x: no Loader), and 5.1.x is the line with the published FullLoader advisories (fixed in 5.3.1 and 5.4), so
    # no pin can make it work safely: broken too.
    "tf_keras_yaml_batchnorm_broken": [
        ((1, 12), False),
        ((1, 14), Broken("tf.keras on TF 1.14: model_from_yaml of a BatchNormalization model fails with every PyYAML "
                         "(to_yaml writes axis as a _ListWrapper object that loads as ListWrapper([3, 3]): "
                         "Duplicate axis)")),
        ((1, 15), Broken("tf.keras on TF 1.15: model_from_yaml of a BatchNormalization model loads only with PyYAML "
                         "5.1.x (5.2-5.4.1: ConstructorError on the ListWrapper tag), whose FullLoader has published "
                         "advisories; tfpin does not pin an unsafe PyYAML for it")),
        # TF 2.0 writes the same python/object/apply ListWrapper tag (now tensorflow.python.training.tracking.
        # data_structures.ListWrapper): PyYAML 5.4.1 raises ConstructorError, 6.x has no Loader default.
        ((2, 0), Broken("tf.keras on TF 2.0: to_yaml writes a BatchNormalization's axis as a python/object/apply "
                        "ListWrapper tag; model_from_yaml with PyYAML 5.4.1 fails: ConstructorError: could not "
                        "determine a constructor for the tag ...ListWrapper"))],
    # NCHW max-pool on the CPU.  TF 1.x and 2.0 have no such kernel ("Default MaxPoolingOp only supports NHWC on
    # device type CPU": the NCHW tests skip); TF 2.11 and 2.15 run it through oneDNN (on by default) and return wrong
    # values: a fed [2, 8, 8, 4] uniform input, 3x3/2 pooling, differs from NHWC and from numpy by up to 0.39
    # (SAME) / 0.44 (VALID), while the constant-folded graph is right; TF_ENABLE_ONEDNN_OPTS=0 brings back the
    # missing-kernel error.  TF 2.21 returns numpy's values (2.16-2.20 not measured).
    "cpu_nchw_max_pool_broken": [
        ((1, 12), False),
        ((2, 11), Broken("TF 2.11-2.15 on CPU: an NCHW max-pool (oneDNN kernel) returns wrong values (3x3/2 on a fed "
                         "8x8 input: up to 0.39 off numpy and the NHWC result); TF 2.0 has no NCHW kernel, 2.21 is "
                         "right")),
        ((2, 21), False)],
    # Whether a CUDA build of TensorFlow means the cell meant to use a GPU (tests/cell/test_gpu.py fails such a
    # build that sees none).  TF 1.x and 2.0: the CPU wheel `tensorflow` has no CUDA (is_built_with_cuda() False,
    # measured on 1.12-1.15 and 2.0.4); a CUDA build is tensorflow-gpu, chosen for a GPU.  From TF 2.1 the plain
    # `tensorflow` wheel is the CUDA build (True on 2.11, 2.15, 2.21) and the ordinary CPU install as well.
    "cuda_build_means_gpu_broken": [
        ((1, 12), False),
        ((2, 1), Broken("from TF 2.1 the plain tensorflow wheel is built with CUDA (tf.test.is_built_with_cuda() "
                        "is True on 2.11, 2.15 and 2.21, False on 2.0.4) and is the CPU install too: a CUDA build "
                        "that sees no GPU is an ordinary CPU cell there, not a GPU cell missing its GPU"))],
    # Standalone Keras' model_from_yaml of a config holding a numpy array: decided by the installed Keras and PyYAML
    # (an adapter returning Broken(measured failure) or False; compat.keras.broken calls it).  TF 2.x never gets here:
    # the flavour itself is unavailable there (standalone_keras_broken).
    "standalone_keras_yaml_numpy_broken": [((1, 12), _standalone_keras_yaml_numpy)],
    # TF 2.6 replaced Model.to_yaml and model_from_yaml by functions that raise (arbitrary code execution).
    "tf_keras_yaml_broken": [
        ((1, 12), False),
        ((2, 6), Broken("tf.keras from TF 2.6: Model.to_yaml() raises RuntimeError: Method `model.to_yaml()` has "
                        "been removed due to a security risk of arbitrary code execution"))],
    # How the CPU training step is computed (never what), per build: the conv-gradient kernel set of resnet_core.bench
    # (CONV_BACKPROP_KERNELS), the gradient formulations of resnet_core.cpu_kernels (each checked numerically before
    # use) and the inter-op thread count (None: TF's default, one per core).  Measured on 2 cores, img/s vs TF's own
    # gradients, in-process interleaved windows (2026-11-29) or alternating runs, median of 3 (2026-11-30):
    # 1.12 and 1.13 bn_basic_ops + conv_filter_forward 1.49x / 1.37x (adding conv_input_forward: 1.42x / 1.33x);
    # 1.14 all three 1.40x (bn + filter 1.24x); 1.15 the Eigen conv-gradient kernels 1.30x, then bn_basic_ops +
    # conv_filter_forward on top 1.10x (py3.6) / 1.08x (py3.7), all three 1.07x.  "mkl": intel-tensorflow (MKL-DNN)
    # builds keep TF's gradients, whose rewritten _Mkl* kernels are already fast, and run one inter-op thread: two
    # inter-op threads each drive an OpenMP team of both cores (oversubscribed), 1 thread 1.14x (606.8 vs 534.2).
    # 1.15.2 only: earlier intel releases do not install.
    "cpu_training_kernels": [
        ((1, 12), {"stock": {"conv_backprop": "default", "gradients": ("bn_basic_ops", "conv_filter_forward"),
                             "inter_op_threads": None},
                   "mkl": {"conv_backprop": "default", "gradients": (), "inter_op_threads": 1}}),
        ((1, 14), {"stock": {"conv_backprop": "default",
                             "gradients": ("bn_basic_ops", "conv_input_forward", "conv_filter_forward"),
                             "inter_op_threads": None},
                   "mkl": {"conv_backprop": "default", "gradients": (), "inter_op_threads": 1}}),
        ((1, 15), {"stock": {"conv_backprop": "eigen", "gradients": ("bn_basic_ops", "conv_filter_forward"),
                             "inter_op_threads": None},
                   "mkl": {"conv_backprop": "default", "gradients": (), "inter_op_threads": 1}})],
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


def rows_since(first):
    """[(row name, version key of its entry here)] for rows whose entry on the running TF was added for `first` or
    later.  On a TF 2.x cell rows_since((2, 0)) is what running the TF1 stack there needed: the migration's compat
    rows (empty on 1.x)."""
    out = []
    for name, rows in sorted(TABLE.items()):
        keys = [tuple(f) for f, _ in rows if tuple(f) <= TF_VERSION]
        if keys and max(keys) >= tuple(first):
            out.append((name, max(keys)))
    return out
