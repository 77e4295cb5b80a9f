"""GPU-only checks (`@pytest.mark.gpu`): run where TensorFlow sees a GPU, skipped with the reason
elsewhere (conftest.py), e.g. on every CPU cell of the table. `nox -s gpu` runs them on the
tensorflow-gpu cells of matrices/gpu.toml.

What only a GPU can show: towers really placed on /gpu:i (CPU towers are virtual devices), the NCHW
kernels (CPU TF1 has none for fused batch norm and max-pool) agreeing with NHWC, and memory taken as
needed (allow_growth) rather than the whole card.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from compat import gpu_devices, session_config, tf1, tower_devices, unavailable
from resnet_core.arch import resnet_arch
from resnet_core.batchnorm import batch_norm
from resnet_core.graph_model import build_logits
from resnet_core.training import build_training, initialize

EPS = 1e-3
DSO_FAILURE = re.compile(r"Could not load dynamic library '([^']+)'|kernel driver does not appear to be running.*|"
                         r"failed call to cuInit.*")


def test_a_gpu_build_finds_its_gpu():
    """Not marked gpu: it runs everywhere. A CUDA build of TensorFlow (tensorflow-gpu) that sees no GPU must
    fail, naming what it could not load: 1.13+ load CUDA lazily and would otherwise run every test on the
    CPU and pass. (1.12 links CUDA directly: without it `import tensorflow` fails, naming the library.)"""
    if not tf1.test.is_built_with_cuda():
        pytest.skip("a CPU build of TensorFlow: no GPU expected in this cell")
    if gpu_devices():
        return
    if unavailable("cuda_build_means_gpu_broken"):
        pytest.skip(unavailable("cuda_build_means_gpu_broken"))
    probe = subprocess.run(
        [sys.executable, "-c", "from compat import gpu_devices; print(gpu_devices())"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0"))
    missing = [m.group(1) or m.group(0) for m in DSO_FAILURE.finditer(probe.stdout)]
    pytest.fail("TensorFlow was built with CUDA but sees no GPU: %s"
                % ("; ".join(missing) or "no device and no loader message:\n" + probe.stdout[-1500:]))


def images_and_labels(count, seed=0):
    rng = np.random.RandomState(seed)
    return rng.uniform(0, 1, (count, 8, 8, 1)).astype(np.float32), rng.randint(0, 10, count).astype(np.int32)


@pytest.mark.gpu
def test_each_tower_runs_on_its_own_gpu():
    """One training step over every visible GPU; RunMetadata says where each tower's convolutions ran."""
    devices = tower_devices(len(gpu_devices()))
    arch = resnet_arch("resnet20", num_classes=10)
    graph = tf1.Graph()
    with graph.as_default():
        x, y = images_and_labels(4 * len(devices))
        tg = build_training(tf1.constant(x), tf1.constant(y),
                            lambda images, training: build_logits(images, arch, training, weight_init_seed=1),
                            devices, ema_decay=None, clip_norm=1.0)
        metadata = tf1.RunMetadata()
        with tf1.Session(graph=graph, config=session_config(soft_placement=False)) as sess:
            initialize(sess)
            sess.run(tg.train_op, options=tf1.RunOptions(trace_level=tf1.RunOptions.FULL_TRACE),
                     run_metadata=metadata)
    placed = {}
    for dev in metadata.step_stats.dev_stats:
        for node in dev.node_stats:
            if node.node_name.startswith("tower_") and "Conv2D" in node.timeline_label:
                tower = int(node.node_name.split("/")[0].split("_")[1])
                placed.setdefault(tower, set()).add(dev.device.upper().split("/")[-1].replace("DEVICE:", ""))
    assert sorted(placed) == list(range(len(devices))), placed
    for tower, where in placed.items():
        assert where == {"GPU:%d" % tower}, "tower %d convolutions ran on %s" % (tower, sorted(where))


@pytest.mark.gpu
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_nchw_logits_equal_nhwc_logits(training):
    """The same variables built twice, NHWC and NCHW (GPU kernels for conv, fused BN and pooling)."""
    arch = resnet_arch("resnet20", num_classes=10)
    x, _ = images_and_labels(8)
    graph = tf1.Graph()
    with graph.as_default(), tf1.device("/gpu:0"):
        images = tf1.constant(x)
        with tf1.variable_scope("resnet"):
            nhwc = build_logits(images, arch, training, data_format="NHWC", weight_init_seed=1)
        with tf1.variable_scope("resnet", reuse=True):
            nchw = build_logits(images, arch, training, data_format="NCHW", weight_init_seed=1)
        with tf1.Session(graph=graph, config=session_config(soft_placement=False)) as sess:
            sess.run(tf1.global_variables_initializer())
            got_nhwc, got_nchw = sess.run([nhwc, nchw])
    assert np.all(np.isfinite(got_nhwc)) and np.std(got_nhwc) > 0
    np.testing.assert_allclose(got_nchw, got_nhwc, rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["fused", "layers"])
def test_fused_batch_norm_nchw_matches_numpy(impl):
    rng = np.random.RandomState(3)
    x = (rng.normal(size=(8, 3, 4, 4)) * np.array([0.5, 1.0, 2.0])[None, :, None, None]).astype(np.float32)
    graph = tf1.Graph()
    with graph.as_default(), tf1.device("/gpu:0"):
        y = batch_norm(tf1.constant(x), True, impl=impl, epsilon=EPS, data_format="NCHW")
        with tf1.Session(graph=graph, config=session_config(soft_placement=False)) as sess:
            sess.run(tf1.global_variables_initializer())
            got = sess.run(y)
    mean, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + EPS), atol=2e-4)


@pytest.mark.gpu
def test_allow_growth_takes_memory_as_needed():
    """session_config() sets allow_growth: after a small op this process holds a small part of the card
    (TF's default maps nearly all of it at session creation). Read from nvidia-smi, not from TF."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        pytest.skip("nvidia-smi is not on PATH: no independent reading of this process's GPU memory")
    config = session_config()
    assert config.gpu_options.allow_growth
    graph = tf1.Graph()
    with graph.as_default(), tf1.device("/gpu:0"):
        total = tf1.reduce_sum(tf1.ones([256, 256]))
        with tf1.Session(graph=graph, config=config) as sess:
            assert sess.run(total) == 256 * 256
            apps = subprocess.check_output([smi, "--query-compute-apps=pid,used_memory",
                                            "--format=csv,noheader,nounits"], universal_newlines=True)
            card = subprocess.check_output([smi, "--id=0", "--query-gpu=memory.total",
                                            "--format=csv,noheader,nounits"], universal_newlines=True)
    used = [int(mem) for pid, mem in (line.split(",") for line in apps.splitlines() if line.strip())
            if int(pid) == os.getpid()]
    assert used, "nvidia-smi lists no memory for this process (pid %d):\n%s" % (os.getpid(), apps)
    assert sum(used) < 0.5 * int(card.strip().splitlines()[0]), (used, card)
