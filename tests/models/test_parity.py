"""Parity of a generated model library with the PyTorch reference.

  test_parity.py CNNC MODEL.json forward [--batch N]
      random weights and inputs; `cnnc run` output vs PyTorch, relative error
      (max abs error / max abs value) at most 1e-4.
  test_parity.py CNNC MODEL.json sgd [--steps K] [--batch N]
      K SGD steps (the model's optimiser: momentum, Nesterov, L2) with
      `cnnc train --steps K --no-shuffle --dump-forward DIR`; every weight's
      change, and the optimiser's velocity (the update at float32's precision,
      before it is rounded into the weights) compared with PyTorch's in
      float64, relative error at most 1e-3. BatchNormalization trains on batch statistics, and its moving
      statistics are compared too. Dropout masks are random, so the steps run
      on a copy of the model with every Dropout rate set to 0.
      The float64 reference takes cnnc's float32 decisions: which ReLU inputs
      pass and which cell wins each max pooling window, read from the forward
      operands cnnc dumped. A ReLU input within rounding of 0 may fall on
      either side in any float32 computation, and at batch 2 one such element
      moves a 7x7 layer's gradient, and through BatchNormalization every
      gradient before it, by percents (PyTorch float32 itself is up to 27% off
      float64 on ResNet-50). So each decision where float64 would decide
      otherwise must be a near-tie (within 8 times cnnc's own forward error at
      that layer, which must be within 1e-3), and the updates then differ by
      arithmetic alone.
      --scale-updates S and --perturb-update NAME spoil cnnc's updates to show
      that errors of 0.3% or 0.2% fail; --spoiled checks both within the run.

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
    compiled_for = ["--batch", str(args.max_batch)] if args.max_batch else []
    run([args.cnnc, "run", args.model, "--target", args.target, "--passes", args.passes, "--weights", os.path.join(tmp, "w.safetensors"),
         "--input", os.path.join(tmp, "x.npy"), "--output", os.path.join(tmp, "y.npy")] + compiled_for)
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
    dump = os.path.join(tmp, "forward")
    os.mkdir(dump)
    run([args.cnnc, "train", model_file, "--target", args.target, "--passes", args.passes, "--weights", w0,
         "--train-images", os.path.join(tmp, "x.npy"), "--train-labels", os.path.join(tmp, "y.npy"),
         "--steps", str(args.steps), "--no-shuffle", "--batch-size", str(args.batch), "--save", out,
         "--checkpoint", os.path.join(tmp, "checkpoint.safetensors")]
        + ([] if args.target == "cuda" else ["--dump-forward", dump]))
    got = ref.read_safetensors(out)
    # The optimiser's velocity (Keras SGD: v = momentum * v - lr * gradient, then
    # w += v) holds the updates at float32's full precision, before they are
    # rounded into the weights: compared too, as "optimizer/<name>".
    velocity = {k: v for k, v in ref.read_safetensors(os.path.join(tmp, "checkpoint.safetensors")).items()
                if k.startswith("optimizer/")}

    # The float64 reference takes cnnc's float32 decisions (which ReLU inputs
    # pass, which cell of each max pooling window wins), read from the forward
    # operands cnnc dumped: a ReLU input within rounding of 0 (common at batch 2,
    # where one element moves a 7x7 layer's gradient by percents) is then
    # decided alike, and only the arithmetic is compared. Each decision where
    # float64 itself would decide otherwise must be a near-tie: within
    # TIE_NOISE times cnnc's own forward error at that layer.
    decisions = None if args.target == "cuda" else read_decisions(model, dump, args.steps)
    want = reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, torch.float64, decisions)
    ok = True
    if decisions:
        ok = report_decisions(decisions)
    changes_want = {k: want[k] - weights[k] if k in weights else want[k] for k in want}
    changes_got = {k: got[k] - weights[k] if k in weights else velocity[k] for k in want}
    # The weights file holds float32: a change far smaller than the weights is
    # known only to their rounding (6e-8 of them). So an update's scale is at
    # least 1e-3 of the weights', allowing errors of 1e-6 of them (~10 ulps).
    # This matters for a conv bias just before a BatchNormalization: its
    # gradient is zero, its change in cnnc one ulp of rounding.
    floors = {k: 1e-3 * float(np.max(np.abs(weights[k]))) if k in weights else 0.0 for k in want}
    # A bias that only a BatchNormalization reads does not change the loss (the
    # batch mean takes it out): its exact gradient is 0, cnnc's and PyTorch
    # float32's the rounding of a sum of terms that cancel. It is held to its
    # layer's scale, that of the kernel's update.
    for layer in biases_before_batchnorm(model):
        for prefix in ("", "optimizer/"):
            floors[prefix + layer + ".bias"] = max(floors[prefix + layer + ".bias"],
                                                   float(np.max(np.abs(changes_want[prefix + layer + ".kernel"]))))
    spoil = args.perturb_update or [k for k in weights if k.endswith(".kernel")][0]
    if spoil not in weights:
        raise SystemExit("--perturb-update: no variable '%s'" % spoil)
    if args.spoiled:
        # The same check on updates spoiled as a bug would: it must fail on both.
        for what, spoiled in (("every update scaled by %g" % SPOIL_SCALE, spoil_scale(changes_got)),
                              ("%s perturbed by 0.2%%" % spoil, spoil_one(changes_got, spoil, args.seed))):
            caught = not compare_updates(spoiled, changes_want, floors, quiet=True)[0]
            print("spoiled: %s: %s" % (what, "caught" if caught else "NOT caught  <- the check is too lax"))
            ok &= caught
    if args.scale_updates != 1.0:
        changes_got = {k: v * args.scale_updates for k, v in changes_got.items()}
    if args.perturb_update and not args.spoiled:
        changes_got = spoil_one(changes_got, spoil, args.seed)
    same, worst, worst_name = compare_updates(changes_got, changes_want, floors)
    print("sgd: %d steps of batch %d, lr %g, momentum %g%s; %d tensors; worst relative error of an update "
          "%.3g (%s; against float64%s)" %
          (args.steps, args.batch, lr, momentum, " nesterov" if nesterov else "", len(want), worst, worst_name,
           " with cnnc's decisions" if decisions else ""))
    return ok and same


def biases_before_batchnorm(model):
    """Conv2D and Dense layers with a bias and no activation whose output only
    BatchNormalization layers read."""
    layers = ref.expand(model)
    readers = {}
    for layer in layers:
        for name in layer["inputs"]:
            readers.setdefault(name, []).append(layer["type"])
    return [layer["name"] for layer in layers
            if layer["type"] in ("Conv2D", "Dense") and layer.get("use_bias", True)
            and layer.get("activation", "linear") == "linear"
            and readers.get(layer["name"]) and set(readers[layer["name"]]) == {"BatchNormalization"}]


SPOIL_SCALE = 1.003


def spoil_scale(changes):
    return {k: v * SPOIL_SCALE for k, v in changes.items()}


def spoil_one(changes, name, seed):
    """Noise of up to 0.2% of its largest change added to one variable's
    update (and to its velocity, the same update before rounding)."""
    spoiled = dict(changes)
    for k in (name, "optimizer/" + name):
        noise = np.random.default_rng(seed + 1).uniform(-2e-3, 2e-3, changes[k].shape)
        spoiled[k] = changes[k] + noise * np.max(np.abs(changes[k]))
    return spoiled


def compare_updates(changes_got, changes_want, floors, quiet=False):
    """(every update within UPDATE_TOLERANCE, the worst error, its variable)."""
    ok, worst, worst_name = True, 0.0, ""
    for k, change_want in changes_want.items():
        err = relative(changes_got[k], change_want, floors[k])
        if err > worst:
            worst, worst_name = err, k
        if err > UPDATE_TOLERANCE:
            ok = False
            if not quiet:
                print("  %s: relative error of the update %.3g (max change %.3g, got %.3g)  <- beyond %g"
                      % (k, err, np.max(np.abs(change_want)), np.max(np.abs(changes_got[k])), UPDATE_TOLERANCE))
    return ok, worst, worst_name


UPDATE_TOLERANCE = 1e-3  # relative error of every updated tensor
TIE_NOISE = 8.0  # a decision float64 takes otherwise: within this many times cnnc's forward error
FORWARD_TOLERANCE = 1e-3  # cnnc's training forward at a ReLU or max pooling, relative to float64


def read_decisions(model, folder, steps):
    """One Decisions per step, from what `cnnc train --dump-forward` wrote."""
    operands = {}  # step -> layer -> [(operand, values)]
    with open(os.path.join(folder, "forward.txt")) as f:
        for line in f:
            file, layer, _, operand, _ = line.rstrip("\n").split("\t")
            step = int(file.split("-")[0])
            values = np.fromfile(os.path.join(folder, file), dtype="<f4")
            operands.setdefault(step, {}).setdefault(layer, []).append((operand, values))
    if len(operands) != steps:
        raise SystemExit("cnnc dumped %d training steps' forward operands, not %d" % (len(operands), steps))
    # An Activation that cnnc fused into the layer before it has no call of
    # its own: that layer's output is the activation's. So has an Add that
    # training fuses into a BatchNorm it reads (the call with a residual).
    layers = ref.expand(model)
    fused = {layer["name"]: layer["inputs"][0] for layer in layers if layer["type"] == "Activation"}
    adds = {layer["name"]: layer["inputs"] for layer in layers if layer["type"] == "Add"}
    return [Decisions(operands[step], fused, adds) for step in sorted(operands)]


class Decisions:
    """cnnc's float32 decisions in one training step's forward pass, taken by
    the float64 reference in place of its own (ref.forward's relu and max_pool
    hooks); keeps what report_decisions needs to check each one."""

    def __init__(self, operands, fused, adds):
        self.operands = operands  # layer -> [(operand, float32 values)], in call order
        self.fused = fused  # Activation layer -> the layer it reads
        self.adds = adds  # Add layer -> the layers it reads
        self.checks = []  # (kind, layer, float64 values, cnnc's float32 values, extra)

    def dumped(self, layer, output, count):
        kind = "output " if output else "input "
        if output and layer not in self.operands and layer in self.fused:
            layer = self.fused[layer]
        if output and layer not in self.operands and layer in self.adds:
            summed = [name for name in self.adds[layer]
                      if any(op == "input residual" for op, _ in self.operands.get(name, []))]
            layer = summed[0] if len(summed) == 1 else layer
        found = [v for op, v in self.operands.get(layer, []) if op.startswith(kind) and v.size == count]
        if not found:
            raise SystemExit("cnnc dumped no forward %sof %d values for layer '%s'" % (kind, count, layer))
        return torch.from_numpy(found[-1 if output else 0].astype(np.float64))

    def relu(self, name, h):
        out32 = self.dumped(name, True, h.numel()).reshape(h.shape)
        passes = out32 > 0
        self.checks.append(("relu", name, h.detach().reshape(-1), out32.reshape(-1), None))
        return h * passes.to(h.dtype)

    def max_pool(self, name, padded, kernel, strides):
        n, c, hp, wp = padded.shape
        # cnnc's input is NHWC and unpadded: padded with -inf where the reference pads
        rows = torch.nonzero(torch.isfinite(padded[0, 0]).any(1)).reshape(-1)
        cols = torch.nonzero(torch.isfinite(padded[0, 0]).any(0)).reshape(-1)
        top, h, left, w = int(rows[0]), len(rows), int(cols[0]), len(cols)
        inner = self.dumped(name, False, n * h * w * c).reshape(n, h, w, c).permute(0, 3, 1, 2)
        padded32 = torch.full(padded.shape, float("-inf"), dtype=torch.float64)
        padded32[:, :, top:top + h, left:left + w] = inner
        unfold = lambda t: torch.nn.functional.unfold(t.reshape(n * c, 1, hp, wp), kernel, stride=strides)  # noqa: E731
        windows64, windows32 = unfold(padded), unfold(padded32)  # [n*c, cells, windows]
        # cnnc's backward takes the first maximal cell (row-major), as argmax does
        choice = windows32.argmax(dim=1, keepdim=True)
        self.checks.append(("max_pool", name, windows64.detach(), windows32, choice))
        oh, ow = (hp - kernel[0]) // strides[0] + 1, (wp - kernel[1]) // strides[1] + 1
        return windows64.gather(1, choice).reshape(n, c, oh, ow)


def report_decisions(all_steps):
    """Every decision where cnnc's float32 and float64 differ must be a near-tie,
    and cnnc's forward values there within FORWARD_TOLERANCE; prints a summary."""
    ok, counts, flips, worst_forward, nearest = True, {}, {}, (0.0, ""), 0.0
    for decisions in all_steps:
        for kind, layer, v64, v32, choice in decisions.checks:
            if kind == "relu":
                if bool((v32 < 0).any()):
                    print("  %s: cnnc's ReLU output has negative values  <- not a ReLU" % layer)
                    ok = False
                pass64, pass32 = v64 > 0, v32 > 0
                both = pass64 & pass32
                noise = float((v32 - v64)[both].abs().max()) if bool(both.any()) else 0.0
                scale = float(v64.abs().max())
                differ = pass64 != pass32
                distance = torch.maximum(v64.abs(), v32)[differ]  # from the decision's edge, 0
                what = "ReLU inputs"
            else:
                finite = torch.isfinite(v64)
                noise = float((v32 - v64)[finite].abs().max())
                scale = float(v64[finite].abs().max())
                gap = v64.max(dim=1, keepdim=True).values - v64.gather(1, choice)
                differ = gap > 0
                distance = gap[differ]
                what = "max pooling windows"
            counts[what] = counts.get(what, 0) + differ.numel()
            flips[what] = flips.get(what, 0) + int(differ.sum())
            if scale > 0 and noise / scale > worst_forward[0]:
                worst_forward = (noise / scale, layer)
            if distance.numel():
                ratio = float(distance.max()) / max(noise, 1e-300)
                nearest = max(nearest, ratio)
                if ratio > TIE_NOISE:
                    print("  %s: cnnc decides %d of its %s otherwise than float64, one %.3g from the edge, "
                          "%.3g times cnnc's forward error there  <- not a near-tie"
                          % (layer, int(differ.sum()), what, float(distance.max()), ratio))
                    ok = False
    if worst_forward[0] > FORWARD_TOLERANCE:
        print("  %s: cnnc's training forward is %.3g off float64 (relative)  <- beyond %g"
              % (worst_forward[1], worst_forward[0], FORWARD_TOLERANCE))
        ok = False
    if not counts:
        print("decisions: none (no ReLU or max pooling)")
        return ok
    print("decisions: cnnc's float32 decided %s otherwise than float64, each within %.3g times cnnc's "
          "forward error at its layer (allowed %g); cnnc's training forward within %.3g of float64 (%s)"
          % ("; ".join("%d of %d %s" % (flips[w], counts[w], w) for w in counts) or "nothing",
             nearest, TIE_NOISE, worst_forward[0], worst_forward[1] or "-"))
    return ok


