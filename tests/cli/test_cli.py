"""The cnnc command line on bad input: every case exits with code 2 and a
message that names the file (or argument) and what is wrong. Plus the good
paths of inspect and compile."""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

CNNC = sys.argv[1]
ROOT = sys.argv[2]
LENET = os.path.join(ROOT, "models", "lenet5.json")
failures = []


def check(name, args, code, *fragments):
    r = subprocess.run([CNNC] + args, capture_output=True, text=True)
    text = r.stdout + r.stderr
    missing = [f for f in fragments if f not in text]
    if r.returncode != code or missing:
        failures.append(name)
        print("FAIL %s: exit %d (want %d), missing %s\n%s" % (name, r.returncode, code, missing, text))
    else:
        print("ok   %s" % name)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def check_profile(tmp, train):
    """`cnnc bench [--train] --profile`: one row per kernel call of inference
    (LeNet-5 without passes: 5 conv/dense steps and the pooling and softmax
    ones) or of a training step (also the backward and update kernels), the
    columns the header names, conv and dense rows (backward ones too) with
    GFLOP/s, and step times that add up to about the whole run."""
    name = "bench --train --profile" if train else "bench --profile"
    args = ["bench", LENET, "--batch", "4", "--iters", "15", "--profile", "--passes", "none"]
    args += ["--train"] if train else []
    r = subprocess.run([CNNC] + args, capture_output=True, text=True)
    lines = r.stdout.splitlines()
    problems = []
    try:
        head = next(i for i, l in enumerate(lines) if l.split()[:3] == ["step", "layer", "kernel"])
        total = next(l for l in lines if l.startswith("total:"))
    except StopIteration:
        head, total, problems = None, None, ["no table"]
    if head is not None:
        rows = [l.split(None, 7) for l in lines[head + 1:] if l.strip()[:1].isdigit()]
        layers = [row[1] for row in rows]
        for want in ["conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "fc2"]:
            if want not in layers:
                problems.append("no row for " + want)
        kernels = [row[2] for row in rows]
        for want in ["conv2d_backward_filter", "dense_backward_data", "sgd_update"]:
            if (want in kernels) != train:
                problems.append("%s row for %s" % ("no" if train else "a", want))
        if [int(row[0]) for row in rows] != list(range(len(rows))):
            problems.append("steps not numbered 0..n-1")
        for row in rows:
            if len(row) < 7:
                problems.append("short row %s" % row)
                continue
            is_math = row[2].split("_backward")[0] in ("conv2d", "dense")
            if is_math and (row[5] == "-" or float(row[5]) <= 0):
                problems.append("no GFLOP/s for " + row[1])
            if not is_math and row[5] != "-":
                problems.append("GFLOP/s for data movement " + row[1])
            if is_math and len(row) < 8:
                problems.append("no schedule for " + row[1])
        ms = sum(float(row[3]) for row in rows)
        share = sum(float(row[4]) for row in rows)
        steps_ms, run_ms, whole_ms = [float(v) for v in re.findall(r"([0-9.]+) ms", total)]
        if abs(ms - steps_ms) > 0.01 * steps_ms + 0.01 or abs(share - 100) > 0.5:
            problems.append("rows add up to %.3f ms, %.1f%%; total says %.3f" % (ms, share, steps_ms))
        # Each run's steps add up to that run's whole inference (but for the
        # Model's own instructions); medians of single steps drop the stalls
        # of a shared machine, so their sum may only be lower.
        if not 0.85 * whole_ms - 0.02 <= run_ms <= whole_ms:
            problems.append("a run's steps %.3f ms but the whole %.3f ms" % (run_ms, whole_ms))
        if not steps_ms <= 1.1 * whole_ms + 0.02:
            problems.append("steps %.3f ms above the whole inference %.3f ms" % (steps_ms, whole_ms))
    if r.returncode != 0 or problems:
        failures.append(name)
        print("FAIL %s: exit %d, %s\n%s%s" % (name, r.returncode, problems, r.stdout, r.stderr))
    else:
        print("ok   " + name)


with tempfile.TemporaryDirectory() as tmp:
    check("no command", [], 2, "no command given", "usage")
    check("unknown command", ["frobnicate", LENET], 2, "unknown command 'frobnicate'")
    check("missing model argument", ["inspect"], 2, "model file")
    check("missing model file", ["inspect", os.path.join(tmp, "nope.json")], 2, "nope.json")
    bad = write(os.path.join(tmp, "bad.json"),
                '{"format": "cnnc/1", "name": "m", "input": {"shape": [8, 8, 1]},'
                ' "layers": [{"type": "Conv2D", "filter": 4, "kernel_size": 3}]}')
    check("malformed model", ["inspect", bad], 2, "bad.json", "/layers/0", "filter", "filters")
    check("compile without -o", ["compile", LENET], 2, "-o DIR")
    check("compile, bad --batch", ["compile", LENET, "-o", tmp, "--batch", "0"], 2, "--batch")
    check("compile, over the memory limit", ["compile", LENET, "-o", tmp, "--memory-limit", "1M"], 2,
          "needs 9.59 MiB", "at batch 32", "--memory-limit")
    check("compile, bad memory limit", ["compile", LENET, "-o", tmp, "--memory-limit", "lots"], 2,
          "--memory-limit lots")
    check("compile, bigger than this machine", ["compile", os.path.join(ROOT, "models", "vgg16.json"), "-o", tmp,
                                                "--batch", "4096"], 2, "vgg16", "GiB", "this machine's memory")
    check("compile, unknown flag", ["compile", LENET, "-o", tmp, "--fast"], 2, "'--fast'")
    inner_softmax = write(os.path.join(tmp, "inner_softmax.json"),
                          '{"format": "cnnc/1", "name": "m", "input": {"shape": [4, 4, 1]}, "layers": ['
                          '{"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax", "name": "a"},'
                          '{"type": "Dense", "units": 2, "activation": "softmax", "name": "b"}]}')
    check("untrainable layer named at compile time", ["compile", inner_softmax, "-o", tmp], 2,
          "layer 'a' (Dense)", "softmax before the last layer")
    check("inspect LeNet-5", ["inspect", LENET], 0, "conv1", "545,546", "After the inference passes",
          "Arena at batch 32")
    check("inspect, unknown pass", ["inspect", LENET, "--passes", "fold_bn"], 2, "unknown pass 'fold_bn'")
    check("inspect --dot", ["inspect", LENET, "--dot"], 0, "digraph", "->")
    check("bench --json", ["bench", LENET, "--batch", "2", "--iters", "3", "--json"], 0,
          '"median_ms"', '"images_per_s"')
    check("bench --train", ["bench", LENET, "--batch", "2", "--iters", "2", "--train"], 0, "training step")
    check("bench, bad flag", ["bench", LENET, "--iters", "x"], 2, "--iters")
    check_profile(tmp, train=False)
    check_profile(tmp, train=True)

    # run: weights and inputs that do not fit the model.
    x = np.zeros((2, 28, 28, 1), np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "x_bad.npy"), np.zeros((2, 27, 28, 1), np.float32))
    with open(os.path.join(tmp, "w.safetensors"), "wb") as f:
        f.write(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    out = os.path.join(tmp, "y.npy")
    check("run, weights missing tensors", ["run", LENET, "--weights", os.path.join(tmp, "w.safetensors"),
                                           "--input", os.path.join(tmp, "x.npy"), "--output", out],
          2, "w.safetensors", "conv1.kernel")
    with open(os.path.join(tmp, "trunc.safetensors"), "wb") as f:
        f.write(b"\xff\xff")
    check("run, truncated weights", ["run", LENET, "--weights", os.path.join(tmp, "trunc.safetensors"),
                                     "--input", os.path.join(tmp, "x.npy"), "--output", out],
          2, "trunc.safetensors")
    check("train, wrong image size", ["train", LENET, "--train-images", os.path.join(tmp, "x_bad.npy"),
                                      "--train-labels", os.path.join(tmp, "x_bad.npy"), "--steps", "1"],
          2, "x_bad.npy")
    write(os.path.join(tmp, "junk-idx"), "not an idx file at all")
    check("train, corrupt IDX", ["train", LENET, "--train-images", os.path.join(tmp, "junk-idx"),
                                 "--train-labels", os.path.join(tmp, "junk-idx"), "--steps", "1"],
          2, "junk-idx")
    check("train, unknown data set", ["train", LENET, "--dataset", "cifar"], 2, "cifar", "mnist")

    # A gradient that overflows while the loss is finite: zero images make the
    # hidden layer 0 and so the logits 0 (loss log 10), but d(hidden) is about
    # -1.7e37 per image, and the hidden bias's gradient, their sum over 32
    # images, is -inf. The step must be refused (exit 3) and the layer named.
    sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
    from torch_reference import write_safetensors  # noqa: E402
    overflow = write(os.path.join(tmp, "overflow.json"),
                     '{"format": "cnnc/1", "name": "overflow", "input": {"shape": [1, 2, 1]}, "layers": ['
                     '{"type": "Flatten"}, {"type": "Dense", "units": 2, "name": "h"},'
                     '{"type": "Dense", "units": 10, "activation": "softmax", "name": "out"}]}')
    big = np.full((2, 10), -3e38, np.float32)
    big[:, 0] = 3e38  # the label's column
    write_safetensors(os.path.join(tmp, "overflow.safetensors"),
                      {"h.kernel": np.zeros((2, 2)), "h.bias": np.zeros(2), "out.kernel": big,
                       "out.bias": np.zeros(10)})
    np.save(os.path.join(tmp, "zeros.npy"), np.zeros((32, 1, 2, 1), np.float32))
    np.save(os.path.join(tmp, "labels.npy"), np.zeros(32, np.int32))
    check("train, a gradient overflows", ["train", overflow, "--weights",
                                          os.path.join(tmp, "overflow.safetensors"),
                                          "--train-images", os.path.join(tmp, "zeros.npy"),
                                          "--train-labels", os.path.join(tmp, "labels.npy"),
                                          "--steps", "1", "--batch-size", "32", "--no-shuffle"],
          3, "a gradient is not finite", "layer 'h'")

print("all command-line checks passed" if not failures else "%d failed: %s" % (len(failures), failures))
sys.exit(1 if failures else 0)
