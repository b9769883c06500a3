"""cnnc tune and --tuning: a tiny model tuned under a tight budget gives a
well-formed tuning file; libraries built with it (and with tuning files that
force each kind of choice: register tiles, the autoscheduler, a 1x1 run as a
convolution) compute what the untuned library computes; tuning files that are
malformed or made for another model, target or build are refused with exit
code 2 and a message naming the file and the place.

  test_tune.py CNNC MODEL.json
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import test_parity  # noqa: E402
import torch_reference as ref  # noqa: E402

CNNC, MODEL = sys.argv[1], sys.argv[2]
failures = []


def run(args, code=0, *fragments):
    r = subprocess.run([CNNC] + args, capture_output=True, text=True)
    text = r.stdout + r.stderr
    missing = [f for f in fragments if f not in text]
    ok = r.returncode == code and not missing
    print("%s cnnc %s: exit %d%s" % ("ok  " if ok else "FAIL", " ".join(args[:1]), r.returncode,
                                     "" if not missing else ", missing %s" % missing))
    if not ok:
        print(text)
        failures.append(" ".join(args))
    return text


with tempfile.TemporaryDirectory() as tmp:
    path = lambda name: os.path.join(tmp, name)  # noqa: E731
    with open(MODEL) as f:
        model = json.load(f)
    rng = np.random.default_rng(5)
    ref.write_safetensors(path("w.safetensors"), test_parity.random_weights(model, rng))
    np.save(path("x.npy"), rng.random([3] + model["input"]["shape"], dtype=np.float32))

    def infer(name, *extra):
        out = path("y_%s.npy" % name)
        run(["run", MODEL, "--weights", path("w.safetensors"), "--input", path("x.npy"), "--output", out]
            + list(extra))
        return np.load(out) if os.path.exists(out) else None

    # Tune under a tight budget: every conv and dense layer gets an entry.
    text = run(["tune", MODEL, "-o", path("t.json"), "--batch", "3", "--budget-seconds", "120"], 0,
               "[1/3]", "[3/3]", "default", "wrote")
    print(text)
    with open(path("t.json")) as f:
        tuning = json.load(f)
    layers = {e["layer"]: e for e in tuning.get("layers", [])}
    if tuning.get("format") != "cnnc-tuning/1" or sorted(layers) != ["conv1", "conv2", "fc"] or \
            tuning.get("batch") != 3 or len(tuning.get("model_hash", "")) != 16:
        failures.append("tuning file: %s" % json.dumps(tuning)[:400])
    for e in layers.values():
        # The kernel is of the default's kind, or a convolution where the tuner
        # measured a 1x1 faster as one than as a matrix product ("direct").
        kind = "conv2d" if e["choice"].get("lowering") == "direct" else e["default_kernel"][:5]
        if not (0 < e["best_ms"] <= e["default_ms"]) or not e["kernel"].startswith(kind):
            failures.append("entry %s" % e)
    if layers.get("conv2", {}).get("default_kernel", "").split(" ")[0] != "dense":
        failures.append("conv2 (1x1) should be tuned as a matrix product by default")

    untuned = infer("untuned")

    # Files forcing one choice, the other layers at their defaults; "kernel" is
    # the key the choice makes.
    def forced(name, layer, choice, kernel):
        t = json.loads(json.dumps(tuning))
        for e in t["layers"]:
            e["choice"] = dict({"lowering": "", "conv_algo": "", "algorithm": "", "tile_vectors": 0,
                                "tile_columns": 0, "estimate_batch": 0},
                               **(choice if e["layer"] == layer else {}))
            e["kernel"] = kernel(e) if e["layer"] == layer else e["default_kernel"]
        with open(path(name), "w") as f:
            json.dump(t, f)
        return path(name)

    conv_key = "conv2d in=10x10x16 out=10x10x24 k=1x1 s=1x1 pad=0,0 act=relu bias"
    variants = {
        "tile": forced("tile.json", "conv1", {"tile_vectors": 2, "tile_columns": 5},
                       lambda e: e["default_kernel"] + " schedule=default tile=2x5"),
        "auto": forced("auto.json", "conv2", {"algorithm": "autoschedule", "estimate_batch": 100},
                       lambda e: e["default_kernel"] + " schedule=autoschedule estimate_batch=100"),
        "direct": forced("direct.json", "conv2", {"lowering": "direct"}, lambda e: conv_key),
        "winograd": forced("winograd.json", "conv1", {"conv_algo": "winograd_f2"},
                           lambda e: e["default_kernel"] + " algo=winograd_f2 weights=transformed"),
    }
    outputs = {"tuned": infer("tuned", "--tuning", path("t.json"))}
    for name, file in variants.items():
        outputs[name] = infer(name, "--tuning", file)
    for name, y in outputs.items():
        err = test_parity.relative(y, untuned) if y is not None and untuned is not None else 1.0
        print("%s vs untuned: relative error %.3g" % (name, err))
        if not err <= 1e-5:
            failures.append("%s output differs: %.3g" % (name, err))
    # The forced choices really are other kernels: the generated code calls other symbols.
    def kernels_called(name, *extra):
        run(["compile", MODEL, "-o", path(name), "--inference-only"] + list(extra), 0, "wrote")
        with open(os.path.join(path(name), "tune_tiny.cpp")) as f:
            return set(re.findall(r"cnnc_[a-z0-9_]+_[0-9a-f]{16}", f.read()))

    plain = kernels_called("lib_untuned")
    for name, file in variants.items():
        changed = kernels_called("lib_" + name, "--tuning", file) ^ plain
        print("%s: kernels changed %s" % (name, sorted(changed)))
        # Winograd also adds its weight transform (run at load time).
        expected = 3 if name == "winograd" else 2
        if len(changed) != expected or (name == "winograd" and
                                        not any("winograd_weights" in k for k in changed)):
            failures.append("%s: expected one kernel replaced, got %s" % (name, sorted(changed)))
    # bench takes the file too.
    run(["bench", MODEL, "--batch", "2", "--iters", "2", "--tuning", variants["auto"]], 0, "median")

    # Refused: each names the file and the place.
    def bad(name, edit):
        t = json.loads(json.dumps(tuning))
        edit(t)
        with open(path(name), "w") as f:
            json.dump(t, f)
        return path(name)

    with open(path("syntax.json"), "w") as f:
        f.write('{"format": "cnnc-tuning/1",\n "layers": [}')
    run(["compile", MODEL, "-o", path("lib"), "--tuning", path("syntax.json")], 2, "syntax.json:2:")
    run(["compile", MODEL, "-o", path("lib"), "--tuning", path("none.json")], 2, "none.json")
    other = dict(model, name="other")
    other["layers"] = model["layers"][:1] + model["layers"][2:]
    with open(path("other.json"), "w") as f:
        json.dump(other, f)
    run(["compile", path("other.json"), "-o", path("lib"), "--tuning", path("t.json")], 2,
        "t.json", "/model_hash", "made for model 'tune_tiny'")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("target.json", lambda t: t.update(target="arm-64-linux"))], 2, "target.json", "/target",
        "arm-64-linux")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("format.json", lambda t: t.update(format="cnnc/1"))], 2, "format.json: /format")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("tile.json", lambda t: t["layers"][0]["choice"].update(tile_vectors="two"))], 2,
        "tile.json: /layers/0/choice/tile_vectors")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("algo.json", lambda t: t["layers"][1]["choice"].update(algorithm="fast"))], 2,
        "algo.json: /layers/1/choice/algorithm", "fast")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("conv_algo.json", lambda t: t["layers"][0]["choice"].update(conv_algo="winograd"))], 2,
        "conv_algo.json: /layers/0/choice/conv_algo", "winograd_f2")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("missing.json", lambda t: t["layers"][2].pop("kernel"))], 2,
        "missing.json: /layers/2", "missing \"kernel\"")
    run(["compile", MODEL, "-o", path("lib"), "--tuning",
         bad("layer.json", lambda t: t["layers"][0].update(layer="conv9"))], 2,
        "layer.json: /layers/0 (layer 'conv9')", "no convolution or dense layer")
    # Tuned with 1x1 convolutions as matrix products; compiled without: other kernels.
    # (Every layer at its default, conv2 a matrix product: the tuner's own
    # file may have chosen the convolution for it where that measured faster.)
    defaults = forced("defaults.json", "", {}, None)
    run(["compile", MODEL, "-o", path("lib"), "--passes", "none", "--tuning", defaults], 2,
        "defaults.json: /layers/", "tuned for kernel", "--passes")
    # A 1x1 convolution on 7x7 pixels: compiled for batch 1 it runs as a packed
    # convolution (lower::packed_1x1_wins), for batch 8 as a matrix product; a
    # tuning file's "gemm" makes it a matrix product at batch 1 too, with the
    # same outputs.
    pw = {"format": "cnnc/1", "name": "pw7", "input": {"shape": [7, 7, 128]},
          "layers": [{"type": "Conv2D", "name": "pw", "filters": 128, "kernel_size": 1, "activation": "relu"},
                     {"type": "Flatten", "name": "flatten"},
                     {"type": "Dense", "name": "fc", "units": 10, "activation": "softmax"}]}
    pw_model = path("pw7.json")
    with open(pw_model, "w") as f:
        json.dump(pw, f)
    ref.write_safetensors(path("pw_w.safetensors"), test_parity.random_weights(pw, rng))
    np.save(path("pw_x.npy"), rng.random([1, 7, 7, 128], dtype=np.float32))

    def pw_kernels(name, *extra):
        run(["compile", pw_model, "-o", path(name), "--inference-only"] + list(extra), 0, "wrote")
        with open(os.path.join(path(name), "pw7.cpp")) as f:
            return set(re.findall(r"cnnc_[a-z0-9_]+_[0-9a-f]{16}", f.read()))

    def pw_infer(name, *extra):
        out = path("pw_y_%s.npy" % name)
        run(["run", pw_model, "--weights", path("pw_w.safetensors"), "--input", path("pw_x.npy"), "--output",
             out] + list(extra))
        return np.load(out) if os.path.exists(out) else None

    run(["tune", pw_model, "-o", path("pw.json"), "--batch", "1", "--layers", "pw", "--budget-seconds", "20"],
        0, "wrote")
    with open(path("pw.json")) as f:
        pw_tuning = json.load(f)
    entry = pw_tuning["layers"][0]
    if not entry["default_kernel"].startswith("conv2d in=7x7x128 out=7x7x128 k=1x1"):
        failures.append("pw (7x7, batch 1) should be tuned as a convolution by default: %s" % entry)
    entry["choice"] = {"lowering": "gemm", "conv_algo": "", "algorithm": "", "tile_vectors": 0, "tile_columns": 0,
                       "estimate_batch": 0}
    entry["kernel"] = "dense in=128 out=128 act=relu bias rows_per_image=49"
    with open(path("pw_gemm.json"), "w") as f:
        json.dump(pw_tuning, f)
    for name, extra, conv in [("batch 1", ["--batch", "1"], True), ("batch 8", ["--batch", "8"], False),
                              ("batch 1, gemm", ["--batch", "1", "--tuning", path("pw_gemm.json")], False)]:
        called = pw_kernels("pw_lib", *extra)
        packed = any(k.startswith("cnnc_conv2d") for k in called) and \
            any("winograd_weights" in k for k in called)
        print("pw7 %s: %s" % (name, sorted(called)))
        if packed != conv:
            failures.append("pw7 %s: the 1x1 should run as a %s" % (name, "convolution" if conv else "matrix product"))
    direct, gemm = pw_infer("direct", "--batch", "1"), pw_infer("gemm", "--batch", "8")
    forced = pw_infer("forced", "--batch", "1", "--tuning", path("pw_gemm.json"))
    for name, y in [("packed convolution", direct), ("forced matrix product", forced)]:
        err = test_parity.relative(y, gemm) if y is not None and gemm is not None else 1.0
        print("pw7 %s vs matrix product: relative error %.3g" % (name, err))
        if not err <= 1e-5:
            failures.append("pw7 %s output differs: %.3g" % (name, err))

    run(["tune", MODEL], 2, "-o TUNING.json")
    run(["tune", MODEL, "-o", path("x.json"), "--layers", "conv7"], 2, "conv7")
    run(["tune", MODEL, "-o", path("x.json"), "--budget-seconds", "soon"], 2, "--budget-seconds")

if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("all passed")
