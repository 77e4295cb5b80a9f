"""Build every ResNet variant as a real graph and print its trainable-parameter count and build time.

Run by tests/cell/test_params.py in a background process started at collection time, so the
~40k-op graph builds (ResNet-152 alone is ~4.7k ops; TF1 needs ~0.5 ms per op) use the
otherwise idle second core while the rest of the cell suite runs.
Prints one JSON line: {"<arch name>": {"params": int, "ops": int, "seconds": float}, ...}.
"""
import json
import time

from compat import tf1
from resnet_core import arch as arch_lib
from resnet_core.graph_model import build_logits, count_trainable_params


def variants():
    for depth in arch_lib.CIFAR_DEPTHS:
        for version in arch_lib.VERSIONS:
            yield arch_lib.cifar_arch(depth, version), 8
    for depth in sorted(arch_lib.IMAGENET_LAYOUT):
        for version in arch_lib.VERSIONS:
            yield arch_lib.imagenet_arch(depth, version), 32


def main():
    results = {}
    for arch, size in variants():
        start = time.time()
        graph = tf1.Graph()
        with graph.as_default():
            images = tf1.placeholder(tf1.float32, [1, size, size, 3])
            # Cheapest real path: hand-made fused BN in inference mode (no update ops); the
            # parameter count does not depend on the BN implementation (gamma/beta in all).
            logits = build_logits(images, arch, False, bn="fused")
        results[arch.name] = {"params": count_trainable_params(graph), "ops": len(graph.get_operations()),
                              "seconds": round(time.time() - start, 3), "logits": logits.shape.as_list()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
