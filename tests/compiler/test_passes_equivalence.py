"""Passes change how a model computes, never what: the generated library with
every pass on against every pass off, for inference (relative error <= 1e-4)
and for SGD steps (relative error of the weight update <= 1e-3). And a
checkpoint written by training (passes on) loads into the optimised inference
library and gives the unoptimised library's output.

  test_passes_equivalence.py CNNC MODEL.json [--batch N] [--steps K]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import test_parity  # noqa: E402
import torch_reference as ref  # noqa: E402


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout + r.stderr)
        raise SystemExit("command failed (%d): %s" % (r.returncode, " ".join(cmd)))


def meaningful(what, values):
    """Equal outputs say nothing if both are constant (all zero, say), not
    finite, or a saturated softmax (only 0s and 1s)."""
    if not np.all(np.isfinite(values)) or np.ptp(values) == 0 or np.all(np.isin(values, (0, 1))):
        print("%s is constant, saturated or not finite: nothing compared" % what)
        return False
    return True


def biases_before_batchnorm(model):
    """Layers whose only reader is a BatchNormalization (layers read the one
    before them unless they name their inputs)."""
    readers, previous = {}, None
    for layer in model["layers"]:
        for name in layer.get("inputs", [previous] if previous else []):
            readers.setdefault(name, []).append(layer["type"])
        previous = layer["name"]
    return [name for name, types in readers.items() if types == ["BatchNormalization"]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cnnc")
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2)
    args = p.parse_args()
    with open(args.model) as f:
        model = test_parity.without_dropout(json.load(f))
    # A small constant rate: a step at the seed's rate (0.1 for ResNet-50) from
    # random weights saturates the softmax, and the checkpoint's outputs would
    # then be 0s and 1s that any library gives.
    if "training" in model:
        model["training"]["optimizer"]["learning_rate"] = 1e-3
        model["training"]["lr_schedule"] = {"type": "constant"}
    rng = np.random.default_rng(11)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path = lambda name: os.path.join(tmp, name)  # noqa: E731
        model_file = path("model.json")
        with open(model_file, "w") as f:
            json.dump(model, f)
        ref.write_safetensors(path("w0.safetensors"), test_parity.random_weights(model, rng))
        n = args.batch * args.steps
        shape = model["input"]["shape"]
        np.save(path("x.npy"), rng.random([n] + shape, dtype=np.float32))
        classes = ref.output_shape(model)[-1]
        np.save(path("y.npy"), rng.integers(0, classes, n).astype(np.int32))

        outputs = {}
        for passes in ("none", "all"):
            run([args.cnnc, "run", model_file, "--passes", passes, "--weights", path("w0.safetensors"),
                 "--input", path("x.npy"), "--output", path("y_%s.npy" % passes),
                 "--batch", str(args.batch)])
            outputs[passes] = np.load(path("y_%s.npy" % passes))
        err = test_parity.relative(outputs["all"], outputs["none"])
        print("inference, passes all vs none: relative error %.3g" % err)
        ok &= err <= 1e-4 and meaningful("inference output", outputs["none"])

        trained = {}
        for passes in ("none", "all"):
            run([args.cnnc, "train", model_file, "--passes", passes, "--weights", path("w0.safetensors"),
                 "--train-images", path("x.npy"), "--train-labels", path("y.npy"), "--no-shuffle",
                 "--steps", str(args.steps), "--batch-size", str(args.batch),
                 "--checkpoint", path("ckpt_%s.safetensors" % passes),
                 "--save", path("w_%s.safetensors" % passes)])
            trained[passes] = ref.read_safetensors(path("w_%s.safetensors" % passes))
        w0 = ref.read_safetensors(path("w0.safetensors"))
        # The bias of a layer right before a BatchNorm has a gradient of exactly
        # zero: its computed update is rounding, which sums in another order
        # change. It is compared against the largest update of the model.
        scale = max(float(np.max(np.abs(trained["none"][k] - w0[k]))) for k in w0)
        zero = {name + ".bias" for name in biases_before_batchnorm(model)}
        worst = max(test_parity.relative(trained["all"][k] - w0[k], trained["none"][k] - w0[k],
                                         scale if k in zero else 1e-12)
                    for k in w0)
        print("training, %d steps, passes all vs none: worst relative error of an update %.3g"
              % (args.steps, worst))
        updates = np.concatenate([(trained["none"][k] - w0[k]).ravel() for k in w0])
        ok &= worst <= 1e-3 and meaningful("training update", updates)

        # The checkpoint of the optimised training run, in the optimised and the plain inference library.
        for passes in ("none", "all"):
            run([args.cnnc, "run", model_file, "--passes", passes, "--weights", path("ckpt_all.safetensors"),
                 "--input", path("x.npy"), "--output", path("c_%s.npy" % passes),
                 "--batch", str(args.batch)])
        err = test_parity.relative(np.load(path("c_all.npy")), np.load(path("c_none.npy")))
        print("checkpoint from training into the optimised inference library: relative error %.3g" % err)
        ok &= err <= 1e-4 and meaningful("checkpoint's output", np.load(path("c_none.npy")))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
