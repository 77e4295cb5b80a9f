"""python -m resnet_core.train: train a ResNet with the TF1 tower stack and report as JSON.

TensorFlow is imported only after --log-level has been applied (TF_CPP_MIN_LOG_LEVEL must be set
before TF logs anything), so this module keeps TF-using imports inside functions.

Model flavours are pluggable: MODEL_BUILDERS maps an --api value to a factory
`factory(arch, bn, data_format) -> model_fn(images, training) -> logits`; model_fn is called once
per tower inside `variable_scope('resnet', reuse=i > 0)` and must create its variables there.

--ps P --workers W trains on a local TensorFlow cluster instead (resnet_core.cluster): this module
only validates the flags and dispatches; the launcher never imports TensorFlow itself.
"""
import argparse
import json
import sys
import tempfile

from resnet_core.run import (  # noqa: F401
    DATASET_DEFAULTS,
    MODEL_BUILDERS,
    apply_dataset_defaults,
    available_apis,
    describe_model,
    evaluate_checkpoint,
    finish_run,
    make_model_fn,
    prepare,
    run_steps,
    seeded_numpy,
    unavailable_api,
    versions,
)

DEFAULTS = dict(model="resnet20", dataset="synthetic", towers=1, steps=None, batch_size=64, seed=0, lr=0.1,
                ema_decay=0.999, clip_norm=5.0, weight_decay=2e-4, bn="layers", data_format="NHWC",
                log_level=None, log_every=0, json=False, threads=None, checkpoint_dir=None, api="graph",
                evaluate=True, ps=0, workers=0)


def log_level_parser():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--log-level", type=int, choices=(0, 1, 2, 3), default=None,
                   help="TF_CPP_MIN_LOG_LEVEL: 0 all, 1 no INFO, 2 no WARNING, 3 no ERROR")
    return p


def build_parser():
    from resnet_core.arch import model_names
    from resnet_core.batchnorm import IMPLEMENTATIONS

    p = argparse.ArgumentParser(prog="python -m resnet_core.train", parents=[log_level_parser()],
                                description="Train a ResNet with the TF1 multi-tower stack.")
    p.add_argument("--api", choices=sorted(MODEL_BUILDERS), default=DEFAULTS["api"])
    p.add_argument("--model", choices=model_names(), default=DEFAULTS["model"])
    p.add_argument("--dataset", choices=("synthetic", "digits"), default=DEFAULTS["dataset"])
    p.add_argument("--towers", type=int, default=DEFAULTS["towers"], help="data-parallel towers (>= 1)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help="training steps; default: the dataset's (%s); 0: build and print a summary only"
                   % ", ".join("%s %d" % (name, row["steps"]) for name, row in sorted(DATASET_DEFAULTS.items())))
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="global batch, split over towers")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="momentum-SGD learning rate")
    p.add_argument("--ema-decay", type=float, default=DEFAULTS["ema_decay"], help="weight EMA decay, 0 = off")
    p.add_argument("--clip-norm", type=float, default=DEFAULTS["clip_norm"], help="global-norm clip, 0 = off")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"], help="L2 on kernels")
    p.add_argument("--bn", choices=tuple(IMPLEMENTATIONS), default=DEFAULTS["bn"])
    p.add_argument("--data-format", choices=("NHWC", "NCHW"), default=DEFAULTS["data_format"])
    p.add_argument("--log-every", type=int, default=DEFAULTS["log_every"], help="progress line to stderr every N steps")
    p.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    p.add_argument("--threads", type=int, default=None, help="intra- and inter-op threads")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--no-eval", dest="evaluate", action="store_false",
                   help="skip the test-set evaluation (test_accuracy is null)")
    p.add_argument("--ps", type=int, default=DEFAULTS["ps"],
                   help="parameter-server tasks of a local TF cluster (with --workers; see resnet_core.cluster)")
    p.add_argument("--workers", type=int, default=DEFAULTS["workers"],
                   help="synchronous worker tasks on 127.0.0.1; the global batch is split over them")
    return p


def validate(parser, args):
    """Range checks argparse cannot express; parser.error exits 2 naming the argument."""
    apply_dataset_defaults(args)
    checks = [
        (args.towers >= 1, "--towers must be >= 1, got %d" % args.towers),
        (args.steps >= 0, "--steps must be >= 0, got %d" % args.steps),
        (args.batch_size >= 1, "--batch-size must be >= 1, got %d" % args.batch_size),
        (args.batch_size % max(args.towers, 1) == 0,
         "--batch-size %d is not divisible by --towers %d" % (args.batch_size, args.towers)),
        (args.lr > 0, "--lr must be > 0, got %g" % args.lr),
        (0 <= args.ema_decay < 1, "--ema-decay must be in [0, 1), got %g" % args.ema_decay),
        (args.clip_norm >= 0, "--clip-norm must be >= 0, got %g" % args.clip_norm),
        (args.weight_decay >= 0, "--weight-decay must be >= 0, got %g" % args.weight_decay),
        (args.log_every >= 0, "--log-every must be >= 0, got %d" % args.log_every),
        (args.threads is None or args.threads >= 1, "--threads must be >= 1, got %s" % args.threads),
        (args.ps >= 0, "--ps must be >= 0, got %d" % args.ps),
        (args.workers >= 0, "--workers must be >= 0, got %d" % args.workers),
    ]
    if args.ps or args.workers:
        checks += [
            (args.workers >= 1, "--ps %d needs --workers >= 1" % args.ps),
            (args.ps >= 1, "--workers %d needs --ps >= 1 (the variables live on parameter servers)" % args.workers),
            (args.towers == 1, "--towers must be 1 with --workers (one tower per worker), got %d" % args.towers),
            (args.steps >= 1, "--steps must be >= 1 with --workers (0 only prints a summary), got %d" % args.steps),
            (args.batch_size % max(args.workers, 1) == 0,
             "--batch-size %d is not divisible by --workers %d" % (args.batch_size, args.workers)),
        ]
    for ok, message in checks:
        if not ok:
            parser.error(message)


