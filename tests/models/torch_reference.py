"""An independent PyTorch implementation of cnnc/1 model files (model-format.md),
used as the reference the generated libraries are compared against.

Tensors stay NHWC between layers, as in Keras; each layer converts as it needs.
"""
import json
import struct

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[base + a:base + b], dtype="<f4").reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def expand(model):
    """Layers with modules expanded, names defaulted and inputs resolved."""
    modules = model.get("modules", {})
    layers = []
    outputs = {}  # a module use's name -> the name of its last layer, which other layers read

    def subst(value, params):
        if isinstance(value, str) and value.startswith("$") and value[1:] in params:
            return params[value[1:]]
        if isinstance(value, list):
            return [subst(v, params) for v in value]
        if isinstance(value, dict):  # e.g. "kernel_regularizer": {"l2": "$l2"}
            return {k: subst(v, params) for k, v in value.items()}
        return value

    def add(layer_list, prefix, params, module_input):
        previous = module_input
        for i, raw in enumerate(layer_list):
            # "type", "name" and "inputs" are never parameters (as in the frontend)
            layer = {k: (v if k in ("type", "name", "inputs") else subst(v, params)) for k, v in raw.items()}
            name = prefix + layer.get("name", "%s_%d" % (layer["type"].lower(), i))
            inputs = layer.get("inputs")
            if inputs is None:
                inputs = [previous]
            else:
                inputs = [module_input if x == "$input" else ("input" if x == "input" else
                                                             outputs.get(prefix + x, prefix + x)) for x in inputs]
            if layer["type"] in modules:
                mod = modules[layer["type"]]
                # the use's values: its own keys, or a "params" object holding them
                given = layer["params"] if isinstance(layer.get("params"), dict) and "params" not in mod["params"] else layer
                args = {p: given[p] for p in mod["params"]}
                previous = outputs[name] = add(mod["layers"], name + "/", args, inputs[0])
                continue
            layer["name"], layer["inputs"] = name, inputs
            layers.append(layer)
            previous = name
        return previous

    add(model["layers"], "", {}, "input")
    return layers


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, dim=-1),
}


def pad_nchw(x, layer, kh, kw, sh, sw, value=0.0):
    if layer.get("padding", "valid") != "same":
        return x
    top, bottom = same_pads(x.shape[2], kh, sh)
    left, right = same_pads(x.shape[3], kw, sw)
    return F.pad(x, (left, right, top, bottom), value=value)


