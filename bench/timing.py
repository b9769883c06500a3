"""The timing rule of the PyTorch peers in bench/: the median of `iters` runs of
`fn` after `warmup` untimed ones (the same rule as `cnnc bench`)."""
import time


def median_seconds(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
