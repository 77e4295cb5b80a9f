"""python -m resnet_core.bench: training throughput (images/sec) of the tower stack on CPU.

Measures what tf_cnn_benchmarks measures for its synthetic-data runs: forward, backward and the
momentum update (plus BN updates and L2 decay) on one synthetic batch repeated from a cached
tf.data pipeline, so the input costs nothing per step.  Weight EMA, the streaming accuracy and
global-norm clipping are off by default (they are bookkeeping, not the model) and can be
switched on to price them.  After warm-up steps (graph optimisation, allocator growth) several
timed windows are run and the median window is the result: the machine is shared and noisy.

How the step is computed (never what): --conv-backprop picks the CPU kernels of the conv gradients
and --gradients the gradient formulations of resnet_core.cpu_kernels; `table` (the default of both)
is compat's choice for this release and build (row "cpu_training_kernels", measured with
benchmarks/vs_tf_cnn_benchmarks.py), and every non-default choice is used only after its numerical
check against TensorFlow's own gradients passed on this very build.
"""
import argparse
import collections
import json
import sys
import time

from resnet_core.run import MODEL_BUILDERS, make_model_fn
from resnet_core.train import log_level_parser, parse_cli

# CPU kernels registered for the conv gradients: TF's default ("custom", im2col-style) ones or the
# Eigen tensor-contraction ones, chosen per graph through kernel labels.  Measured here: Eigen is
# ~10-30% faster on 1.15; on 1.14 the float kernel is not registered; on 1.12/1.13 it is
# registered but its filter gradient is WRONG (relative error ~1, sometimes inf).  So a
# non-default choice is only used after check_conv_backprop() proved it right on this build.
CONV_BACKPROP_KERNELS = {
    "default": {},
    "eigen": {"Conv2DBackpropFilter": "eigen_tensor", "Conv2DBackpropInput": "eigen_tensor"},
}
# (batch, size, in channels, out channels, stride): the stride-1 and stride-2 convs of a CIFAR ResNet.
CHECK_SHAPES = ((4, 8, 16, 16, 1), (4, 8, 16, 32, 2))


def check_conv_backprop(kernels, rtol=1e-4):
    """None if `kernels` computes the same conv gradients as TF's default kernels, else the reason."""
    import functools

    import numpy as np

    import compat
    from resnet_core.cpu_kernels import compare_gradients, conv_problem

    rng = np.random.RandomState(0)
    for batch, size, cin, cout, stride in CHECK_SHAPES:
        feeds = [rng.randn(batch, size, size, cin).astype(np.float32), rng.randn(3, 3, cin, cout).astype(np.float32)]
        reason = compare_gradients(functools.partial(conv_problem, stride, "SAME"), feeds, ("input", "filter"),
                                   lambda graph: compat.kernel_label_map(graph, CONV_BACKPROP_KERNELS[kernels]),
                                   rtol, "stride %d" % stride)
        if reason:
            return reason
    return None


def build_parser():
    from resnet_core.arch import model_names
    from resnet_core.batchnorm import IMPLEMENTATIONS
    from resnet_core.cpu_kernels import FORMULATIONS

    p = argparse.ArgumentParser(prog="python -m resnet_core.bench", parents=[log_level_parser()],
                                description="Training throughput of a ResNet on synthetic data.")
    p.add_argument("--api", choices=sorted(MODEL_BUILDERS), default="graph")
    p.add_argument("--model", choices=model_names(), default="resnet20")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--towers", type=int, default=1)
    p.add_argument("--bn", choices=tuple(IMPLEMENTATIONS), default="layers")
    p.add_argument("--data-format", choices=("NHWC", "NCHW"), default="NHWC")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: TF's choice)")
    p.add_argument("--inter-threads", type=int, default=None,
                   help="inter-op threads (default: compat's measured choice for this build: 1 on MKL builds, "
                        "else TF's own)")
    p.add_argument("--conv-backprop", choices=sorted(CONV_BACKPROP_KERNELS) + ["auto", "table"], default="table",
                   help="CPU kernels for the conv gradients; auto times both, interleaved, and keeps the faster; "
                        "table (default): compat's measured choice for this release and build")
    p.add_argument("--gradients", default="table",
                   help="gradient formulations (resnet_core.cpu_kernels): table (default: compat's measured choice), "
                        "tf (TensorFlow's own gradient functions only), or a comma-separated list of %s"
                   % ", ".join(FORMULATIONS))
    p.add_argument("--warmup", type=int, default=5, help="untimed steps")
    p.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    p.add_argument("--window-steps", type=int, default=10, help="steps per timed window")
    p.add_argument("--ema-decay", type=float, default=0.0, help="weight EMA (0 = off)")
    p.add_argument("--clip-norm", type=float, default=0.0, help="global-norm clip (0 = off)")
    p.add_argument("--weight-decay", type=float, default=2e-4)
    p.add_argument("--metrics", action="store_true", help="also run the streaming accuracy")
    p.add_argument("--keras-fit", choices=("none", "keras", "tf.keras"), default="none",
                   help="also time model.fit of the same ResNet in this Keras flavour (keras_images_per_sec)")
    p.add_argument("--trace", default=None, help="write a Chrome trace (timeline JSON) of one step here")
    p.add_argument("--json", action="store_true")
    return p


