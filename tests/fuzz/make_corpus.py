#!/usr/bin/python3
"""Writes the fuzzers' seed corpora (tests/fuzz/corpus/<target>/): valid
inputs and broken ones, a dozen or so each. Rerun after changing a format."""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(ROOT, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def model_json_corpus():
    repo = os.path.dirname(os.path.dirname(ROOT))
    with open(os.path.join(repo, "models", "lenet5_momentum.json")) as f:
        write("fuzz_model_json", "lenet5_momentum.json", f.read())
    base = {"format": "cnnc/1", "name": "m", "input": {"shape": [8, 8, 3]}}
    def model(layers, **extra):
        return json.dumps(dict(base, layers=layers, **extra))
    write("fuzz_model_json", "dense.json", model([
        {"type": "Flatten", "name": "f"}, {"type": "Dense", "name": "d", "units": 4, "activation": "softmax"}]))
    write("fuzz_model_json", "residual.json", model([
        {"type": "Conv2D", "name": "c1", "filters": 3, "kernel_size": 3, "padding": "same"},
        {"type": "BatchNormalization", "name": "bn"},
        {"type": "Add", "name": "add", "inputs": ["bn", "input"]},
        {"type": "Activation", "name": "relu", "activation": "relu"},
        {"type": "MaxPooling2D", "name": "p", "pool_size": 2},
        {"type": "GlobalAveragePooling2D", "name": "g"},
        {"type": "Dense", "name": "out", "units": 2}]))
    write("fuzz_model_json", "module.json", model(
        [{"type": "block", "name": "b1", "f": 4}, {"type": "block", "name": "b2", "f": 2},
         {"type": "Flatten", "name": "fl"}, {"type": "Dense", "name": "o", "units": 3}],
        modules={"block": {"params": ["f"], "layers": [
            {"type": "Conv2D", "name": "a", "inputs": ["$input"], "filters": "$f", "kernel_size": 1},
            {"type": "Conv2D", "name": "b", "inputs": ["$input"], "filters": "$f", "kernel_size": 3, "padding": "same"},
            {"type": "Concatenate", "name": "cat", "inputs": ["a", "b"]}]}}))
    write("fuzz_model_json", "training.json", model(
        [{"type": "Flatten", "name": "f"}, {"type": "Dropout", "name": "dr", "rate": 0.5},
         {"type": "Dense", "name": "d", "units": 2, "kernel_regularizer": {"l2": 0.001}}],
        training={"batch_size": 8, "epochs": 2, "loss": "categorical_crossentropy",
                  "optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
                  "lr_schedule": {"type": "piecewise", "boundaries": [1], "values": [0.1, 0.01]},
                  "augmentation": {"random_crop_padding": 2, "horizontal_flip": True}}))
    write("fuzz_model_json", "recursive_module.json", model(
        [{"type": "loop", "name": "l"}], modules={"loop": {"layers": [{"type": "loop", "name": "x"}]}}))
    write("fuzz_model_json", "huge_shape.json", json.dumps(dict(base, input={"shape": [1 << 20, 1 << 20, 1 << 20]},
                                                                 layers=[{"type": "Flatten", "name": "f"}])))
    write("fuzz_model_json", "lrn_zeropad.json", model([
        {"type": "ZeroPadding2D", "name": "z", "padding": 1},
        {"type": "LocalResponseNormalization", "name": "lrn", "size": 5, "alpha": 0.0001, "beta": 0.75, "bias": 2},
        {"type": "AveragePooling2D", "name": "ap", "pool_size": 3, "strides": 2, "padding": "same"}]))
    write("fuzz_model_json", "truncated.json", model([{"type": "Dense", "name": "d", "units": 2}])[:70])
    write("fuzz_model_json", "not_object.json", "[1, 2, 3]")
    write("fuzz_model_json", "duplicate_key.json", '{"format": "cnnc/1", "format": "cnnc/1", "name": "x"}')
    write("fuzz_model_json", "bad_numbers.json", model([
        {"type": "Conv2D", "name": "c", "filters": -1, "kernel_size": 1e300, "strides": 0}]))
    write("fuzz_model_json", "empty.json", "")


def safetensors_bytes(tensors, metadata=None, pad=True):
    header, data, offset = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, shape in tensors:
        count = 1
        for d in shape:
            count *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * count]}
        data += struct.pack("<%df" % count, *([0.5] * count))
        offset += 4 * count
    text = json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    t = "fuzz_safetensors"
    good = safetensors_bytes([("conv.kernel", [3, 3, 1, 2]), ("conv.bias", [2])])
    write(t, "weights.safetensors", good)
    write(t, "metadata.safetensors", safetensors_bytes([("d.bias", [4])], {"format": "pt"}))
    write(t, "checkpoint.safetensors", safetensors_bytes(
        [("d.bias", [2]), ("optimizer/d.bias", [2])],
        {"format": "cnnc-checkpoint/1", "model": "m", "checksum": "fnv1a64:0000000000000000",
         "epoch": "1", "history": "[]"}))
    write(t, "empty_header.safetensors", safetensors_bytes([]))
    write(t, "scalar.safetensors", safetensors_bytes([("s", [])]))
    write(t, "zero_dim.safetensors", safetensors_bytes([("z", [0, 3])]))
    write(t, "truncated.safetensors", good[:-5])
    write(t, "trailing.safetensors", good + b"\0\0\0\0")
    write(t, "short.safetensors", b"\x10\0\0")
    write(t, "huge_length.safetensors", struct.pack("<Q", 1 << 62) + b"{}")
    write(t, "f16.safetensors", good.replace(b'"F32"', b'"F16"', 1))
    bad = struct.pack("<Q", 48) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}'[:48]
    write(t, "bad_offsets.safetensors", bad)


