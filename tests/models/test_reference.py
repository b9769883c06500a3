"""The PyTorch reference itself, against torch.nn's own layers, so that a parity
failure points at cnnc and not at the reference. No cnnc involved; a few seconds.

  test_reference.py
"""
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

torch.set_num_threads(2)
rng = np.random.default_rng(0)
failures = []


def check(what, got, want, tol=1e-5):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    err = float(np.max(np.abs(got - want))) / max(float(np.max(np.abs(want))), 1e-30)
    ok = got.shape == want.shape and err <= tol
    print("%s %-55s relative error %.2g" % ("ok  " if ok else "FAIL", what, err))
    if not ok:
        failures.append(what)


def model(layers, shape, modules=None):
    m = {"format": "cnnc/1", "name": "t", "input": {"shape": shape}, "layers": layers}
    if modules:
        m["modules"] = modules
    return m


def tensor(*shape):
    return torch.from_numpy(rng.standard_normal(shape).astype(np.float64))


def nchw(x):
    return x.permute(0, 3, 1, 2)


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def batch_norm():
    """Training: batch mean and biased variance; moving variance from the unbiased one
    (what torch.nn.BatchNorm2d does too, with momentum 1 - Keras's)."""
    x = tensor(3, 5, 4, 6)
    w = {"bn.gamma": tensor(6), "bn.beta": tensor(6), "bn.moving_mean": tensor(6),
         "bn.moving_variance": torch.rand(6, dtype=torch.float64) + 0.5}
    m = model([{"type": "BatchNormalization", "name": "bn", "momentum": 0.9, "epsilon": 0.01}], [5, 4, 6])
    torch_bn = nn.BatchNorm2d(6, eps=0.01, momentum=0.1).double()
    with torch.no_grad():
        torch_bn.weight.copy_(w["bn.gamma"])
        torch_bn.bias.copy_(w["bn.beta"])
        torch_bn.running_mean.copy_(w["bn.moving_mean"])
        torch_bn.running_var.copy_(w["bn.moving_variance"])
    torch_bn.eval()
    check("BatchNormalization inference", ref.forward(m, w, x), nhwc(torch_bn(nchw(x))).detach())
    torch_bn.train()
    moving = {}
    got = ref.forward(m, w, x, training=True, moving=moving)
    check("BatchNormalization training output", got, nhwc(torch_bn(nchw(x))).detach())
    check("BatchNormalization moving_mean update", moving["bn.moving_mean"], torch_bn.running_mean)
    check("BatchNormalization moving_variance update (unbiased)", moving["bn.moving_variance"],
          torch_bn.running_var)
    # scale/center off: no gamma/beta variables at all
    m = model([{"type": "BatchNormalization", "name": "bn", "scale": False, "center": False}], [5, 4, 6])
    names = [n for n, _, _ in ref.variables(m, [5, 4, 6])]
    ok = names == ["bn.moving_mean", "bn.moving_variance"]
    print("%s BatchNormalization scale/center false: variables %s" % ("ok  " if ok else "FAIL", names))
    if not ok:
        failures.append("BatchNormalization variables")


def lrn():
    """The AlexNet formula; torch divides alpha by size, so it gets alpha * size."""
    x = tensor(2, 3, 3, 7)
    m = model([{"type": "LRN", "size": 5, "alpha": 0.01, "beta": 0.75, "bias": 2.0}], [3, 3, 7])
    want = nhwc(nn.LocalResponseNorm(5, alpha=0.05, beta=0.75, k=2.0)(nchw(x)))
    check("LocalResponseNormalization", ref.forward(m, {}, x), want)


def zero_padding():
    x = tensor(2, 3, 4, 2)
    for padding, (t, b, l, r) in [(1, (1, 1, 1, 1)), ([2, 1], (2, 2, 1, 1)), ([[1, 0], [0, 3]], (1, 0, 0, 3))]:
        m = model([{"type": "ZeroPadding2D", "padding": padding}], [3, 4, 2])
        want = np.pad(x.numpy(), [(0, 0), (t, b), (l, r), (0, 0)])
        check("ZeroPadding2D %s" % padding, ref.forward(m, {}, x), want, 0)
        shape = ref.output_shape(m)
        if shape != list(want.shape[1:]):
            failures.append("ZeroPadding2D shape %s" % padding)


def global_average_pooling():
    x = tensor(2, 3, 5, 4)
    m = model([{"type": "GlobalAveragePooling2D"}], [3, 5, 4])
    check("GlobalAveragePooling2D", ref.forward(m, {}, x), x.mean(dim=(1, 2)))


def residual_module():
    """A bottleneck-style module used twice (one use with a "params" object), against
    the same computation written out with torch.nn.functional."""
    modules = {"block": {"params": ["f", "s"], "layers": [
        {"type": "Conv2D", "name": "a", "filters": "$f", "kernel_size": 3, "strides": "$s", "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "Conv2D", "name": "proj", "inputs": ["$input"], "filters": "$f", "kernel_size": 1,
         "strides": "$s", "kernel_regularizer": {"l2": "$s"}},
        {"type": "Add", "inputs": ["batchnormalization_1", "proj"]},
        {"type": "Activation", "activation": "relu"}]}}
    m = model([{"type": "block", "name": "b1", "f": 4, "s": 2},
               {"type": "block", "params": {"f": 3, "s": 1}},
               {"type": "Concatenate", "inputs": ["b1", "block_1"]}], [6, 6, 2], modules)
    names = [(n, l2) for n, _, l2 in ref.variables(m, [6, 6, 2])]
    inner = ["a.kernel", "a.bias", "batchnormalization_1.gamma", "batchnormalization_1.beta",
             "batchnormalization_1.moving_mean", "batchnormalization_1.moving_variance", "proj.kernel", "proj.bias"]
    want_names = [(p + v, s if v == "proj.kernel" else 0.0) for p, s in (("b1/", 2), ("block_1/", 1)) for v in inner]
    ok = names == want_names
    print("%s module expansion: names, defaults, l2 substituted in objects" % ("ok  " if ok else "FAIL"))
    if not ok:
        failures.append("module names: %s" % names)
    w = {n: tensor(*s) for n, s, _ in ref.variables(m, [6, 6, 2])}
    for p in ("b1/", "block_1/"):
        w[p + "batchnormalization_1.moving_variance"] = w[p + "batchnormalization_1.moving_variance"].abs() + 0.5
    x = tensor(2, 6, 6, 2)

    def block(h, p, s):
        a = torch.nn.functional.conv2d(torch.nn.functional.pad(nchw(h), (0, 1, 0, 1) if s == 2 else (1, 1, 1, 1)),
                                       w[p + "a.kernel"].permute(3, 2, 0, 1), w[p + "a.bias"], stride=s)
        bn = p + "batchnormalization_1."
        a = torch.nn.functional.batch_norm(a, w[bn + "moving_mean"], w[bn + "moving_variance"],
                                           w[bn + "gamma"], w[bn + "beta"], eps=1e-3)
        proj = torch.nn.functional.conv2d(nchw(h), w[p + "proj.kernel"].permute(3, 2, 0, 1), w[p + "proj.bias"],
                                          stride=s)
        return nhwc(torch.relu(a + proj))
    h1 = block(x, "b1/", 2)
    want = torch.cat([h1, block(h1, "block_1/", 1)], dim=-1)
    check("module uses, Add, Concatenate", ref.forward(m, w, x), want)


for test in (batch_norm, lrn, zero_padding, global_average_pooling, residual_module):
    test()
print("PASS" if not failures else "FAIL: %s" % ", ".join(failures))
sys.exit(1 if failures else 0)