def parse_args(argv=None):
    return parse_cli(build_parser, validate, argv)


def validate(parser, args):
    positive = ("image_size", "batch_size", "towers", "windows", "window_steps")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error("--%s must be >= 1, got %d" % (name.replace("_", "-"), getattr(args, name)))
    if args.warmup < 0:
        parser.error("--warmup must be >= 0, got %d" % args.warmup)
    if args.batch_size % args.towers:
        parser.error("--batch-size %d is not divisible by --towers %d" % (args.batch_size, args.towers))
    for name in ("threads", "inter_threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error("--%s must be >= 1" % name.replace("_", "-"))
    if args.gradients not in ("table", "tf"):
        from resnet_core.cpu_kernels import FORMULATIONS

        unknown = [g for g in args.gradients.split(",") if g not in FORMULATIONS]
        if unknown:
            parser.error("--gradients: unknown formulation(s) %s (table, tf, or a list of %s)"
                         % (", ".join(unknown), ", ".join(FORMULATIONS)))


def inter_op_threads(args):
    """--inter-threads, else compat's measured choice for this build (None: TF's default)."""
    import compat

    if args.inter_threads is not None:
        return args.inter_threads
    return compat.cpu_training_kernels()["inter_op_threads"]


def _session_config(args, cpu_devices):
    from compat import session_config

    config = session_config(threads=args.threads, cpu_devices=cpu_devices)
    inter = inter_op_threads(args)
    if inter is not None:
        config.inter_op_parallelism_threads = inter
    return config


def choose_gradients(choice):
    """(formulations to use, {formulation: why not}) for a --gradients value; every one is checked first."""
    import compat
    from resnet_core import cpu_kernels

    if choice == "tf":
        return [], {}
    names = list(compat.cpu_training_kernels()["gradients"]) if choice == "table" else choice.split(",")
    used, unavailable = [], {}
    for name in names:
        reason = cpu_kernels.check(name)
        if reason:
            unavailable[name] = reason
        else:
            used.append(name)
    return used, unavailable


def choose_conv_backprop(choice):
    """(kernel-set names to build, {name: why not}) for a --conv-backprop value; non-default sets are checked first."""
    import compat

    if choice == "auto":
        names = sorted(CONV_BACKPROP_KERNELS)
    elif choice == "table":
        names = [compat.cpu_training_kernels()["conv_backprop"]]
    else:
        names = [choice]
    unavailable = {}
    for name in names:
        reason = check_conv_backprop(name) if CONV_BACKPROP_KERNELS[name] else None
        if reason:
            unavailable[name] = reason
    usable = [name for name in names if name not in unavailable]
    if not usable and choice == "table":  # the table's choice failed its check here: TF's default kernels
        usable = ["default"]
    if not usable:
        raise SystemExit("--conv-backprop %s: %s" % (choice, "; ".join(unavailable.values())))
    return usable, unavailable


class _Candidate(object):
    """One built, initialised training graph with its own session, ready to time."""

    def __init__(self, args, kernels, gradients=()):
        import compat
        from compat import tf1
        from resnet_core import data
        from resnet_core.arch import resnet_arch
        from resnet_core.cpu_kernels import override_map
        from resnet_core.training import build_training, initialize

        arch = resnet_arch(args.model)
        self.devices = compat.tower_devices(args.towers)
        cpu_devices = args.towers if any("cpu" in d.lower() for d in self.devices) else None
        self.graph = tf1.Graph()
        # The kernel labels (compat: a private TF map) and the gradient override map are read when the forward
        # ops are created, so both wrap the whole build.
        with self.graph.as_default(), compat.kernel_label_map(self.graph, CONV_BACKPROP_KERNELS[kernels]), \
                self.graph.gradient_override_map(override_map(gradients)):
            tf1.set_random_seed(0)
            shape = (args.image_size, args.image_size, 3)
            dataset = data.cached_batch_input(args.batch_size, shape, arch.num_classes)
            images, labels = compat.make_one_shot_iterator(dataset).get_next()
            model_fn = make_model_fn(args.api, arch, args.bn, args.data_format)
            self.tg = build_training(images, labels, model_fn, self.devices, learning_rate=0.01,
                                     weight_decay=args.weight_decay, clip_norm=args.clip_norm or None,
                                     ema_decay=args.ema_decay or None, loss_ema_decay=None, metrics=args.metrics)
            self.fetches = [self.tg.train_op] + ([self.tg.accuracy_update] if args.metrics else [])
            self.session = tf1.Session(graph=self.graph, config=_session_config(args, cpu_devices))
            initialize(self.session)
        self.windows = []

    def steps(self, count):
        for _ in range(count):
            self.session.run(self.fetches)

    def window(self, steps, batch_size):
        start = time.time()
        self.steps(steps)
        self.windows.append(steps * batch_size / (time.time() - start))

    def close(self):
        import numpy as np

        loss = float(self.session.run(self.tg.mean_loss))
        self.session.close()
        return bool(np.isfinite(loss))


def run(args):
    """Build, warm up, time; returns the result dict.

    With --conv-backprop auto both kernel choices are built and their windows interleaved
    (A, B, A, B, ...), so both see the same machine load; the faster median is reported.
    """
    import numpy as np

    names, unavailable = choose_conv_backprop(args.conv_backprop)
    gradients, gradients_unavailable = choose_gradients(args.gradients)
    candidates = dict((name, _Candidate(args, name, gradients)) for name in names)
    for cand in candidates.values():
        cand.steps(args.warmup)
    if args.trace:
        _write_trace(candidates[names[0]], args.trace)
    for _ in range(args.windows):
        for name in names:
            candidates[name].window(args.window_steps, args.batch_size)
    medians = dict((name, float(np.median(c.windows))) for name, c in candidates.items())
    best = max(names, key=lambda name: medians[name])
    finite = all([c.close() for c in candidates.values()])
    result = {
        "model": args.model, "api": args.api, "batch_size": args.batch_size, "image_size": args.image_size,
        "towers": args.towers, "devices": list(candidates[best].devices), "bn": args.bn,
        "data_format": args.data_format, "conv_backprop": best,
        "conv_backprop_medians": medians if args.conv_backprop == "auto" else None,
        "conv_backprop_unavailable": unavailable,
        "gradients": gradients, "gradients_unavailable": gradients_unavailable,
        "threads": args.threads, "inter_threads": inter_op_threads(args), "ema": bool(args.ema_decay),
        "clip": bool(args.clip_norm), "metrics": args.metrics, "warmup": args.warmup,
        "window_steps": args.window_steps, "windows": candidates[best].windows,
        "images_per_sec": medians[best], "loss_finite": finite,
        # What makes two figures comparable: the same gradient formulations ([] = TF's own gradients).
        "computed_as": {"gradients": ",".join(gradients) or "tf"},
    }
    if args.keras_fit != "none":
        result.update(keras_fit(args))
    return result


def keras_fit(args):
    """model.fit of the same network, same batch and input, for the Keras-vs-graph ratio."""
    from resnet_core.keras_model import keras_fit_throughput

    data_format = "channels_last" if args.data_format == "NHWC" else "channels_first"
    rates = [keras_fit_throughput(args.model, args.keras_fit, args.batch_size, args.window_steps * 2,
                                  image_shape=(args.image_size, args.image_size, 3), data_format=data_format,
                                  threads=args.threads, warmup_steps=args.warmup)
             for _ in range(3)]
    return {"keras_fit_flavour": args.keras_fit, "keras_fit_windows": rates,
            "keras_images_per_sec": sorted(rates)[1]}


def _write_trace(candidate, path):
    """One fully traced step as a Chrome trace, to see where the time goes."""
    import compat
    from compat import tf1

    options = tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE)
    metadata = tf1.RunMetadata()
    candidate.session.run(candidate.fetches, options=options, run_metadata=metadata)
    with open(path, "w") as f:
        f.write(compat.chrome_trace(metadata.step_stats))


