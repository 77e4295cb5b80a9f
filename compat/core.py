"""The version-neutral API resnet_core and the tests program against.

Everything version-dependent is looked up in `compat.table`; this module only adapts
call shapes (e.g. a keyword that was renamed) so callers write one spelling.
"""
import platform

from compat.table import TF_VERSION, Broken, resolve, tf

__all__ = [
    "tf", "tf1", "TF_VERSION", "AUTOTUNE", "make_one_shot_iterator", "make_initializable_iterator",
    "dataset_output_shapes", "moments", "assign_moving_average", "fused_batch_norm", "conv2d",
    "contrib_batch_norm", "session_config", "gpu_devices", "tower_devices", "get_logger", "describe",
    "load_saved_model", "numpy_input_fn", "autograph_to_graph", "load_variables", "unavailable",
    "cpu_training_kernels",
]

resolve("disable_v2_behavior")()
tf1 = resolve("tf1")
AUTOTUNE = resolve("AUTOTUNE")
# Silent on every version (the top-level tf.nn.fused_batch_norm name warns on 1.14+).
fused_batch_norm = tf1.nn.fused_batch_norm


def unavailable(name):
    """Why the compat.table row `name` cannot work on this TF (its Broken reason, the measured failure), or None.

    Tests skip with this reason; code that needs the row anyway gets the same words from `resolve`-based calls.
    """
    value = resolve(name)
    return value.reason if isinstance(value, Broken) else None


def _working(name):
    """resolve(name), raising with the measured reason where the row is Broken on this TF."""
    value = resolve(name)
    if isinstance(value, Broken):
        raise RuntimeError("TensorFlow %s: %s" % (tf.__version__, value.reason))
    return value


def make_one_shot_iterator(dataset):
    return resolve("make_one_shot_iterator")(dataset)


def make_initializable_iterator(dataset):
    return resolve("make_initializable_iterator")(dataset)


def dataset_output_shapes(dataset):
    return resolve("dataset_output_shapes")(dataset)


def moments(x, axes, keepdims=False, name=None):
    """tf.nn.moments (biased variance) with one spelling of the keep-dims keyword."""
    kwargs = {resolve("moments_keepdims_kwarg"): keepdims}
    return tf1.nn.moments(x, axes, name=name, **kwargs)


def assign_moving_average(variable, value, decay, zero_debias, name=None):
    """moving_averages.assign_moving_average; `zero_debias` has no default on purpose.

    TF's default is zero_debias=True (adds `biased`/`local_step` variables and makes the
    first update jump to the value itself); the TF BN layers use False.  Callers must choose.
    """
    return resolve("assign_moving_average")(variable, value, decay, zero_debias=zero_debias, name=name)


def conv2d(x, kernel, stride, padding="SAME", data_format="NHWC"):
    """tf.nn.conv2d with positional filter/strides/padding (1.14 renamed `filter` to `filters`)."""
    strides = [1, 1, stride, stride] if data_format == "NCHW" else [1, stride, stride, 1]
    return tf.nn.conv2d(x, kernel, strides, padding, data_format=data_format)


def contrib_batch_norm():
    """tf.contrib.layers.batch_norm, loaded on demand (tf.contrib is slow to load and notices on 1.13+)."""
    return _working("contrib_batch_norm")


def kernel_label_map(graph, labels):
    """A context in which `graph`'s new ops use the kernels registered under these labels ({op type: label})."""
    return resolve("kernel_label_map")(graph, labels)


def chrome_trace(step_stats):
    """A traced step's RunMetadata.step_stats as Chrome trace JSON (chrome://tracing, Perfetto)."""
    return resolve("timeline")(step_stats).generate_chrome_trace_format()


def load_saved_model(sess, tags, export_dir):
    """tf.saved_model.loader.load(sess, tags, export_dir) without its 1.13+ deprecation notice; the MetaGraphDef."""
    return resolve("saved_model_loader")(export_dir).load(sess, tags)


def numpy_input_fn(x, y=None, **kwargs):
    """tf.estimator.inputs.numpy_input_fn, through the spelling that logs no name notice on this TF."""
    return resolve("numpy_input_fn")(x, y, **kwargs)


