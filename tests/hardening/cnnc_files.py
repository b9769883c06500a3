"""Helpers for the hardening tests: data sets as .npy, safetensors files read
back. (Checksums are verified by checkpoint_check, the runtime's own code.)"""
import json
import os
import struct

import numpy as np

CHECKSUM_KEY = b'"checksum":"fnv1a64:'


def write_dataset(folder, n, seed, classes=10, shape=(28, 28, 1)):
    """Random images in [0, 1) and labels; returns (images path, labels path)."""
    rng = np.random.default_rng(seed)
    images = rng.random((n,) + shape, dtype=np.float32)
    labels = rng.integers(0, classes, n).astype(np.int32)
    x, y = os.path.join(folder, "x.npy"), os.path.join(folder, "y.npy")
    np.save(x, images)
    np.save(y, labels)
    return x, y


def read_safetensors(path):
    """(metadata dict, {name: float32 array}, raw bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    metadata = header.pop("__metadata__", {})
    data = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
    return metadata, tensors, raw


def all_finite(tensors):
    return all(np.isfinite(t).all() for t in tensors.values())
