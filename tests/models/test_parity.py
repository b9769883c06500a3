"""Parity of a generated model library with the PyTorch reference.

  test_parity.py CNNC MODEL.json forward [--batch N]
      random weights and inputs; `cnnc run` output vs PyTorch, relative error
      (max abs error / max abs value) at most 1e-4.
  test_parity.py CNNC MODEL.json sgd [--steps K] [--batch N]
      K SGD steps (the model's optimiser: momentum, Nesterov, L2) with
      `cnnc train --steps K --no-shuffle`; every weight compared with PyTorch's
      in float64, relative error of the change at most 1e-3, or twice PyTorch
      float32's own where float32 itself is that far off. BatchNormalization
      trains on batch statistics, and its moving statistics are compared too.
      Dropout masks are random, so the steps run on a copy of the model with
      every Dropout rate set to 0. With one step, ReLU inputs within float32
      noise of 0 may be flipped in the reference where that explains cnnc's
      result (each one is printed).

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
import time

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


class NoGpu(Exception):
    """A CUDA library (--target cuda) on a machine without a GPU."""


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
    if result.returncode == 2 and "needs an NVIDIA GPU" in said:
        raise NoGpu(said.strip().splitlines()[-1])
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
    run([args.cnnc, "run", args.model, "--target", args.target, "--passes", args.passes, "--weights", os.path.join(tmp, "w.safetensors"),
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
    run([args.cnnc, "train", model_file, "--target", args.target, "--passes", args.passes, "--weights", w0, "--train-images", os.path.join(tmp, "x.npy"),
         "--train-labels", os.path.join(tmp, "y.npy"), "--steps", str(args.steps), "--no-shuffle",
         "--batch-size", str(args.batch), "--save", out])
    got = ref.read_safetensors(out)

    want = reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, torch.float64)
    # PyTorch itself in float32: how far float32 arithmetic alone moves each update
    # from the exact one. Where a gradient is the small difference of large terms
    # (BatchNorm's backward under a global pooling, the deep layers of ResNet-50)
    # or a ReLU's input is within rounding of 0, float32 loses digits whoever
    # computes it, and by chance: one float32 run may be lucky. So PyTorch runs
    # again on images moved by one ulp (far less than float32's own rounding of
    # the network); cnnc must be within twice the worst of these runs, else 1e-3.
    noise_rng = np.random.default_rng(args.seed + 1)
    want32 = [reference_sgd(model, weights, one_ulp(x, noise_rng) if r else x, y, args, lr, momentum,
                            nesterov, torch.float32) for r in range(1 + FLOAT32_REPEATS)]
    changes_want = {k: want[k] - weights[k] for k in want}
    changes_got = {k: (got[k] - weights[k]) * args.scale_updates for k in want}
    # The weights file holds float32: a change far smaller than the weights is
    # known only to their rounding (6e-8 of them). So an update's scale is at
    # least 1e-3 of the weights', allowing errors of 1e-6 of them (~10 ulps).
    # This matters for a conv bias just before a BatchNormalization: its
    # gradient is zero, its change in cnnc one ulp of rounding.
    floors = {k: 1e-3 * float(np.max(np.abs(weights[k]))) for k in want}
    ok, _, _ = compare_updates(changes_got, changes_want, [], weights, floors, quiet=True)  # 1e-3
    if not ok and args.steps == 1:
        # A ReLU whose input is within float32 noise of 0 may pass the gradient
        # in cnnc and not in float64 (or the reverse), a max pooling window may
        # pick the other of two inputs that close: any float32 computation can
        # flip them. Flip those (and only those) in the reference where that
        # explains cnnc's result, then compare again.
        factor = -lr * (1.0 + momentum if nesterov else 1.0)  # first step: velocity 0
        changes_want, flipped, ties = explain_ties(model, weights, x, y, factor, changes_got, changes_want, floors)
        print("near-ties (ReLU inputs, max pooling windows) within float32 noise: %d; flipping %d of them in "
              "the float64 reference brings it closer to cnnc's updates" % (ties, len(flipped)))
        for what in flipped[:10]:
            print("  flipped " + what)
    ok, worst, worst_allowed = compare_updates(changes_got, changes_want, want32, weights, floors)
    print("sgd: %d steps of batch %d, lr %g, momentum %g%s; %d tensors; worst relative error of an update "
          "%.3g (against float64; PyTorch float32's own worst allows %.3g)" %
          (args.steps, args.batch, lr, momentum, " nesterov" if nesterov else "", len(want), worst,
           worst_allowed))
    return ok


def compare_updates(changes_got, changes_want, want32, weights, floors, quiet=False):
    """(ok, worst error, worst allowance) of the updates against the float64 ones."""
    worst, worst_allowed, ok = 0.0, 0.0, True
    for k, change_want in changes_want.items():
        err = relative(changes_got[k], change_want, floors[k])
        err32 = max((relative(w32[k] - weights[k], change_want, floors[k]) for w32 in want32), default=0.0)
        allowed = max(1e-3, 2.0 * err32)
        worst, worst_allowed = max(worst, err), max(worst_allowed, allowed)
        if err > 1e-3 and not quiet:
            print("  %s: relative error of the update %.3g, PyTorch float32's %.3g (max change %.3g, got %.3g)%s"
                  % (k, err, err32, np.max(np.abs(change_want)), np.max(np.abs(changes_got[k])),
                     "" if err <= allowed else "  <- beyond float32 noise"))
        ok &= err <= allowed
    return ok, worst, worst_allowed


FLOAT32_REPEATS = 2  # PyTorch float32 runs on images moved by one ulp


def one_ulp(x, rng):
    """x with every element moved one ulp up or down at random."""
    up = rng.random(x.shape) < 0.5
    return np.where(up, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf)))


MAX_TIES = 64  # near-ties tried, nearest first (a float64 backward each)
TIES_SECONDS = 300  # and no more time than this on them


class Watch:
    """Keeps the inputs and outputs of every ReLU and max pooling of a forward pass."""

    def __init__(self):
        self.relu_in, self.relu_out, self.pool_in, self.pool_out, self.pool_shape = {}, {}, {}, {}, {}

    def relu(self, name, h):
        self.relu_in[name] = h
        self.relu_out[name] = torch.relu(h)
        return self.relu_out[name]

    def max_pool(self, name, padded, kernel, strides):
        self.pool_in[name] = padded
        self.pool_shape[name] = (kernel, strides)
        self.pool_out[name] = torch.nn.functional.max_pool2d(padded, kernel, strides)
        return self.pool_out[name]


def windows(padded, kernel, strides):
    """(values, flat indices into padded) of every pooling window: [N*C*windows, kh*kw]."""
    n, c, h, w = padded.shape
    index = torch.arange(n * c * h * w, dtype=torch.float64).reshape(n * c, 1, h, w)
    unfold = lambda t: torch.nn.functional.unfold(t, kernel, stride=strides)  # noqa: E731
    values = unfold(padded.reshape(n * c, 1, h, w).double()).transpose(1, 2)
    return values.reshape(-1, values.shape[-1]), unfold(index).transpose(1, 2).reshape(-1, values.shape[-1]).long()


def near_ties(watch, watch32):
    """Where float32 may decide otherwise than float64, within 8x PyTorch float32's
    own error at that layer: a ReLU input near 0, a max pooling window whose two
    largest inputs are that close. Each as (distance in noise units, layer, what
    moves, output tensor and flat index whose gradient moves, [(input tensor,
    flat index, +-1)]): flipping it adds dy * d(sum of +-inputs)/d(weights) to the
    gradient."""
    found = []
    for name, h in watch.relu_in.items():
        h64 = h.detach().reshape(-1)
        noise = float((watch32.relu_in[name].double().reshape(-1) - h64).abs().max())
        for i in torch.nonzero(h64.abs() <= 8.0 * noise).reshape(-1).tolist():
            sign = -1.0 if h64[i] > 0 else 1.0  # float64 passes the gradient: float32 would not
            found.append((float(h64[i].abs()) / max(noise, 1e-300), name, "ReLU input %d = %.3g" % (i, h64[i]),
                          watch.relu_out[name], i, [(h, i, sign)]))
    for name, padded in watch.pool_in.items():
        kernel, strides = watch.pool_shape[name]
        values, index = windows(padded.detach(), kernel, strides)
        values32, _ = windows(watch32.pool_in[name], kernel, strides)
        finite = torch.isfinite(values)
        noise = float((values32 - values)[finite].abs().max())
        top = values.topk(2, dim=1)
        gaps = top.values[:, 0] - top.values[:, 1]
        # Exact ties (zeros after a ReLU) go to the first input in float32 as in float64.
        for wnd in torch.nonzero((gaps > 0) & (gaps <= 8.0 * noise)).reshape(-1).tolist():
            first, second = (int(index[wnd, top.indices[wnd, j]]) for j in (0, 1))
            gap = float(top.values[wnd, 0] - top.values[wnd, 1])
            found.append((gap / max(noise, 1e-300), name, "window %d: input %d for %d (%.3g apart)"
                          % (wnd, second, first, gap), watch.pool_out[name], wnd,
                          [(padded, second, 1.0), (padded, first, -1.0)]))
    found.sort(key=lambda t: t[0])
    return found


def explain_ties(model, weights, x, y, factor, changes_got, changes_want, floors):
    """Float32 may take the other side of a near-tie (near_ties): greedily,
    nearest first, flips in the float64 step those that bring it closer to
    cnnc's; a flip adds factor * its gradient change to the updates.
    Returns (updates, flipped descriptions, number of near-ties)."""
    xs = torch.from_numpy(x[:len(y)])
    ys = torch.from_numpy(y).long()
    watch32, watch = Watch(), Watch()
    with torch.no_grad():
        w32 = {k: torch.from_numpy(v) for k, v in weights.items()}
        ref.forward(model, w32, xs, logits_only=True, training=True, moving={}, relu=watch32.relu,
                    max_pool=watch32.max_pool)
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in weights.items() if ref.is_trainable(k)}
    stats = {k: torch.tensor(v, dtype=torch.float64) for k, v in weights.items() if not ref.is_trainable(k)}
    logits = ref.forward(model, {**params, **stats}, xs.double(), logits_only=True, training=True,
                         moving={}, relu=watch.relu, max_pool=watch.max_pool)
    loss = torch.nn.functional.cross_entropy(logits, ys)
    outputs = list(watch.relu_out.values()) + list(watch.pool_out.values())
    d_outputs = torch.autograd.grad(loss, outputs, retain_graph=True)
    d_of = {id(o): d.reshape(-1) for o, d in zip(outputs, d_outputs)}

    ties = near_ties(watch, watch32)
    scale = {k: max(float(np.max(np.abs(v))), floors[k], 1e-30) for k, v in changes_want.items()}
    residual = {k: changes_got[k] - changes_want[k] for k in changes_want}
    mismatch = sum(float(np.sum((r / scale[k]) ** 2)) for k, r in residual.items())
    flipped = []
    names = list(params)
    deadline = time.time() + TIES_SECONDS
    for _, layer, what, output, at, terms in ties[:MAX_TIES]:
        if time.time() > deadline:
            break
        dy = float(d_of[id(output)][at])
        if dy == 0.0:
            continue  # nothing flows back through it (e.g. not a max of its pooling window)
        target = sum(sign * tensor.reshape(-1)[i] for tensor, i, sign in terms)
        grads = torch.autograd.grad(target, [params[k] for k in names], retain_graph=True, allow_unused=True)
        delta = {k: factor * dy * g.numpy() for k, g in zip(names, grads) if g is not None}
        after = mismatch + sum(float(np.sum(((residual[k] - d) / scale[k]) ** 2) -
                                     np.sum((residual[k] / scale[k]) ** 2)) for k, d in delta.items())
        if after < mismatch:
            mismatch = after
            for k, d in delta.items():
                residual[k] = residual[k] - d
                changes_want[k] = changes_want[k] + d
            flipped.append("%s %s" % (layer, what))
    return changes_want, flipped, len(ties)


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
    p.add_argument("--scale-updates", type=float, default=1.0,
                   help="multiply cnnc's updates by this before comparing: shows that an error that "
                        "small fails the check")
    p.add_argument("--target", default="host", help="cnnc's --target (host, cuda: skipped without a GPU)")
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
        except NoGpu as e:
            print("SKIP: no GPU on this machine (%s)" % e)
            return SKIP
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