def forward(model, weights, x, logits_only=False, training=False, moving=None, relu=None, max_pool=None):
    """Runs the model on NHWC input x (a torch tensor). weights: name -> tensor.
    With logits_only, the last layer's softmax is left out. With training,
    BatchNormalization normalises with the batch statistics and, when moving is
    a dict, stores there the updated moving statistics (name -> tensor);
    Dropout must then have rate 0 (its random masks cannot be reproduced).
    relu(layer name, pre-activation) replaces every ReLU when given (fused
    into a Conv2D/Dense or an Activation layer), and max_pool(layer name,
    padded NCHW input, kernel, strides) every max pooling: the parity test
    watches them."""
    values = {"input": x}
    layers = expand(model)
    for i, layer in enumerate(layers):
        t = layer["type"]
        ins = [values[n] for n in layer["inputs"]]
        h = ins[0]
        name = layer["name"]
        act = layer.get("activation", "linear")
        if logits_only and i == len(layers) - 1:
            act = "linear"
        activate = ACTIVATIONS[act]
        if act == "relu" and relu is not None:
            activate = lambda v, name=name: relu(name, v)  # noqa: E731
        if t == "Conv2D":
            kh, kw = pair(layer["kernel_size"])
            sh, sw = pair(layer.get("strides", 1))
            xn = pad_nchw(h.permute(0, 3, 1, 2), layer, kh, kw, sh, sw)
            w = weights[name + ".kernel"].permute(3, 2, 0, 1)
            b = weights.get(name + ".bias") if layer.get("use_bias", True) else None
            y = F.conv2d(xn, w, b, stride=(sh, sw)).permute(0, 2, 3, 1)
            values[name] = activate(y)
        elif t == "Dense":
            y = h @ weights[name + ".kernel"]
            if layer.get("use_bias", True):
                y = y + weights[name + ".bias"]
            values[name] = activate(y)
        elif t in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
            kh, kw = pair(layer.get("pool_size", 2))
            sh, sw = pair(layer.get("strides") or layer.get("pool_size", 2))
            xn = h.permute(0, 3, 1, 2)
            if t.startswith("Max"):
                pool = max_pool or (lambda _, v, k, s: F.max_pool2d(v, k, s))
                y = pool(name, pad_nchw(xn, layer, kh, kw, sh, sw, float("-inf")), (kh, kw), (sh, sw))
            else:
                total = F.avg_pool2d(pad_nchw(xn, layer, kh, kw, sh, sw), (kh, kw), (sh, sw), divisor_override=1)
                ones = torch.ones_like(xn[:, :1])
                count = F.avg_pool2d(pad_nchw(ones, layer, kh, kw, sh, sw), (kh, kw), (sh, sw), divisor_override=1)
                y = total / count
            values[name] = y.permute(0, 2, 3, 1)
        elif t == "GlobalAveragePooling2D":
            values[name] = h.mean(dim=(1, 2))
        elif t == "Flatten":
            values[name] = h.reshape(h.shape[0], -1)
        elif t == "Activation":
            values[name] = activate(h)
        elif t == "Dropout":
            if training and layer["rate"] != 0:
                raise ValueError("reference: training through Dropout %s needs rate 0" % name)
            values[name] = h
        elif t == "Add":
            values[name] = sum(ins)
        elif t == "Concatenate":
            values[name] = torch.cat(ins, dim=-1)
        elif t == "ZeroPadding2D":
            p = layer["padding"]
            if isinstance(p, int):
                p = [[p, p], [p, p]]
            elif isinstance(p[0], int):
                p = [[p[0], p[0]], [p[1], p[1]]]
            values[name] = F.pad(h, (0, 0, p[1][0], p[1][1], p[0][0], p[0][1]))
        elif t == "BatchNormalization":
            eps = layer.get("epsilon", 0.001)
            g = weights[name + ".gamma"] if layer.get("scale", True) else 1.0
            b = weights[name + ".beta"] if layer.get("center", True) else 0.0
            m, v = weights[name + ".moving_mean"], weights[name + ".moving_variance"]
            if training:
                # normalise with the batch mean and biased variance over every axis but channels
                axes = tuple(range(h.dim() - 1))
                mean, var = h.mean(dim=axes), h.var(dim=axes, unbiased=False)
                values[name] = g * (h - mean) / torch.sqrt(var + eps) + b
                if moving is not None:
                    # the moving variance takes the UNBIASED batch variance (model-format.md)
                    count = h.numel() // h.shape[-1]
                    momentum = layer.get("momentum", 0.99)
                    moving[name + ".moving_mean"] = momentum * m + (1 - momentum) * mean.detach()
                    moving[name + ".moving_variance"] = (
                        momentum * v + (1 - momentum) * var.detach() * count / (count - 1))
            else:
                values[name] = g * (h - m) / torch.sqrt(v + eps) + b
        elif t in ("LocalResponseNormalization", "LRN"):
            size, alpha = layer.get("size", 5), layer.get("alpha", 1e-4)
            beta, bias = layer.get("beta", 0.75), layer.get("bias", 2.0)
            sq = F.pad((h * h).unsqueeze(1), (size // 2, size // 2)).squeeze(1)
            s = sum(sq[..., j:j + h.shape[-1]] for j in range(size))
            values[name] = h / (bias + alpha * s) ** beta
        else:
            raise ValueError("reference has no layer type " + t)
    return values[layers[-1]["name"]]


def trace(model, input_shape):
    """(variables, shapes): every variable as (name, shape, l2) in the weights-file
    naming and order of model-format.md, and every layer's output shape (batch excluded)."""
    specs = []
    layers = expand(model)
    shapes = {"input": list(input_shape)}
    for layer in layers:
        t, name = layer["type"], layer["name"]
        s = shapes[layer["inputs"][0]]
        l2 = (layer.get("kernel_regularizer") or {}).get("l2", 0.0)
        if t == "Conv2D":
            kh, kw = pair(layer["kernel_size"])
            sh, sw = pair(layer.get("strides", 1))
            if layer.get("padding", "valid") == "same":
                oh, ow = -(-s[0] // sh), -(-s[1] // sw)
            else:
                oh, ow = (s[0] - kh) // sh + 1, (s[1] - kw) // sw + 1
            specs.append((name + ".kernel", [kh, kw, s[2], layer["filters"]], l2))
            if layer.get("use_bias", True):
                specs.append((name + ".bias", [layer["filters"]], 0.0))
            shapes[name] = [oh, ow, layer["filters"]]
        elif t == "Dense":
            specs.append((name + ".kernel", [s[-1], layer["units"]], l2))
            if layer.get("use_bias", True):
                specs.append((name + ".bias", [layer["units"]], 0.0))
            shapes[name] = s[:-1] + [layer["units"]]
        elif t in ("MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D"):
            kh, kw = pair(layer.get("pool_size", 2))
            sh, sw = pair(layer.get("strides") or layer.get("pool_size", 2))
            if layer.get("padding", "valid") == "same":
                shapes[name] = [-(-s[0] // sh), -(-s[1] // sw), s[2]]
            else:
                shapes[name] = [(s[0] - kh) // sh + 1, (s[1] - kw) // sw + 1, s[2]]
        elif t == "Flatten":
            shapes[name] = [int(np.prod(s))]
        elif t == "GlobalAveragePooling2D":
            shapes[name] = [s[-1]]
        elif t == "BatchNormalization":
            c = [s[-1]]
            if layer.get("scale", True):
                specs.append((name + ".gamma", c, 0.0))
            if layer.get("center", True):
                specs.append((name + ".beta", c, 0.0))
            specs += [(name + ".moving_mean", c, 0.0), (name + ".moving_variance", c, 0.0)]
            shapes[name] = list(s)
        elif t in ("Activation", "Dropout", "LocalResponseNormalization", "LRN", "Add"):
            shapes[name] = list(s)
        elif t == "Concatenate":
            ins = [shapes[n] for n in layer["inputs"]]
            shapes[name] = ins[0][:-1] + [sum(x[-1] for x in ins)]
        elif t == "ZeroPadding2D":
            p = layer["padding"]
            if isinstance(p, int):
                p = [[p, p], [p, p]]
            elif isinstance(p[0], int):
                p = [[p[0], p[0]], [p[1], p[1]]]
            shapes[name] = [s[0] + sum(p[0]), s[1] + sum(p[1]), s[2]]
        else:
            raise ValueError("trace(): layer type %s unknown to the reference" % t)
    return specs, shapes


def variables(model, input_shape):
    """(name, shape, l2) of every variable, in the weights-file naming."""
    return trace(model, input_shape)[0]


def output_shape(model):
    layers = expand(model)
    return trace(model, model["input"]["shape"])[1][layers[-1]["name"]]


def is_trainable(name):
    """BatchNormalization's moving statistics are variables the optimiser never updates."""
    return not name.endswith((".moving_mean", ".moving_variance"))


def parameter_count(model):
    """Keras's "Total params": every variable, moving statistics included."""
    return sum(int(np.prod(shape)) for _, shape, _ in variables(model, model["input"]["shape"]))