def npy_bytes(descr, shape, payload, version=1):
    dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
    text = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    prefix = 10 if version == 1 else 12
    text += " " * ((64 - (prefix + len(text) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text.encode() + payload


def npy_corpus(t):
    write(t, "images_f4.npy", npy_bytes("<f4", [2, 2, 2, 1], struct.pack("<8f", *range(8))))
    write(t, "images_nhw.npy", npy_bytes("<f4", [1, 2, 3], struct.pack("<6f", *range(6))))
    write(t, "labels_i4.npy", npy_bytes("<i4", [3], struct.pack("<3i", 0, 1, 2)))
    write(t, "labels_i8.npy", npy_bytes("<i8", [2], struct.pack("<2q", 1, 1 << 40)))
    write(t, "version2.npy", npy_bytes("<f4", [1], struct.pack("<f", 1.0), version=2))
    write(t, "scalar.npy", npy_bytes("<f4", [], struct.pack("<f", 1.0)))
    write(t, "zero.npy", npy_bytes("<f4", [0, 28, 28], b""))
    write(t, "fortran.npy", npy_bytes("<f4", [1], b"\0" * 4).replace(b"False", b"True "))
    write(t, "float64.npy", npy_bytes("<f8", [1], b"\0" * 8))
    write(t, "truncated.npy", npy_bytes("<f4", [4, 4], b"\0" * 20))
    write(t, "big_dims.npy", npy_bytes("<f4", [1 << 40, 1 << 40, 1 << 40], b""))
    write(t, "bad_header.npy", b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (1,")


def idx_bytes(kind, dims, payload):
    return bytes([0, 0, kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_corpus():
    t = "fuzz_idx"
    write(t, "images.idx3", idx_bytes(8, [2, 3, 3], bytes(range(18))))
    write(t, "labels.idx1", idx_bytes(8, [4], bytes([0, 1, 9, 255])))
    write(t, "empty_images.idx3", idx_bytes(8, [0, 28, 28], b""))
    write(t, "truncated.idx3", idx_bytes(8, [2, 3, 3], bytes(10)))
    write(t, "trailing.idx1", idx_bytes(8, [1], b"\1\2"))
    write(t, "int_type.idx3", idx_bytes(0x0C, [1, 1, 1], b"\0" * 4))
    write(t, "rank4.idx", idx_bytes(8, [1, 1, 1, 1], b"\0"))
    write(t, "huge_dims.idx3", idx_bytes(8, [0xFFFFFFFF, 0xFFFFFFFF, 2], b""))
    write(t, "gzip.gz", b"\x1f\x8b\x08\x00" + b"\0" * 12)
    write(t, "short.idx", b"\0\0")
    write(t, "images.npy", npy_bytes("<f4", [1, 2, 2, 1], struct.pack("<4f", 0, 1, 2, 3)))
    write(t, "labels.npy", npy_bytes("<i8", [2], struct.pack("<2q", 3, -1)))
    write(t, "empty_labels.npy", npy_bytes("<i4", [0], b""))


def main():
    model_json_corpus()
    safetensors_corpus()
    npy_corpus("fuzz_npy")
    idx_corpus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
