"""The one place that knows TensorFlow/Keras versions.

Everything else imports the TF1 graph API from here (`from compat import tf1`)
and never looks at a version number itself.

Importing this package does NOT import TensorFlow: the public names (`tf`, `tf1`,
`TF_VERSION`, `session_config`, ...) live in `compat.core` and are loaded on first
attribute access.  The reason is `compat.logs.set_log_level`: TF_CPP_MIN_LOG_LEVEL is
read once by TensorFlow's C++ runtime, so it must be set before `import tensorflow`,
and `import compat.logs` always executes this file first.  (Python 3.6 has no
module-level `__getattr__` (PEP 562), hence the module-class swap below.)
"""
import importlib
import importlib.util
import os
import sys
import types

# TF >= 2.16 makes tf.keras Keras 3, which has no graph mode; with the tf-keras package installed and this
# variable set before `import tensorflow`, tf.keras (and tf.compat.v1.keras) is tf-keras, i.e. Keras 2.  Read by
# TensorFlow's import only: TF 1.x and TF 2.0-2.15 never look at it.  Set only where tf-keras is installed
# (without it TF >= 2.16 would fail to import tf.keras), and never over a value the user chose.
if importlib.util.find_spec("tf_keras") is not None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

_CORE = "compat.core"
_SUBMODULES = ("logs", "keras", "table", "core")


class _LazyCompat(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError("module 'compat' has no attribute %r" % (name,))
        if name in _SUBMODULES:  # `from compat import logs` probes the attribute first: don't load TF for it
            return importlib.import_module(__name__ + "." + name)
        core = importlib.import_module(_CORE)
        try:
            value = getattr(core, name)
        except AttributeError:
            raise AttributeError("module 'compat' has no attribute %r" % (name,)) from None
        setattr(self, name, value)
        return value

    def __dir__(self):
        names = set(super(_LazyCompat, self).__dir__())
        if _CORE in sys.modules:
            names.update(getattr(sys.modules[_CORE], "__all__", ()))
        return sorted(names)


sys.modules[__name__].__class__ = _LazyCompat
