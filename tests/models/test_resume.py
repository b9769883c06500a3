"""Resume is bit-exact: 3 epochs in one run, and 1 epoch then --resume for the
rest, give bitwise identical weights (shuffling and initialisation seeded and
saved in the checkpoint)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit("failed (%d): %s" % (r.returncode, " ".join(cmd)))


def main():
    cnnc, model = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        x = rng.random((200, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, 200).astype(np.int32)
        np.save(os.path.join(tmp, "x.npy"), x)
        np.save(os.path.join(tmp, "y.npy"), y)
        data = ["--train-images", os.path.join(tmp, "x.npy"), "--train-labels", os.path.join(tmp, "y.npy"),
                "--val-images", os.path.join(tmp, "x.npy"), "--val-labels", os.path.join(tmp, "y.npy")]
        whole, part = os.path.join(tmp, "whole.safetensors"), os.path.join(tmp, "part.safetensors")
        run([cnnc, "train", model, *data, "--epochs", "3", "--save", whole,
             "--checkpoint", os.path.join(tmp, "a.ckpt.safetensors")])
        ckpt = os.path.join(tmp, "b.ckpt.safetensors")
        run([cnnc, "train", model, *data, "--epochs", "1", "--checkpoint", ckpt])
        run([cnnc, "train", model, *data, "--epochs", "3", "--resume", ckpt, "--checkpoint", ckpt,
             "--save", part])
        a, b = ref.read_safetensors(whole), ref.read_safetensors(part)
        assert a.keys() == b.keys(), (a.keys(), b.keys())
        differing = [k for k in a if a[k].tobytes() != b[k].tobytes()]
        moved = any(np.any(a[k] != 0) for k in a)
        if differing or not moved:
            print("FAIL: tensors differ after resume: %s" % differing)
            return 1
        print("PASS: %d tensors bitwise equal after 3 epochs vs 1 + resume 2" % len(a))
        return 0


if __name__ == "__main__":
    sys.exit(main())
