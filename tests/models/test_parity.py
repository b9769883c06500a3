"""Parity of a generated model library with the PyTorch reference.

  test_parity.py CNNC MODEL.json forward [--batch N]
      random weights and inputs; `cnnc run` output vs PyTorch, relative error
      (max abs error / max abs value) at most 1e-4.
  test_parity.py CNNC MODEL.json sgd [--steps K] [--batch N]
      K SGD steps (the model's optimiser: momentum, Nesterov, L2) with
      `cnnc train --steps K --no-shuffle`; every weight compared with PyTorch's,
      relative error of the change at most 1e-3. BatchNormalization trains on
      batch statistics, and its moving statistics are compared too. Dropout
      masks are random, so the steps run on a copy of the model with every
      Dropout rate set to 0.

A model with a layer this build of cnnc refuses ("... not supported by this
version of cnnc yet", exit code 2) is skipped: the test prints SKIP and exits
with 77 (CTest's SKIP_RETURN_CODE in CMakeLists.txt).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

torch.set_num_threads(2)

SKIP = 77  # CTest's SKIP_RETURN_CODE for these tests


def relative(a, b, floor=1e-30):
    scale = max(float(np.max(np.abs(b))), floor, 1e-30)
    return float(np.max(np.abs(a - b))) / scale


def random_weights(model, rng):
    shape = model["input"]["shape"]
    weights = {}
    for name, dims, _ in ref.variables(model, shape):
        fan_in = int(np.prod(dims[:-1])) if len(dims) > 1 else dims[0]
        if name.endswith(".kernel"):
            w = rng.standard_normal(dims) / np.sqrt(fan_in)
        elif name.endswith(".moving_variance"):
            w = rng.uniform(0.5, 1.5, dims)  # positive, and far enough from 1 to matter
        elif name.endswith(".gamma"):
            w = 1.0 + 0.1 * rng.standard_normal(dims)
        else:  # bias, beta, moving_mean
            w = 0.1 * rng.standard_normal(dims)
        weights[name] = w.astype(np.float32)
    return weights


def without_dropout(model):
    """A copy with every Dropout rate 0, in modules too, and no data
    augmentation (random crops and flips would change the training batches)."""
    model = json.loads(json.dumps(model))
    model.get("training", {}).pop("augmentation", None)
    layer_lists = [model["layers"]] + [m["layers"] for m in model.get("modules", {}).values()]
    for layers in layer_lists:
        for layer in layers:
            if layer["type"] == "Dropout":
                layer["rate"] = 0
    return model


class Unsupported(Exception):
    """cnnc refused a layer this version cannot compile yet."""


def summarise_refusal(said):
    """cnnc names every refused layer ("layer 'bn1' (BatchNormalization): why");
    one line per reason: the layer type, how many layers, the first one."""
    groups = {}
    for name, kind, why in re.findall(r"layer '([^']+)' \((\w+)\): (.*not supported.*)", said):
        reason = re.sub(r" (is|are) not supported.*", "", why)
        key = kind if reason == why or reason == "not" else reason
        groups.setdefault(key, []).append(name)
    return "not supported by this cnnc yet: " + "; ".join(
        "%s (%d layer%s, e.g. '%s')" % (key, len(names), "s" * (len(names) > 1), names[0])
        for key, names in groups.items())


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    said = result.stdout + result.stderr
    if result.returncode == 2 and re.search(r"not supported (by this version of cnnc )?yet", said):
        raise Unsupported(summarise_refusal(said))
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        raise SystemExit("command failed (%d): %s" % (result.returncode, " ".join(cmd)))
    return result.stdout


def forward_check(args, model, tmp, rng):
    weights = random_weights(model, rng)
    ref.write_safetensors(os.path.join(tmp, "w.safetensors"), weights)
    x = rng.random([args.batch] + model["input"]["shape"], dtype=np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    run([args.cnnc, "run", args.model, "--passes", args.passes, "--weights", os.path.join(tmp, "w.safetensors"),
         "--input", os.path.join(tmp, "x.npy"), "--output", os.path.join(tmp, "y.npy")])
    got = np.load(os.path.join(tmp, "y.npy")).reshape(args.batch, -1)
    with torch.no_grad():
        want = ref.forward(model, {k: torch.from_numpy(v) for k, v in weights.items()},
                           torch.from_numpy(x)).reshape(args.batch, -1).numpy()
    err = relative(got, want)
    print("forward: batch %d, %d outputs each, relative error %.3g" % (args.batch, got.shape[1], err))
    return err <= 1e-4


def sgd_check(args, model, tmp, rng):
    training = model.get("training", {})
    opt = training.get("optimizer", {})
    lr = opt.get("learning_rate", 0.01)
    schedule = training.get("lr_schedule", {"type": "constant"})
    if schedule["type"] == "piecewise":
        lr = schedule["values"][0]  # epoch 0: no boundary b with 0 > b (boundaries are >= 0)
    elif schedule["type"] in ("step", "plateau"):
        lr = schedule.get("initial", lr)  # defaults to the optimizer's rate
    momentum, nesterov = opt.get("momentum", 0.0), opt.get("nesterov", False)
    weights = random_weights(model, rng)
    w0 = os.path.join(tmp, "w0.safetensors")
    ref.write_safetensors(w0, weights)
    n = args.batch * args.steps
    x = rng.random([n] + model["input"]["shape"], dtype=np.float32)
    classes = ref.output_shape(model)[-1]
    y = rng.integers(0, classes, size=n).astype(np.int32)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    out = os.path.join(tmp, "w.safetensors")
    model = without_dropout(model)
    model_file = os.path.join(tmp, os.path.basename(args.model))
    with open(model_file, "w") as f:
        json.dump(model, f)
    run([args.cnnc, "train", model_file, "--passes", args.passes, "--weights", w0, "--train-images", os.path.join(tmp, "x.npy"),
         "--train-labels", os.path.join(tmp, "y.npy"), "--steps", str(args.steps), "--no-shuffle",
         "--batch-size", str(args.batch), "--save", out])
    got = ref.read_safetensors(out)

    want = reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, torch.float64)
    # PyTorch itself in float32: how far float32 arithmetic alone moves each update
    # from the exact one. Where a gradient is the small difference of large terms
    # (BatchNorm's backward under a global pooling, the deep layers of ResNet-50),
    # float32 loses digits whoever computes it; cnnc must then be as close as
    # PyTorch's own float32 result, else within 1e-3.
    want32 = reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, torch.float32)
    worst, worst_allowed, ok = 0.0, 0.0, True
    for k in want:
        change_want = want[k] - weights[k]
        change_got = got[k] - weights[k]
        # The weights file holds float32: a change far smaller than the weights is
        # known only to their rounding (6e-8 of them). So an update's scale is at
        # least 1e-3 of the weights', allowing errors of 1e-6 of them (~10 ulps).
        # This matters for a conv bias just before a BatchNormalization: its
        # gradient is zero, its change in cnnc one ulp of rounding.
        floor = 1e-3 * float(np.max(np.abs(weights[k])))
        err = relative(change_got, change_want, floor)
        err32 = relative(want32[k] - weights[k], change_want, floor)
        allowed = max(1e-3, 2.0 * err32)
        worst, worst_allowed = max(worst, err), max(worst_allowed, allowed)
        if err > 1e-3:
            print("  %s: relative error of the update %.3g, PyTorch float32's %.3g (max change %.3g, got %.3g)%s"
                  % (k, err, err32, np.max(np.abs(change_want)), np.max(np.abs(change_got)),
                     "" if err <= allowed else "  <- beyond float32 noise"))
        ok &= err <= allowed
    print("sgd: %d steps of batch %d, lr %g, momentum %g%s; %d tensors; worst relative error of an update "
          "%.3g (against float64; PyTorch float32's own worst allows %.3g)" %
          (args.steps, args.batch, lr, momentum, " nesterov" if nesterov else "", len(want), worst,
           worst_allowed))
    return ok


def reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, dtype):
    """The SGD steps in PyTorch at `dtype`; every variable afterwards, as float64 numpy."""
    l2 = {name: reg for name, _, reg in ref.variables(model, model["input"]["shape"])}
    params = {k: torch.tensor(v, dtype=dtype, requires_grad=True)
              for k, v in weights.items() if ref.is_trainable(k)}
    stats = {k: torch.tensor(v, dtype=dtype) for k, v in weights.items() if not ref.is_trainable(k)}
    velocity = {k: torch.zeros_like(v) for k, v in params.items()}
    for step in range(args.steps):
        xs = torch.from_numpy(x[step * args.batch:(step + 1) * args.batch]).to(dtype)
        ys = torch.from_numpy(y[step * args.batch:(step + 1) * args.batch]).long()
        moving = {}
        logits = ref.forward(model, {**params, **stats}, xs, logits_only=True, training=True, moving=moving)
        stats.update(moving)
        loss = torch.nn.functional.cross_entropy(logits, ys)
        loss = loss + sum(l2[k] * (p * p).sum() for k, p in params.items() if l2.get(k, 0.0))
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for (k, p), g in zip(params.items(), grads):
                v = momentum * velocity[k] - lr * g  # Keras SGD
                velocity[k] = v
                p += momentum * v - lr * g if nesterov else v
    return {k: t.detach().double().numpy() for k, t in {**params, **stats}.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cnnc")
    p.add_argument("model")
    p.add_argument("mode", choices=["forward", "sgd"])
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--passes", default="all", help="cnnc's --passes (all, none or a list)")
    args = p.parse_args()
    with open(args.model) as f:
        model = json.load(f)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ok = (forward_check if args.mode == "forward" else sgd_check)(args, model, tmp, rng)
        except Unsupported as e:
            print("SKIP: %s" % e)
            return SKIP
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
