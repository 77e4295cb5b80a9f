"""ResNet architectures as data, walked by one builder for every API flavour.

The graph builder (tf1 layers / hand-made BN) and the Keras builders (standalone
Keras, tf.keras) must produce the *same* network, so that parameter counts and
weight parity can be proven across flavours.  The network is therefore described
once here as a plain spec, and `build()` walks that spec calling primitives on a
*backend* object.  A backend only knows how to make one conv, one batch norm, ...
in its own API; it never decides the topology.

Layer names are part of the contract: every backend must name its layers with the
`name` it is given, so weights can be matched name-by-name across flavours.
"""
import collections

BlockSpec = collections.namedtuple("BlockSpec", "kind filters stride shortcut name")
"""kind: 'basic' | 'bottleneck'; shortcut: 'identity' | 'pad' (option A) | 'projection'."""

Arch = collections.namedtuple(
    "Arch", "name family depth version stem_filters stem_kernel stem_stride stem_pool blocks num_classes"
)

# 20-110 are the paper's; 8 (n = 1) is the same recipe at its smallest: a seconds-long smoke run, and the
# network of the tests whose subject is the training stack rather than the depth.
CIFAR_DEPTHS = (8, 20, 32, 44, 56, 110)
IMAGENET_LAYOUT = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BOTTLENECK_EXPANSION = 4
VERSIONS = (1, 2)


def cifar_arch(depth, version=1, num_classes=10):
    """He et al. 2016 CIFAR ResNet: 6n+2 layers, 16/32/64 filters, option-A shortcuts."""
    if depth not in CIFAR_DEPTHS:
        raise ValueError("CIFAR ResNet depth must be one of %s, got %r" % (CIFAR_DEPTHS, depth))
    _check_version(version)
    n = (depth - 2) // 6
    blocks = []
    for stage, filters in enumerate((16, 32, 64)):
        for i in range(n):
            stride = 2 if (stage > 0 and i == 0) else 1
            blocks.append(BlockSpec("basic", filters, stride, "pad" if stride == 2 else "identity",
                                    "stage%d/block%d" % (stage + 1, i)))
    return Arch("resnet%d_cifar_v%d" % (depth, version), "cifar", depth, version,
                16, 3, 1, False, tuple(blocks), num_classes)


def imagenet_arch(depth, version=1, num_classes=1000):
    """ImageNet ResNet-18..152: 7x7/2 stem + max pool, projection shortcuts, bottleneck from 50."""
    if depth not in IMAGENET_LAYOUT:
        raise ValueError("ImageNet ResNet depth must be one of %s, got %r" % (tuple(sorted(IMAGENET_LAYOUT)), depth))
    _check_version(version)
    kind, counts = IMAGENET_LAYOUT[depth]
    expansion = BOTTLENECK_EXPANSION if kind == "bottleneck" else 1
    blocks = []
    in_filters = 64
    for stage, (count, filters) in enumerate(zip(counts, (64, 128, 256, 512))):
        for i in range(count):
            stride = 2 if (stage > 0 and i == 0) else 1
            out_filters = filters * expansion
            shortcut = "projection" if (stride != 1 or in_filters != out_filters) else "identity"
            blocks.append(BlockSpec(kind, filters, stride, shortcut, "stage%d/block%d" % (stage + 1, i)))
            in_filters = out_filters
    return Arch("resnet%d_imagenet_v%d" % (depth, version), "imagenet", depth, version,
                64, 7, 2, True, tuple(blocks), num_classes)