def reference_sgd(model, weights, x, y, args, lr, momentum, nesterov, dtype, decisions=None):
    """The SGD steps in PyTorch at `dtype`, with each step's decisions (a
    Decisions) when given; every variable afterwards, as float64 numpy."""
    l2 = {name: reg for name, _, reg in ref.variables(model, model["input"]["shape"])}
    params = {k: torch.tensor(v, dtype=dtype, requires_grad=True)
              for k, v in weights.items() if ref.is_trainable(k)}
    stats = {k: torch.tensor(v, dtype=dtype) for k, v in weights.items() if not ref.is_trainable(k)}
    velocity = {k: torch.zeros_like(v) for k, v in params.items()}
    for step in range(args.steps):
        xs = torch.from_numpy(x[step * args.batch:(step + 1) * args.batch]).to(dtype)
        ys = torch.from_numpy(y[step * args.batch:(step + 1) * args.batch]).long()
        moving = {}
        hooks = {"relu": decisions[step].relu, "max_pool": decisions[step].max_pool} if decisions else {}
        logits = ref.forward(model, {**params, **stats}, xs, logits_only=True, training=True, moving=moving,
                             **hooks)
        stats.update(moving)
        loss = torch.nn.functional.cross_entropy(logits, ys)
        loss = loss + sum(l2[k] * (p * p).sum() for k, p in params.items() if l2.get(k, 0.0))
        grads = torch.autograd.grad(loss, list(params.values()))
        with torch.no_grad():
            for (k, p), g in zip(params.items(), grads):
                v = momentum * velocity[k] - lr * g  # Keras SGD
                velocity[k] = v
                p += momentum * v - lr * g if nesterov else v
    out = {k: t.detach().double().numpy() for k, t in {**params, **stats}.items()}
    return {**out, **{"optimizer/" + k: v.detach().double().numpy() for k, v in velocity.items()}}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cnnc")
    p.add_argument("model")
    p.add_argument("mode", choices=["forward", "sgd"])
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--max-batch", type=int, default=0,
                   help="forward: the batch the library is compiled for (cnnc run's --batch; default the "
                        "recipe's): small ones lower some layers otherwise (lower::packed_1x1_wins)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--passes", default="all", help="cnnc's --passes (all, none or a list)")
    p.add_argument("--scale-updates", type=float, default=1.0,
                   help="multiply cnnc's updates by this before comparing: shows that an error that "
                        "small fails the check")
    p.add_argument("--perturb-update", default="",
                   help="add noise of 0.2%% of its largest change to cnnc's update of this variable: shows "
                        "that one layer's gradient that far off fails the check (with --spoiled: the "
                        "variable it perturbs)")
    p.add_argument("--spoiled", action="store_true",
                   help="also check, in the same run, that the comparison fails on cnnc's updates scaled by "
                        "1.003 and on one variable's perturbed (--perturb-update, else the first kernel: "
                        "its gradient passes every layer)")
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
