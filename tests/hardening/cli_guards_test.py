#!/usr/bin/python3
"""`cnnc train` error paths at the command line, and the training curves:
  corrupt   a flipped byte in a checkpoint: --resume exits 2 naming the file
            and the checksum
  nan       ReLU and a learning rate of 1e6: exit 3, a message naming epoch, batch and
            step, the last good checkpoint kept; --skip-nonfinite finishes
  plot      the SVG beside the checkpoint is well-formed XML with the series

  cli_guards_test.py CNNC MODEL.json corrupt|nan|plot
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

import cnnc_files


def train(cnnc, model, x, y, *flags):
    cmd = [cnnc, "train", model, "--train-images", x, "--train-labels", y] + list(flags)
    return subprocess.run(cmd, capture_output=True, text=True)


def expect(condition, what, result=None):
    if not condition:
        detail = "" if result is None else "\nexit %d\nstdout:\n%s\nstderr:\n%s" % (
            result.returncode, result.stdout, result.stderr)
        sys.exit("FAIL: " + what + detail)


def corrupt_test(cnnc, model, work, x, y):
    ckpt = os.path.join(work, "good.safetensors")
    r = train(cnnc, model, x, y, "--steps", "2", "--batch-size", "32", "--checkpoint", ckpt)
    expect(r.returncode == 0, "the first run failed", r)
    raw = open(ckpt, "rb").read()
    header_length = int.from_bytes(raw[:8], "little")
    step_digit = raw.find(b'"global_step":"') + len('"global_step":"')
    checksum_digit = raw.find(cnnc_files.CHECKSUM_KEY) + len(cnnc_files.CHECKSUM_KEY) + 3
    places = {"last data byte": len(raw) - 1, "middle of the data": 8 + header_length +
              (len(raw) - 8 - header_length) // 2, "a metadata digit": step_digit,
              "a checksum digit": checksum_digit}
    for what, at in places.items():
        bad = os.path.join(work, "bad.safetensors")
        flipped = bytearray(raw)
        flipped[at] ^= 0x01 if what.endswith("digit") else 0x40
        open(bad, "wb").write(bytes(flipped))
        r = train(cnnc, model, x, y, "--epochs", "2", "--batch-size", "32", "--resume", bad)
        expect(r.returncode == 2, "a flipped byte (%s) was not refused with exit 2" % what, r)
        expect(bad in r.stderr and "checksum mismatch" in r.stderr,
               "the message does not name the file and the checksum (%s)" % what, r)
    print("PASS: %d flipped bytes refused with exit 2 and a checksum message" % len(places))


def huge_lr_model(model, work):
    """The model with a learning rate of 1e6 and ReLU for tanh (tanh saturates,
    so a huge rate alone only makes the loss huge; through ReLUs it overflows).
    Same name and variables: it resumes the original's checkpoints."""
    with open(model) as f:
        spec = json.load(f)
    spec["training"]["optimizer"]["learning_rate"] = 1e6
    for layer in spec["layers"]:
        if layer.get("activation") == "tanh":
            layer["activation"] = "relu"
    path = os.path.join(work, "lenet5_huge_lr.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def nan_test(cnnc, model, work, x, y):
    diverging = huge_lr_model(model, work)
    ckpt = os.path.join(work, "nan.safetensors")
    # One good epoch at the model's own rate, then resume with the huge one.
    r = train(cnnc, model, x, y, "--epochs", "1", "--batch-size", "32", "--checkpoint", ckpt)
    expect(r.returncode == 0, "the good epoch failed", r)
    good = open(ckpt, "rb").read()
    r = train(cnnc, diverging, x, y, "--epochs", "3", "--batch-size", "32", "--checkpoint", ckpt,
              "--resume", ckpt)
    expect(r.returncode == 3, "a diverging run did not exit with 3", r)
    pattern = (r"training diverged at epoch 2, batch \d+/16 \(step \d+\): the (loss is (nan|inf|-inf)"
               r"|weights are not finite|a gradient is not finite)")
    expect(re.search(pattern, r.stderr), "the message does not name epoch, batch and step", r)
    expect("the last good checkpoint, " + ckpt + ", is kept" in r.stderr,
           "the message does not name the kept checkpoint", r)
    expect(open(ckpt, "rb").read() == good, "the last good checkpoint was overwritten")
    print("PASS: exit 3 with: " + r.stderr.strip().splitlines()[-1])

    skipped = os.path.join(work, "skipped.safetensors")
    r = train(cnnc, diverging, x, y, "--epochs", "2", "--batch-size", "32", "--skip-nonfinite",
              "--save", skipped)
    expect(r.returncode == 0, "--skip-nonfinite did not finish", r)
    expect("skipped" in r.stderr, "--skip-nonfinite did not say it skipped batches", r)
    _, tensors, _ = cnnc_files.read_safetensors(skipped)
    expect(cnnc_files.all_finite(tensors), "--skip-nonfinite left non-finite weights")
    print("PASS: --skip-nonfinite finished with finite weights")


def plot_test(cnnc, model, work, x, y):
    vx, vy = x.replace("x.npy", "vx.npy"), y.replace("y.npy", "vy.npy")
    shutil.copy(x, vx)
    shutil.copy(y, vy)
    ckpt = os.path.join(work, "run.safetensors")
    r = train(cnnc, model, x, y, "--val-images", vx, "--val-labels", vy, "--epochs", "3",
              "--batch-size", "32", "--checkpoint", ckpt)
    expect(r.returncode == 0, "training failed", r)
    svg_path = os.path.join(work, "run.history.svg")
    csv_path = os.path.join(work, "run.history.csv")
    expect(os.path.exists(csv_path), "no history CSV beside the checkpoint")
    root = ElementTree.parse(svg_path).getroot()  # raises on malformed XML
    ns = "{http://www.w3.org/2000/svg}"
    expect(root.tag == ns + "svg", "the root element is not <svg>")
    series = {p.get("data-name"): p.get("points").split() for p in root.iter(ns + "polyline")}
    for name in ("training loss", "validation loss", "training accuracy", "validation accuracy"):
        expect(len(series.get(name, [])) == 3, "series '%s' lacks 3 points: %s" % (name, series))
    texts = [t.text for t in root.iter(ns + "text")]
    for label in ("epoch", "accuracy", "loss", "training loss", "validation accuracy"):
        expect(label in texts, "the plot has no text '%s'" % label)
    print("PASS: %s is well-formed SVG with 4 series of 3 points" % svg_path)


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("corrupt", "nan", "plot"):
        sys.exit(__doc__)
    cnnc, model, which = sys.argv[1:]
    os.environ.setdefault("CNNC_NUM_THREADS", "2")
    work = tempfile.mkdtemp(prefix="cnnc-%s-" % which)
    x, y = cnnc_files.write_dataset(work, 512, seed=7)
    {"corrupt": corrupt_test, "nan": nan_test, "plot": plot_test}[which](cnnc, model, work, x, y)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