def autograph_to_graph(function):
    """AutoGraph's to_graph: `function` with its Python `if`/`while` on tensors turned into graph control flow."""
    return resolve("autograph_to_graph")(function)


def get_logger():
    """TensorFlow's Python logger (the `tensorflow` logging.Logger)."""
    return resolve("get_logger")()


def load_variables(session, values):
    """Variable.load for many variables in ONE Session.run: {variable: ndarray}.

    load() feeds the value into the variable's initializer (Assign / AssignVariableOp, value at input 1)
    and runs it, one run per variable: ~100 runs to set a ResNet-18, against one here.
    """
    items = list(values.items())
    session.run([v.initializer for v, _ in items], {v.initializer.inputs[1]: value for v, value in items})


def session_config(threads=None, cpu_devices=None, soft_placement=True, log_device_placement=False,
                   gpu_allow_growth=True):
    """ConfigProto for our sessions.

    threads=1 makes reductions deterministic (intra/inter op pools of one thread);
    cpu_devices=N creates N virtual CPU devices so /cpu:0../cpu:N-1 towers can run here
    (without it, placing an op on /cpu:1 is an InvalidArgumentError).
    gpu_allow_growth: take GPU memory as needed instead of TF's default of nearly all of every
    visible GPU (tests, a bench and an eval job can then share a GPU); no effect without a GPU.
    """
    kwargs = {"allow_soft_placement": soft_placement, "log_device_placement": log_device_placement}
    if threads is not None:
        kwargs["intra_op_parallelism_threads"] = threads
        kwargs["inter_op_parallelism_threads"] = threads
    if cpu_devices is not None:
        kwargs["device_count"] = {"CPU": int(cpu_devices)}
    config = tf1.ConfigProto(**kwargs)
    config.gpu_options.allow_growth = bool(gpu_allow_growth)
    return config


def cpu_training_kernels():
    """{"conv_backprop": kernel-set name, "gradients": formulations}: the measured fastest way to compute the CPU
    training step on this release and build (stock or MKL), from compat.table's "cpu_training_kernels" row."""
    return dict(resolve("cpu_training_kernels")["mkl" if _mkl_enabled() else "stock"])


def gpu_devices():
    """Visible GPUs as '/gpu:i' strings (empty on CPU-only cells)."""
    return ["/gpu:%d" % i for i in range(len(resolve("list_gpus")()))]


def tower_devices(n):
    """Devices for n towers: GPUs if there are enough, else virtual CPUs.

    With CPUs the caller must create its session with session_config(cpu_devices=n).
    """
    n = int(n)
    if n < 1:
        raise ValueError("need at least one tower, got %d" % n)
    gpus = gpu_devices()
    if len(gpus) >= n:
        return gpus[:n]
    return ["/cpu:%d" % i for i in range(n)]


def describe():
    """Versions and devices of this cell, for reports (cheap enough to call once per run)."""
    import numpy
    from google import protobuf

    info = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "tf_version_table_key": "%d.%d" % TF_VERSION,
        "tf.keras": _tf_keras_version(),
        "keras": _optional_version("keras"),
        "numpy": numpy.__version__,
        "protobuf": protobuf.__version__,
        "h5py": _optional_version("h5py"),
        "gpus": gpu_devices(),
        "mkl": _mkl_enabled(),
        "fused_batch_norm_op": _fused_bn_op_type(),
    }
    return info


def _tf_keras_version():
    version = resolve("tf_keras_version")
    return version() if callable(version) else version


def _optional_version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return getattr(module, "__version__", None)


def _mkl_enabled():
    try:
        from tensorflow.python.framework import test_util
        return bool(test_util.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def _fused_bn_op_type():
    """Measured, not tabled: the op type tf.nn.fused_batch_norm creates on this TF."""
    with tf1.Graph().as_default():
        x = tf1.placeholder(tf.float32, [1, 1, 1, 1])
        y = fused_batch_norm(x, tf1.ones([1]), tf1.zeros([1]), is_training=True)[0]
        return y.op.type