def compat_describe():
    import compat

    return compat.describe()


def tfpin_figures(result):
    """The keys tfpin reads (its bench contract, tfpin/cell/bench.py): `figures`, name -> img/s with the graph step's
    first (the headline tfpin bench puts in the report and beside stock), then Keras fit's when timed; `finite`,
    false when the loss diverged (then no figures). The other keys stay as they were, for
    benchmarks/vs_tf_cnn_benchmarks.py and the cell tests."""
    result["finite"] = result["loss_finite"]
    if result["finite"]:
        figures = collections.OrderedDict([("graph img/s", result["images_per_sec"])])
        if result.get("keras_images_per_sec"):
            figures["%s fit img/s" % result["keras_fit_flavour"]] = result["keras_images_per_sec"]
        result["figures"] = figures
    return result


def main(argv=None):
    args = parse_args(argv)
    result = run(args)
    # Versions in main only: describe() imports Keras, seconds that run() callers need not pay.
    result.update(dict((k, v) for k, v in compat_describe().items() if k in ("tensorflow", "keras", "python")))
    if not result["loss_finite"]:  # the speed of a diverged run is not a throughput
        result["images_per_sec"] = None
        sys.stderr.write("bench: the training loss was not finite after the timed steps; no throughput reported\n")
    tfpin_figures(result)
    if args.json:  # keys in the order written: the order of `figures` is the order tfpin shows them in
        sys.stdout.write(json.dumps(result) + "\n")
    if not result["loss_finite"]:
        return 1
    if not args.json:
        sys.stdout.write("%s batch %d x%d tower(s): %.1f img/s (median of %s; conv gradients: %s %s; "
                         "gradient formulations: %s)\n" % (
            result["model"], result["batch_size"], result["towers"], result["images_per_sec"],
            ", ".join("%.1f" % w for w in result["windows"]), result["conv_backprop"],
            result["conv_backprop_medians"] or "", ", ".join(result["gradients"]) or "TF's own"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
