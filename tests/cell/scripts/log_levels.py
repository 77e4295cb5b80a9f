"""Emit one DEBUG/INFO/WARNING/ERROR message from TF's Python logger and one INFO/WARNING/ERROR
line from TF's C++ runtime, after compat.logs.set_log_level(LEVEL) and BEFORE importing TF.

Usage: log_levels.py LEVEL.  Run as a file in a fresh process (the C++ level is read once).
The C++ messages are real TF behaviour, not our prints:
  INFO    placer.cc logs each node's device when log_device_placement=True (node TFPIN_CPP_INFO)
  WARNING op_kernel.cc "OP_REQUIRES failed" when ReadFile cannot open /nonexistent/TFPIN_CPP_WARNING
  ERROR   logging_ops.cc: the PrintV2 kernel writing to the C++ error log (tf.print with
          output_stream=tf.logging.error), on every release 1.12-2.21.  Before it, a kernel that cannot be
          created (an NCHW MaxPool on CPU, then MaxPool over the batch dimension, which intel-tensorflow's MKL
          runs in NCHW) made executor.cc log "Executor failed to create kernel"; TF 2.11 and later only return
          that error, logging nothing.
"""
import sys

from compat import logs
from compat.logs import set_log_level

set_log_level(int(sys.argv[1]))
# The level must be settable before TensorFlow loads: neither import spelling may load it.
assert "tensorflow" not in sys.modules and logs.set_log_level is set_log_level, "compat.logs imported TensorFlow"

import compat  # noqa: E402
from compat import tf1  # noqa: E402

log = compat.get_logger()
for severity in ("debug", "info", "warning", "error"):
    getattr(log, severity)("TFPIN-PY-%s", severity.upper())

nhwc = tf1.placeholder(tf1.float32, [1, 4, 4, 1])
info = tf1.multiply(nhwc, 2.0, name="TFPIN_CPP_INFO")
warning = tf1.read_file(tf1.constant("/nonexistent/TFPIN_CPP_WARNING"))
error = tf1.print("TFPIN_CPP_ERROR", output_stream=tf1.logging.error)
with tf1.Session(config=compat.session_config(threads=1, log_device_placement=True)) as sess:
    sess.run(info, {nhwc: [[[[1.0]] * 4] * 4]})
    try:
        sess.run(warning)
    except tf1.errors.NotFoundError:
        pass
    else:
        raise AssertionError("%s should have failed" % warning.name)
    sess.run(error)
print("TFPIN-DONE")
