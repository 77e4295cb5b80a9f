"""Same seed, one thread: two independently built graphs give bit-identical loss sequences.

What makes it hold: the graph-level seed (every initializer and the shuffle derive op seeds from
it), a seeded shuffle, and single-threaded intra/inter-op pools (multi-threaded reductions may
sum in a different order from run to run).
"""
from resnet_core.train import config_from, train

RUN = dict(dataset="digits", model="resnet20", towers=1, steps=4, batch_size=16, threads=1, evaluate=False,
           ema_decay=0.99, clip_norm=1.0, weight_decay=1e-4)


def test_same_seed_same_losses():
    first = train(config_from(seed=3, **RUN))["losses"]
    second = train(config_from(seed=3, **RUN))["losses"]
    assert len(first) == RUN["steps"] and len(set(first)) == len(first)  # a real, changing sequence
    assert first == second
