"""The two command lines: `python -m resnet_core.train` and `python -m resnet_core.bench`."""
import json
import os
import subprocess
import sys

import background
import pytest

from resnet_core import train

REPO = background.REPO
TRAIN_KEYS = {"model", "trainable_params", "steps", "final_loss", "train_accuracy", "test_accuracy",
              "images_per_sec", "tensorflow", "keras"}
RESNET20_CIFAR_PARAMS = 269722  # He et al. 2016, option A, 32x32x3 input, 10 classes
RESNET8_CIFAR_PARAMS = 75290  # the same recipe with n = 1 (test_params.cifar_closed_form(8))


# resnet8: the JSON and the step lines are the subject (resnet20's count is checked by --steps 0 below).
TRAIN_RUN = ["resnet_core.train", "--model", "resnet8", "--dataset", "synthetic", "--steps", "2", "--batch-size", "4",
             "--towers", "2", "--log-every", "1", "--log-level", "2", "--json"]
BENCH_RUN = ["resnet_core.bench", "--model", "resnet8", "--batch-size", "8", "--image-size", "16", "--warmup", "1",
             "--windows", "2", "--window-steps", "1", "--conv-backprop", "auto", "--log-level", "2", "--json"]
# A diverged run, on purpose: L2 decay of 1e38 overflows the loss to inf at the first step.
DIVERGED_BENCH_RUN = ["resnet_core.bench", "--model", "resnet8", "--batch-size", "4", "--image-size", "8", "--warmup",
                      "1", "--windows", "1", "--window-steps", "1", "--conv-backprop", "default", "--weight-decay",
                      "1e38", "--log-level", "2", "--json"]
# Fresh `python -m` processes, queued now and run on the idle core while other tests run.
for _run in (TRAIN_RUN, BENCH_RUN, DIVERGED_BENCH_RUN):
    background.start("run_module.py", _run)


def run_module(module, *args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", module] + list(args), cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def single_json(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def test_train_json_reports_a_short_run():
    code, out, err = background.result("run_module.py", TRAIN_RUN)
    assert code == 0, err
    result = single_json(out)
    assert TRAIN_KEYS <= set(result)
    assert result["steps"] == 2 and result["towers"] == 2
    assert result["trainable_params"] == RESNET8_CIFAR_PARAMS
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["images_per_sec"] > 0
    # EMA is on by default: test_accuracy is the averaged weights', the raw weights' is reported beside it.
    assert result["eval_weights"] == "ema" and 0.0 <= result["test_accuracy_raw"] <= 1.0
    assert [line for line in err.splitlines() if line.startswith("step ")][-1].startswith("step 2/2 loss ")


def test_unset_options_take_their_dataset_default():
    # Every --dataset choice has a row, and --steps left unset takes it (the CLI and config_from alike).
    datasets = next(a.choices for a in train.build_parser()._actions if a.dest == "dataset")
    assert sorted(datasets) == sorted(train.DATASET_DEFAULTS)
    for dataset, row in train.DATASET_DEFAULTS.items():
        assert vars(train.parse_args(["--dataset", dataset])).items() >= row.items()
        assert vars(train.config_from(dataset=dataset)).items() >= row.items()
    assert train.DATASET_DEFAULTS["digits"]["steps"] > train.DATASET_DEFAULTS["synthetic"]["steps"]
    assert train.parse_args(["--dataset", "digits"]).steps == train.DATASET_DEFAULTS["digits"]["steps"]
    assert train.parse_args(["--dataset", "digits", "--steps", "7"]).steps == 7  # an explicit value wins
    assert train.config_from(dataset="digits", steps=0).steps == 0


def test_steps_zero_prints_summary_without_training(capsys):
    assert train.main(["--steps", "0", "--model", "resnet20"]) == 0
    out = capsys.readouterr().out
    fields = dict(line.split(None, 1) for line in out.splitlines())
    assert int(fields["trainable_params"]) == RESNET20_CIFAR_PARAMS
    assert int(fields["layers"]) == 20  # 19 convs + the dense layer: the "20" of ResNet-20
    assert "final_loss" not in out


@pytest.mark.parametrize("argv, named", [
    (["--towers", "0"], "--towers"),
    (["--batch-size", "10", "--towers", "3"], "--batch-size"),
    (["--model", "resnet21"], "--model"),
    (["--bn", "no-such-bn"], "--bn"),
    (["--ema-decay", "1.5"], "--ema-decay"),
    (["--steps", "-1"], "--steps"),
    (["--data-format", "NWHC"], "--data-format"),
    (["--towers", "two"], "--towers"),
    (["--workers", "2"], "--ps"),
    (["--ps", "1"], "--workers"),
    (["--ps", "1", "--workers", "2", "--towers", "2"], "--towers"),
    (["--ps", "1", "--workers", "2", "--batch-size", "15"], "--batch-size"),
    (["--ps", "1", "--workers", "2", "--steps", "0"], "--steps"),
    (["--ps", "-1", "--workers", "2"], "--ps"),
])
def test_bad_arguments_exit_2_naming_the_argument(capsys, argv, named):
    with pytest.raises(SystemExit) as exc:
        train.parse_args(argv)
    assert exc.value.code == 2
    assert named in capsys.readouterr().err


def test_bad_log_level_exits_2_before_tensorflow_starts():
    code, out, err = run_module("resnet_core.train", "--log-level", "7")
    assert code == 2 and out == ""
    assert "--log-level" in err


def test_bench_json_with_few_steps():
    code, out, err = background.result("run_module.py", BENCH_RUN)
    assert code == 0, err
    result = single_json(out)
    assert len(result["windows"]) == 2 and result["images_per_sec"] > 0
    assert result["model"] == "resnet8" and result["batch_size"] == 8 and result["loss_finite"]
    medians = result["conv_backprop_medians"]
    assert sorted(list(medians) + list(result["conv_backprop_unavailable"])) == ["default", "eigen"]
    assert result["images_per_sec"] == max(medians.values()) and result["conv_backprop"] in medians
    # what tfpin bench reads (tfpin/cell/bench.py): the graph step's img/s as the headline figure, a finite run
    assert result["figures"] == {"graph img/s": result["images_per_sec"]} and result["finite"] is True
    # with a Keras fit timed too, its figure comes after the graph step's, in that order as printed
    from resnet_core.bench import tfpin_figures

    timed = tfpin_figures({"loss_finite": True, "images_per_sec": 250.0, "keras_fit_flavour": "keras",
                           "keras_images_per_sec": 180.0})
    assert list(timed["figures"].items()) == [("graph img/s", 250.0), ("keras fit img/s", 180.0)]
    assert list(json.loads(json.dumps(timed))["figures"]) == ["graph img/s", "keras fit img/s"]
    assert timed["finite"] is True


def test_bench_reports_no_throughput_for_a_diverged_run():
    code, out, err = background.result("run_module.py", DIVERGED_BENCH_RUN)
    assert code == 1, err
    result = single_json(out)
    assert result["loss_finite"] is False and result["images_per_sec"] is None
    assert result["finite"] is False and "figures" not in result  # tfpin records the cell's bench as an error
    assert "loss was not finite" in err
