"""How far PyTorch float32 alone is from float64 on one SGD step of ResNet-50
(the reason test_parity.py's reference takes cnnc's float32 decisions):

  /usr/bin/python3 tests/models/float32_vs_float64.py BATCH...

prints, per batch size, the median and worst relative error of the kernels'
updates (test_parity.py's metric and floors). Minutes per batch size on 2 cores.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_parity as tp  # noqa: E402

torch.set_num_threads(2)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
model = tp.without_dropout(json.load(open(os.path.join(root, "models", "resnet50.json"))))
for batch in [int(b) for b in sys.argv[1:]]:
    rng = np.random.default_rng(7)
    w = tp.random_weights(model, rng)
    x = rng.random([batch] + model["input"]["shape"], dtype=np.float32)
    y = rng.integers(0, 1000, size=batch).astype(np.int32)

    class Args:
        steps = 1

    Args.batch = batch
    o64 = tp.reference_sgd(model, w, x, y, Args, 0.1, 0.9, False, torch.float64)
    o32 = tp.reference_sgd(model, w, x, y, Args, 0.1, 0.9, False, torch.float32)
    change = {k: o64[k] - w[k] for k in w}
    floors = {k: 1e-3 * float(np.max(np.abs(w[k]))) for k in w}
    errs = sorted((tp.relative(o32[k] - w[k], change[k], floors[k]), k) for k in w if k.endswith(".kernel"))
    print("batch %d: PyTorch float32 vs float64, kernels' updates: median %.3g, worst %.3g (%s), %d of %d beyond 1e-3"
          % (batch, errs[len(errs) // 2][0], errs[-1][0], errs[-1][1], sum(e > 1e-3 for e, _ in errs), len(errs)),
          flush=True)