def resnet_arch(name, num_classes=None):
    """Parse a model name such as 'resnet20', 'resnet56_v2', 'resnet50', 'resnet18_v2'.

    Depths in CIFAR_DEPTHS are the CIFAR family, depths in IMAGENET_LAYOUT the ImageNet family.
    """
    base, _, suffix = name.partition("_")
    version = 1
    if suffix:
        if suffix not in ("v1", "v2"):
            raise ValueError("model %r: suffix must be _v1 or _v2" % name)
        version = int(suffix[1])
    if not base.startswith("resnet") or not base[6:].isdigit():
        raise ValueError("model %r: expected resnet<depth>[_v1|_v2], depth in %s (CIFAR) or %s (ImageNet)"
                         % (name, CIFAR_DEPTHS, tuple(sorted(IMAGENET_LAYOUT))))
    depth = int(base[6:])
    if depth in CIFAR_DEPTHS:
        return cifar_arch(depth, version, num_classes or 10)
    if depth in IMAGENET_LAYOUT:
        return imagenet_arch(depth, version, num_classes or 1000)
    raise ValueError("model %r: depth %d is neither CIFAR %s nor ImageNet %s"
                     % (name, depth, CIFAR_DEPTHS, tuple(sorted(IMAGENET_LAYOUT))))


def model_names():
    names = []
    for d in CIFAR_DEPTHS + tuple(sorted(IMAGENET_LAYOUT)):
        names += ["resnet%d" % d, "resnet%d_v2" % d]
    return names


def _check_version(version):
    if version not in VERSIONS:
        raise ValueError("ResNet version must be 1 or 2, got %r" % (version,))


def build(arch, inputs, backend):
    """Walk `arch` with `backend` and return the logits.

    v1 (original): conv-BN-ReLU, addition then ReLU.  v2 (pre-activation):
    BN-ReLU-conv, identity addition, and one final BN-ReLU before pooling.
    """
    b = backend
    x = b.conv(inputs, arch.stem_filters, arch.stem_kernel, arch.stem_stride, "stem/conv")
    if arch.version == 1:
        x = b.relu(b.batch_norm(x, "stem/bn"), "stem/relu")
    if arch.stem_pool:
        x = b.max_pool(x, 3, 2, "stem/pool")
    for spec in arch.blocks:
        x = _block(spec, x, arch.version, b)
    if arch.version == 2:
        x = b.relu(b.batch_norm(x, "head/bn"), "head/relu")
    x = b.global_avg_pool(x, "head/pool")
    return b.dense(x, arch.num_classes, "head/dense")


def _block(spec, x, version, b):
    n = spec.name
    if spec.kind == "basic":
        convs = [(spec.filters, 3, spec.stride), (spec.filters, 3, 1)]
        out_filters = spec.filters
    else:
        # Stride on the 3x3 conv ("ResNet v1.5"), as torchvision and TF official do.
        convs = [(spec.filters, 1, 1), (spec.filters, 3, spec.stride),
                 (spec.filters * BOTTLENECK_EXPANSION, 1, 1)]
        out_filters = spec.filters * BOTTLENECK_EXPANSION

    if version == 1:
        shortcut = _shortcut(spec, x, out_filters, b, with_bn=True)
        y = x
        for i, (f, k, s) in enumerate(convs, 1):
            y = b.conv(y, f, k, s, "%s/conv%d" % (n, i))
            y = b.batch_norm(y, "%s/bn%d" % (n, i))
            if i < len(convs):
                y = b.relu(y, "%s/relu%d" % (n, i))
        return b.relu(b.add(y, shortcut, n + "/add"), n + "/out")

    # v2: the pre-activation feeds both the residual branch and a projection shortcut.
    pre = b.relu(b.batch_norm(x, n + "/bn1"), n + "/relu1")
    shortcut = x if spec.shortcut == "identity" else _shortcut(spec, pre, out_filters, b, with_bn=False)
    y = pre
    for i, (f, k, s) in enumerate(convs, 1):
        if i > 1:
            y = b.relu(b.batch_norm(y, "%s/bn%d" % (n, i)), "%s/relu%d" % (n, i))
        y = b.conv(y, f, k, s, "%s/conv%d" % (n, i))
    return b.add(y, shortcut, n + "/add")


def _shortcut(spec, x, out_filters, b, with_bn):
    if spec.shortcut == "identity":
        return x
    if spec.shortcut == "pad":
        return b.pad_shortcut(x, out_filters, spec.stride, spec.name + "/shortcut")
    y = b.conv(x, out_filters, 1, spec.stride, spec.name + "/shortcut/conv")
    return b.batch_norm(y, spec.name + "/shortcut/bn") if with_bn else y
