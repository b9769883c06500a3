"""Results do not depend on the thread count: inference through `cnnc run`
with CNNC_NUM_THREADS=1, 2 and 3 gives bitwise-equal outputs (Halide's
parallel loops split work, never a reduction's order). Models with every
layer type, a ResNet and LeNet-5, on an odd batch."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CNNC, ROOT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
import torch_reference as ref  # noqa: E402
from test_parity import random_weights  # noqa: E402

MODELS = ["tests/compiler/models/every_layer.json", "models/resnet_mini.json", "models/lenet5.json"]
failures = []
with tempfile.TemporaryDirectory() as tmp:
    for path in MODELS:
        with open(os.path.join(ROOT, path)) as f:
            model = json.load(f)
        rng = np.random.default_rng(3)
        weights = os.path.join(tmp, "w.safetensors")
        ref.write_safetensors(weights, random_weights(model, rng))
        x = rng.uniform(-1, 1, [5] + model["input"]["shape"]).astype(np.float32)
        np.save(os.path.join(tmp, "x.npy"), x)
        outputs = {}
        for threads in (1, 2, 3):
            out = os.path.join(tmp, "y%d.npy" % threads)
            env = dict(os.environ, CNNC_NUM_THREADS=str(threads))
            subprocess.run([CNNC, "run", os.path.join(ROOT, path), "--weights", weights, "--input",
                            os.path.join(tmp, "x.npy"), "--output", out], check=True, env=env)
            outputs[threads] = np.load(out)
        for threads in (2, 3):
            same = outputs[threads].tobytes() == outputs[1].tobytes()
            differ = float(np.max(np.abs(outputs[threads] - outputs[1])))
            print("%s   %s: %d threads vs 1, max difference %g" % ("ok" if same else "FAIL", path, threads, differ))
            if not same:
                failures.append("%s at %d threads" % (path, threads))
print("bitwise equal at every thread count" if not failures else "differ: %s" % failures)
sys.exit(1 if failures else 0)