def parse_cli(build, check, argv=None):
    """Apply --log-level first (before TF is imported), then parse with build() and check(parser, args)."""
    early, _ = log_level_parser().parse_known_args(argv)
    if early.log_level is not None:
        from compat.logs import set_log_level

        set_log_level(early.log_level)
    parser = build()
    args = parser.parse_args(argv)
    check(parser, args)
    return args


def parse_args(argv=None):
    return parse_cli(build_parser, validate, argv)


def config_from(**overrides):
    """An args-like namespace with DEFAULTS, for calling train() from Python."""
    values = dict(DEFAULTS)
    unknown = set(overrides) - set(values)
    if unknown:
        raise TypeError("unknown training options: %s" % sorted(unknown))
    values.update(overrides)
    return apply_dataset_defaults(argparse.Namespace(**values))


def train(args, progress=None):
    """Build and run the training graph; returns the result dict the CLI prints.

    progress: optional callable(str) for --log-every lines.
    """
    import compat
    from compat import session_config, tf1
    from resnet_core import checkpoint, data
    from resnet_core.training import build_training, initialize

    arch, (x_train, y_train, x_test, y_test), model_fn = prepare(args)
    devices = compat.tower_devices(args.towers)
    cpu_devices = args.towers if any("cpu" in d.lower() for d in devices) else None

    if args.steps == 0:
        with tf1.Graph().as_default(), seeded_numpy(args.seed):
            images = tf1.placeholder(tf1.float32, (None,) + x_train.shape[1:], name="images")
            with tf1.variable_scope("resnet"):
                model_fn(images, True)
            return describe_model(args, devices, len(tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)))

    graph = tf1.Graph()
    with graph.as_default():
        tf1.set_random_seed(args.seed)
        dataset = data.make_input(x_train, y_train, args.batch_size, repeat=True, shuffle_seed=args.seed)
        images, labels = compat.make_one_shot_iterator(dataset).get_next()
        with seeded_numpy(args.seed):
            tg = build_training(images, labels, model_fn, devices, learning_rate=args.lr,
                                weight_decay=args.weight_decay, clip_norm=args.clip_norm or None,
                                ema_decay=args.ema_decay or None)
        result = describe_model(args, devices, len(tg.update_ops))
        saver = checkpoint.saver_for_training() if (args.evaluate or args.checkpoint_dir) else None
        config = session_config(threads=args.threads, cpu_devices=cpu_devices)
        with tf1.Session(graph=graph, config=config) as sess:
            initialize(sess)
            loop = run_steps(sess, [tg.train_op, tg.mean_loss, tg.accuracy_update], tg.smoothed_loss, args.steps,
                             args.log_every, progress)
            ckpt = ckpt_dir = None
            if args.evaluate or args.checkpoint_dir:
                ckpt_dir = args.checkpoint_dir or tempfile.mkdtemp(prefix="resnet_core_")
                ckpt = checkpoint.save(sess, ckpt_dir, tg.global_step, saver)
    return finish_run(args, result, loop, ckpt, ckpt_dir, model_fn, x_test, y_test)


def _print_summary(result, out):
    keys = ("model", "api", "bn", "data_format", "towers", "devices", "trainable_params", "layers",
            "model_variables", "update_ops", "tensorflow", "keras")
    for key in keys:
        out.write("%-17s %s\n" % (key, result[key]))


def main(argv=None):
    args = parse_args(argv)

    def progress(line):
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    if args.workers:
        from resnet_core import cluster

        try:  # the tasks report versions themselves: this process never imports TensorFlow
            result = cluster.launch(args, progress, log=progress)
        except cluster.ClusterError as exc:
            sys.stderr.write("error: %s\n" % exc)
            return 1
    else:
        result = train(args, progress)
        result.update(versions())  # in main only: describe() imports Keras, seconds that train() callers need not pay
    if args.json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    elif args.steps == 0:
        _print_summary(result, sys.stdout)
    else:
        sys.stdout.write("%s: final loss %.4f, train acc %.4f, test acc %.4f, %.1f img/s\n" % (
            result["model"], result["final_loss"], result["train_accuracy"], result["test_accuracy"],
            result["images_per_sec"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
