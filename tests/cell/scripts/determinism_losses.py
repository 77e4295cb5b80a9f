"""Loss sequences of short training runs, in the order given, in this one process (test_determinism.py).

Usage: determinism_losses.py API:SEED [API:SEED ...], e.g. keras:3 graph:3.  Each run is
resnet_core.train.train() -- what `python -m resnet_core.train` runs -- on digits with RUN's options.
Prints one JSON line {"API:SEED": [loss, ...], ...}.
"""
import json
import sys

from resnet_core.train import config_from, train

# Tiny: BN updates, L2 decay and clipping as the CLI does them, one thread.  Weight EMA off: the losses
# never read the shadows, and building them is a third of the graph-building time.
RUN = dict(dataset="digits", model="resnet8", towers=1, steps=3, batch_size=8, threads=1, evaluate=False,
           ema_decay=0.0)

if __name__ == "__main__":
    losses = {}
    for run in sys.argv[1:]:
        api, _, seed = run.partition(":")
        losses[run] = train(config_from(api=api, seed=int(seed), **RUN))["losses"]
    print(json.dumps(losses))
