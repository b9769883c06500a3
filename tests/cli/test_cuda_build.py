"""CUDA libraries on a machine without a GPU: `cnnc compile --target cuda` builds
and links LeNet-5 and the small ResNet; their kernels are CUDA ones (each kernel
object launches through Halide's CUDA runtime, the archive holds PTX); the
generated code hands the kernels device addresses only; and running one where
there is no GPU fails cleanly: exit code 2 and a message naming CUDA, from the
command line and from a C application. Where a GPU is present the parity tests
(parity_*_cuda) run the libraries instead, and this test only checks the build.

  test_cuda_build.py CNNC ROOT
"""
import os
import re
import subprocess
import sys
import tempfile

CNNC, ROOT = sys.argv[1], sys.argv[2]
failures = []


def expect(name, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": " + detail))
    if not ok:
        failures.append(name)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def kernel_members(library):
    """{archive member: (defined symbols, undefined symbols)} from nm."""
    members = {}
    for line in run(["nm", "-A", library]).stdout.splitlines():
        m = re.match(r"[^:]+:([^:]+):\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if m:
            defined, undefined = members.setdefault(m.group(1), (set(), set()))
            (undefined if m.group(2) == "U" else defined).add(m.group(3))
    return members


C_APP = r"""
#include <stdio.h>
#include <string.h>
#include "lenet5.h"
int main(void) {
  static float image[LENET5_INPUT_H * LENET5_INPUT_W * LENET5_INPUT_C], out[LENET5_OUTPUT_SIZE];
  lenet5_model* m = lenet5_create(1);
  if (!m) return 70;
  int code = lenet5_infer(m, image, 1, out);
  fprintf(stderr, "%s\n", lenet5_last_error(m));
  lenet5_destroy(m);
  return code;
}
"""

gpu = run(["sh", "-c", "nvidia-smi -L"]).returncode == 0
with tempfile.TemporaryDirectory() as tmp:
    for model in ("lenet5", "resnet_mini"):
        out = os.path.join(tmp, model)
        r = run([CNNC, "compile", os.path.join(ROOT, "models", model + ".json"), "-o", out, "--target", "cuda",
                 "--batch", "8"])
        library = os.path.join(out, "lib%s.a" % model)
        expect(model + ": compiles for cuda", r.returncode == 0 and os.path.exists(library), r.stderr)
        if r.returncode != 0:
            continue
        members = kernel_members(library)
        kernels = [m for m, (d, _) in members.items() if any(s.startswith("cnnc_") for s in d)]
        on_gpu = [m for m in kernels if "halide_cuda_run" in members[m][1]]
        expect(model + ": every kernel launches on the GPU (%d of %d)" % (len(on_gpu), len(kernels)),
               kernels and len(on_gpu) == len(kernels), str(sorted(set(kernels) - set(on_gpu))))
        with open(library, "rb") as f:
            expect(model + ": the archive holds PTX", b".target sm_86" in f.read())
        with open(os.path.join(out, model + ".cpp")) as f:
            source = f.read()
        host_buffers = re.findall(r"cnnc::abi::(?:f32|i32)<\d>\((?!nullptr)", source)
        expect(model + ": generated code gives the kernels device addresses only",
               "#include \"cnnc_cuda_abi.h\"" in source and "cnnc::abi::place(" in source and not host_buffers,
               "%d host buffers" % len(host_buffers))
        if gpu:
            continue
        r = run([CNNC, "bench", os.path.join(ROOT, "models", model + ".json"), "--target", "cuda", "--batch", "2",
                 "--iters", "1"])
        expect(model + ": cnnc bench --target cuda without a GPU exits 2 naming CUDA",
               r.returncode == 2 and "CUDA" in r.stderr and "GPU" in r.stderr, "%d %s" % (r.returncode, r.stderr))

    # A C application linked against the CUDA LeNet-5: a clear error, no crash.
    out = os.path.join(tmp, "lenet5")
    if os.path.exists(os.path.join(out, "liblenet5.a")):
        with open(os.path.join(tmp, "app.c"), "w") as f:
            f.write(C_APP)
        app = os.path.join(tmp, "app")
        r = run(["cc", "-c", os.path.join(tmp, "app.c"), "-I" + out, "-o", app + ".o"])
        # A sanitized cnnc (./test.sh --sanitize) compiles the library with the sanitizers:
        # the application links their runtimes too.
        extra = os.environ.get("CNNC_APP_LINK_FLAGS", "").split()
        r2 = run(["c++", app + ".o", "-L" + out, "-llenet5", "-lpthread", "-ldl", "-o", app] + extra)
        expect("a C application links against the CUDA library", r.returncode == 0 and r2.returncode == 0,
               r.stderr + r2.stderr)
        if r2.returncode == 0 and not gpu:
            r = run([app])
            expect("the C application gets error 2 naming CUDA", r.returncode == 2 and "CUDA" in r.stderr,
                   "%d %s" % (r.returncode, r.stderr))

if gpu:
    print("a GPU is present: the parity_*_cuda tests run the CUDA libraries")
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
