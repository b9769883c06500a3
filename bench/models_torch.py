"""The PyTorch peer of bench/models_vs_pytorch.sh: a model file's network as
native PyTorch modules (NCHW, PyTorch's own layout), 2 threads.
  models_torch.py infer MODEL.json BATCH ITERS   traced + frozen + optimised
  models_torch.py train MODEL.json BATCH ITERS   eager SGD step, the model's optimizer
Times ITERS runs after 3 warm-up runs (as `cnnc bench`) and prints one JSON
object with the median in ms. Only the timing matters: weights are random."""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "models"))
from torch_reference import expand, pair, same_pads  # noqa: E402
from timing import median_seconds  # noqa: E402

torch.set_num_threads(2)
ACT = {"linear": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
       "softmax": lambda: nn.Softmax(dim=1)}


def same_padding(layer, size, k, s):
    """(module padding, F.pad tuple or None) for one axis pair of 'same'."""
    if layer.get("padding", "valid") != "same":
        return (0, 0), None
    (top, bottom), (left, right) = same_pads(size[0], k[0], s[0]), same_pads(size[1], k[1], s[1])
    if top == bottom and left == right:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


class Net(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.layers = expand(model)
        h, w, c = model["input"]["shape"]
        shapes = {"input": (c, h, w)}
        self.mods = nn.ModuleDict()
        self.pads = {}
        for layer in self.layers:
            t, name = layer["type"], layer["name"]
            key = name.replace("/", "__")
            ins = [shapes[n] for n in layer["inputs"]]
            shape = ins[0]
            act = ACT[layer.get("activation", "linear")]()
            if t == "Conv2D":
                k, s = pair(layer["kernel_size"]), pair(layer.get("strides", 1))
                pad, self.pads[name] = same_padding(layer, shape[1:], k, s)
                conv = nn.Conv2d(shape[0], layer["filters"], k, s, pad,
                                 bias=layer.get("use_bias", True))
                self.mods[key] = nn.Sequential(conv, act)
            elif t == "Dense":
                self.mods[key] = nn.Sequential(nn.Linear(shape[0], layer["units"]), act)
            elif t in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
                k = pair(layer.get("pool_size", 2))
                s = pair(layer.get("strides") or layer.get("pool_size", 2))
                pad, self.pads[name] = same_padding(layer, shape[1:], k, s)
                self.mods[key] = (nn.MaxPool2d(k, s, pad) if t.startswith("Max") else
                                  nn.AvgPool2d(k, s, pad, count_include_pad=False))
            elif t == "BatchNormalization":
                self.mods[key] = nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
            elif t == "Activation":
                self.mods[key] = act
            elif t in ("LocalResponseNormalization", "LRN"):
                size = layer.get("size", 5)
                self.mods[key] = nn.LocalResponseNorm(size, layer.get("alpha", 1e-4) * size,
                                                      layer.get("beta", 0.75), layer.get("bias", 2.0))
            shapes[name] = self.out_shape(layer, ins)

    def out_shape(self, layer, ins):
        with torch.no_grad():
            return tuple(self.apply(layer, [torch.zeros((1,) + s) for s in ins]).shape[1:])

    def apply(self, layer, ins):
        t, name = layer["type"], layer["name"]
        h = ins[0]
        if t in ("Conv2D", "Dense", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
                 "BatchNormalization", "Activation", "LocalResponseNormalization", "LRN"):
            pad = self.pads.get(name)
            if pad is not None:
                h = F.pad(h, pad, value=float("-inf") if "Max" in t else 0.0)
            return self.mods[name.replace("/", "__")](h)
        if t == "Flatten":
            return h.flatten(1)
        if t == "GlobalAveragePooling2D":
            return h.mean(dim=(2, 3))
        if t == "Dropout":
            return F.dropout(h, layer["rate"], self.training)
        if t == "Add":
            return sum(ins)
        if t == "Concatenate":
            return torch.cat(ins, dim=1)
        if t == "ZeroPadding2D":
            p = layer["padding"]
            p = [[p, p], [p, p]] if isinstance(p, int) else p
            p = [[p[0], p[0]], [p[1], p[1]]] if isinstance(p[0], int) else p
            return F.pad(h, (p[1][0], p[1][1], p[0][0], p[0][1]))
        raise ValueError("models_torch.py has no layer type " + t)

    def forward(self, x):
        values = {"input": x}
        for layer in self.layers:
            values[layer["name"]] = self.apply(layer, [values[n] for n in layer["inputs"]])
        return values[self.layers[-1]["name"]]


def optimizer(net, model):
    """The model file's SGD (momentum, Nesterov, L2), so that both sides do the
    same work: PyTorch keeps no momentum buffers at momentum 0. The learning
    rate is 0, as in `cnnc bench`: the update's arithmetic runs, but the weights
    (and so the timing) stay steady. A kernel's L2 term l * sum(w^2) becomes
    weight decay 2 * l on that kernel alone."""
    sgd = model.get("training", {}).get("optimizer", {})
    decayed = []  # (kernel, weight decay)
    for layer in net.layers:
        l2 = (layer.get("kernel_regularizer") or {}).get("l2", 0.0)
        if l2 and layer["type"] in ("Conv2D", "Dense"):
            decayed.append((net.mods[layer["name"].replace("/", "__")][0].weight, 2.0 * l2))
    ids = {id(p) for p, _ in decayed}
    groups = [{"params": [p for p in net.parameters() if id(p) not in ids], "weight_decay": 0.0}]
    groups += [{"params": [p], "weight_decay": d} for p, d in decayed]
    return torch.optim.SGD(groups, lr=0.0, momentum=sgd.get("momentum", 0.0),
                           nesterov=sgd.get("nesterov", False))


def main():
    mode, path, batch, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(path) as f:
        model = json.load(f)
    torch.manual_seed(0)
    net = Net(model)
    h, w, c = model["input"]["shape"]
    x = torch.rand(batch, c, h, w)
    if mode == "train":
        classes = net.forward(x[:1]).shape[1]
        y = torch.randint(0, classes, (batch,))
        opt = optimizer(net, model)
        net.train()

        def step():
            opt.zero_grad()
            # The last layer's softmax is part of the model; the loss takes its log.
            loss = F.nll_loss(torch.log(net(x) + 1e-12), y)
            loss.backward()
            opt.step()

        ms = 1e3 * median_seconds(step, iters)
    else:
        net.eval()
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x)))
            ms = 1e3 * median_seconds(lambda: frozen(x), iters)
    print(json.dumps({"model": model["name"], "mode": mode, "batch": batch, "iters": iters,
                      "median_ms": ms, "images_per_s": batch * 1e3 / ms}))


if __name__ == "__main__":
    main()
