"""Every bundled model file loads (`cnnc inspect` succeeds) and has exactly the
parameter count Keras would print as "Total params" (BatchNormalization's
moving statistics included).

  test_param_counts.py CNNC MODELS_DIR

Three independent sources must agree for each model: the number written here
(Keras's published counts for VGG and ResNet-50; the others counted by hand
from the seed and the papers), `cnnc inspect`, and a torch.nn build of the
same architecture written from the papers, not from the JSON files. The
reference's own count (torch_reference.variables, which the parity tests use
to make weights files) is checked too, and its layer names, shapes and
per-layer counts against cnnc inspect's (module expansion, default names).
"""
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

EXPECTED = {
    "lenet5": 545_546,
    "lenet5_momentum": 545_546,
    "alexnet": 62_383_848,      # 62,378,344 weights + 5,504 BN values (1,376 channels x 4)
    "alexnet_lrn": 62_378_344,
    "vgg11": 132_863_336,       # keras.applications / torchvision's counts
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "googlenet": 6_994_392,     # the seed's stem (no 1x1 reduce), no auxiliary classifiers
    "resnet50": 25_636_712,     # keras.applications.ResNet50: 25,583,592 trainable + 53,120
    "resnet_mini": 227_018,
}


# --- torch.nn builds of the architectures (NCHW, counted only, never run) ---

