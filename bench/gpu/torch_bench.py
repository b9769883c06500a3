"""PyTorch peers of the CUDA libraries on the same GPU, and the ratios.

  torch_bench.py TIMINGS.jsonl

TIMINGS.jsonl holds device_check.sh's measurements of the cnnc libraries (one
object per line: model, kind infer|train, batch, cnnc: bench_main's JSON). For
each, PyTorch runs the same network and call: host images in, outputs (or the
loss) back to the host, median of 10 calls after warm-up, cudnn.benchmark on:
FP32 with TF32 off (the peer), and for reference TF32 and bf16 autocast.
The networks are torchvision's (weights=None) and bench/lenet5_torch.py's
LeNet-5; torchvision's GoogLeNet has BatchNorm after every convolution (the
paper's and models/googlenet.json do not), so its ratio is approximate.
Ratio = PyTorch time / cnnc time (above 1: cnnc is faster).
"""
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lenet5_torch import LeNet5  # noqa: E402
from timing import median_seconds  # noqa: E402

torch.backends.cudnn.benchmark = True
SIZES = {"lenet5": (1, 28), "alexnet": (3, 227), "vgg16": (3, 224), "googlenet": (3, 224),
         "resnet50": (3, 224)}


def network(name):
    if name == "lenet5":
        return LeNet5()
    if name == "googlenet":
        return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    return getattr(torchvision.models, name)(weights=None)


def set_precision(precision):
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def measure(name, kind, batch, precision, iters=10):
    set_precision(precision)
    channels, size = SIZES[name]
    model = network(name).cuda()
    x = torch.rand(batch, channels, size, size)  # pageable host memory, as cnnc's callers'
    y = torch.randint(0, 10, (batch,))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
    if kind == "infer":
        model.eval()

        def call():
            with torch.no_grad(), autocast:
                return model(x.cuda()).float().cpu()
    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def call():
            opt.zero_grad(set_to_none=True)
            with autocast:
                loss = torch.nn.functional.cross_entropy(model(x.cuda()).float(), y.cuda())
            loss.backward()
            opt.step()
            return loss.item()
    return 1e3 * median_seconds(call, iters)


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("%-10s %-5s %5s %10s %10s %7s %10s %10s" %
          ("model", "call", "batch", "cnnc ms", "fp32 ms", "ratio", "tf32 ms", "bf16 ms"))
    for r in rows:
        cnnc = r["cnnc"]["median_ms"]
        t = {p: measure(r["model"], r["kind"], r["batch"], p) for p in ("fp32", "tf32", "bf16")}
        print("%-10s %-5s %5d %10.3f %10.3f %7.3f %10.3f %10.3f" %
              (r["model"], r["kind"], r["batch"], cnnc, t["fp32"], t["fp32"] / cnnc, t["tf32"], t["bf16"]),
              flush=True)
        torch.cuda.empty_cache()
    print("ratio: PyTorch FP32 (TF32 off) time / cnnc time; the goal is ResNet-50 batch 64 >= 0.5")


if __name__ == "__main__":
    main()