def alexnet(batch_norm):
    layers = [nn.Conv2d(3, 96, 11, 4), nn.Conv2d(96, 256, 5), nn.Conv2d(256, 384, 3),
              nn.Conv2d(384, 384, 3), nn.Conv2d(384, 256, 3)]
    if batch_norm:  # the seed: BN after each of the five convolution blocks
        layers += [nn.BatchNorm2d(c) for c in (96, 256, 384, 384, 256)]
    layers += [nn.Linear(6 * 6 * 256, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def vgg(per_block):
    layers, c = [], 3
    for n, f in zip(per_block, (64, 128, 256, 512, 512)):
        for _ in range(n):
            layers.append(nn.Conv2d(c, f, 3, padding=1))
            c = f
    layers += [nn.Linear(7 * 7 * 512, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)]
    return nn.Sequential(*layers)


def googlenet():
    def inception(c, f1, f3r, f3, f5r, f5, fp):
        return [nn.Conv2d(c, f1, 1), nn.Conv2d(c, f3r, 1), nn.Conv2d(f3r, f3, 3),
                nn.Conv2d(c, f5r, 1), nn.Conv2d(f5r, f5, 5), nn.Conv2d(c, fp, 1)], f1 + f3 + f5 + fp
    layers, c = [nn.Conv2d(3, 64, 7), nn.Conv2d(64, 192, 3)], 192
    for f in [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
              (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
              (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]:
        convs, c = inception(c, *f)
        layers += convs
    layers.append(nn.Linear(c, 1000))
    return nn.Sequential(*layers)


def resnet(stem_kernel, in_channels, stem_filters, blocks, widths, classes):
    """Bottleneck ResNet with biased convolutions (Keras's default) and projection
    shortcuts on the first block of each stage."""
    layers = [nn.Conv2d(in_channels, stem_filters, stem_kernel), nn.BatchNorm2d(stem_filters)]
    c = stem_filters
    for n, (f1, f2, f3) in zip(blocks, widths):
        for b in range(n):
            layers += [nn.Conv2d(c, f1, 1), nn.BatchNorm2d(f1), nn.Conv2d(f1, f2, 3), nn.BatchNorm2d(f2),
                       nn.Conv2d(f2, f3, 1), nn.BatchNorm2d(f3)]
            if b == 0:
                layers += [nn.Conv2d(c, f3, 1), nn.BatchNorm2d(f3)]
            c = f3
    layers.append(nn.Linear(c, classes))
    return nn.Sequential(*layers)


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5), nn.Conv2d(16, 120, 5),
                         nn.Linear(7 * 7 * 120, 84), nn.Linear(84, 10))


BUILDS = {
    "lenet5": lenet5,
    "lenet5_momentum": lenet5,
    "alexnet": lambda: alexnet(True),
    "alexnet_lrn": lambda: alexnet(False),
    "vgg11": lambda: vgg((1, 1, 2, 2, 2)),
    "vgg13": lambda: vgg((2, 2, 2, 2, 2)),
    "vgg16": lambda: vgg((2, 2, 3, 3, 3)),
    "vgg19": lambda: vgg((2, 2, 4, 4, 4)),
    "googlenet": googlenet,
    "resnet50": lambda: resnet(7, 3, 64, (3, 4, 6, 3), ((64, 64, 256), (128, 128, 512),
                                                      (256, 256, 1024), (512, 512, 2048)), 1000),
    "resnet_mini": lambda: resnet(3, 1, 32, (2, 2, 2), ((16, 16, 64), (32, 32, 128), (64, 64, 256)), 10),
}


def torch_count(module):
    # Keras counts BN's moving mean and variance; torch keeps them as buffers.
    buffers = sum(b.numel() for name, b in module.named_buffers() if "running_" in name)
    return sum(p.numel() for p in module.parameters()) + buffers


def inspect(cnnc, path):
    """cnnc inspect's total, and its layers as {name: (shape, params)}."""
    r = subprocess.run([cnnc, "inspect", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cnnc inspect %s failed (%d):\n%s%s" % (path, r.returncode, r.stdout, r.stderr))
    m = re.search(r"^Total params: ([0-9,]+)$", r.stdout, re.M)
    if not m:
        raise RuntimeError("cnnc inspect %s printed no 'Total params:' line" % path)
    layers = {}
    for name, shape, params in re.findall(r"^(\S+) \(\w+\)\s+(\S+)\s+([0-9,]+)\s+[0-9,]+$", r.stdout, re.M):
        layers[name] = ([int(d) for d in shape.split("x")], int(params.replace(",", "")))
    return int(m.group(1).replace(",", "")), layers


def reference_layers(model):
    """The reference's expansion as {name: (shape, params)}: the same layer names
    (modules' "<use>/<inner>", defaults "<type>_<index>") and shapes as cnnc's."""
    specs, shapes = ref.trace(model, model["input"]["shape"])
    layers = {"input": (list(model["input"]["shape"]), 0)}
    layers.update({layer["name"]: (shapes[layer["name"]], 0) for layer in ref.expand(model)})
    for var, shape, _ in specs:
        name = var.rsplit(".", 1)[0]
        layers[name] = (layers[name][0], layers[name][1] + int(np.prod(shape)))
    return layers


def compare_layers(cnnc_layers, ref_layers):
    problems = ["only cnnc has layer %s" % n for n in cnnc_layers if n not in ref_layers]
    problems += ["only the reference has layer %s" % n for n in ref_layers if n not in cnnc_layers]
    problems += ["layer %s: cnnc %s, reference %s" % (n, cnnc_layers[n], ref_layers[n])
                 for n in cnnc_layers if n in ref_layers and cnnc_layers[n] != ref_layers[n]]
    if problems:
        raise RuntimeError("layers differ: " + "; ".join(problems[:5]))


def main():
    cnnc, models_dir = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(models_dir, "*.json")))
    failures = 0
    seen = set()
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0]
        seen.add(name)
        try:
            with open(path) as f:
                model = json.load(f)
            total, cnnc_layers = inspect(cnnc, path)
            compare_layers(cnnc_layers, reference_layers(model))
            got = {"cnnc inspect": total, "reference": ref.parameter_count(model)}
            if name in BUILDS:
                got["torch.nn"] = torch_count(BUILDS[name]())
            want = EXPECTED.get(name)
            if not model.get("description"):
                raise RuntimeError("no \"description\" field")
        except Exception as e:  # report every model, not only the first failure
            print("FAIL %-16s %s" % (name, e))
            failures += 1
            continue
        bad = {k: v for k, v in got.items() if v != want}
        status = "ok  " if want is not None and not bad else "FAIL"
        failures += status == "FAIL"
        detail = ", ".join("%s %s" % (k, format(v, ",")) for k, v in got.items())
        print("%s %-16s expected %s; %s" % (status, name, format(want, ",") if want else "(no number here)", detail))
    for name in sorted(set(EXPECTED) - seen):
        print("FAIL %-16s models/%s.json is missing" % (name, name))
        failures += 1
    print("PASS" if failures == 0 else "FAIL: %d model(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
