"""Speed of the NumPy engine against PyTorch: forward plus full BPTT with everything recorded.

    python bench/engine.py                  # float32 table, targets, peak memory
    python bench/engine.py --quick          # a small subset (T 100/1000, B 1), a few seconds
    python bench/engine.py --dtype both     # float32 and float64 row sets
    python bench/engine.py --T 1000 --H 16,64 --B 1
    python bench/engine.py --profile 16     # cProfile of run() at B=1, T=1000, H=16
    python bench/engine.py --aten           # and nn.LSTM with oneDNN off (ATen's own kernel)

For every (T, H, B) it times, median over n adaptive repeats after a warm-up:
  run     app.engine.run on a time-major batch X (T, B, D=H): forward + exact BPTT, every gate,
          c, h, grad_h, grad_c and parameter gradients recorded (the loss is the sum of the
          last h, app.engine.cells.losses.Loss()).
  trace   (B = 1 only) app.engine.trace(model, inputs) end to end: parameters, run, norms,
          the Trace object.
and, when torch is importable, in the same process, with the same weights and inputs:
  LSTM    torch.nn.LSTM forward + backward of out[-1].sum() (cuDNN-free CPU kernel, default
          settings, same dtype, inputs requiring grad so dL/dx is computed as ours is).
  ATen    (--aten) the same nn.LSTM with torch.backends.mkldnn off. torch 2.13's default CPU
          path is oneDNN's fused LSTM kernel (aten::mkldnn_rnn_layer); without it nn.LSTM
          runs ATen's per-step ops, 6-40x slower here. Information only: the targets are
          against the default.
  cell    a Python loop over torch.nn.LSTMCell with retain_grad() on every h_t and c_t, the way
          to get per-step dL/dh_t and dL/dc_t out of torch (it still exposes no gates).
Ratios are ours / torch: below 1 we are faster. Timing never makes the script fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `make bench` sets no path

# `app` first: it pins NumPy's BLAS to one thread before NumPy loads, as the server runs it
import app  # noqa: E402, F401, I001
import numpy as np  # noqa: E402

import app.engine as engine  # noqa: E402
from app.engine.cells.losses import Loss  # noqa: E402
from app.engine.params import init_params, spec_from_dict  # noqa: E402

try:
    import torch

    # torch.backends.mkldnn.flags() (--aten) warns about Intel GPUs this build has no support for
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
except ImportError:  # the project venv has no torch: engine figures only
    torch = None

TS, HS, BS = (100, 1000, 10000), (16, 64, 256), (1, 32)
QUICK = {"T": (100, 1000), "H": (16, 64, 256), "B": (1,)}
MAX_CELLS = 10000 * 32 * 64  # T*B*H above this is skipped (T=10000, H=256, B=32: ~5 GB, ~15 s)
TARGET = {"T": 1000, "B": 1, "dtype": "float32"}
LSTM_LIMITS = {256: 1.0, 64: 1.5, 16: 3.5}  # ours / nn.LSTM at most
CELL_SPEEDUP = 10.0  # at least this many times faster than the LSTMCell loop
# The LSTMCell loop is not timed above this T*B*H: at T=10000, B=32, H=64 one call took 431 s
# (torch's autograd graph of 10,000 retained steps), 30 minutes for one row of the table
CELL_LOOP_MAX = 10000 * 32 * 16


def median_times(fns: dict[str, Callable[[], object]], budget: float, min_n: int, max_n: int):
    """{name: median seconds} and n: a warm-up call each, then n interleaved rounds.

    main() times every contender in a group of its own: interleaved with another contender a
    call inherits the other's debris (the LSTMCell loop frees thousands of tensors per call,
    which made nn.LSTM 2-3x slower at H <= 64 than alone), and right after a torch call its
    OpenMP threads spin and starve NumPy's BLAS threads. n is fitted to the budget.
    """
    gc.collect()
    first = 0.0
    for fn in fns.values():
        start = time.perf_counter()
        fn()
        first += time.perf_counter() - start
    n = int(min(max_n, max(min_n, budget * len(fns) / max(first, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in fns}
    gc_was_on = gc.isenabled()
    gc.disable()  # as timeit does: no collector pauses inside a timed call
    try:
        for _ in range(n):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            gc.collect()
    finally:
        if gc_was_on:
            gc.enable()
    return {name: statistics.median(ts) for name, ts in times.items()}, n


def setup(T: int, H: int, B: int, dtype: str, seed: int = 0):
    model = {"cell": "lstm", "input_size": H, "hidden_size": H, "init": {"seed": seed}}
    spec = spec_from_dict(model)
    params64 = init_params(spec)
    dt = np.dtype(dtype)
    params = {k: v.astype(dt) for k, v in params64.items()}
    X = np.random.default_rng(seed + 1).standard_normal((T, B, H)).astype(dt)
    return model, spec, params64, params, X


def engine_fns(T, H, B, dtype):
    model, spec, _, params, X = setup(T, H, B, dtype)
    loss = Loss()

    def run():
        return engine.run(spec, params, X, loss)

    trace = None
    if B == 1:
        inputs = X[:, 0].astype(np.float64)

        def trace():
            return engine.trace(model, inputs, dtype=dtype)

    return run, trace


def torch_fns(T, H, B, dtype):
    _, _, params64, _, X = setup(T, H, B, dtype)
    tdt = {"float32": torch.float32, "float64": torch.float64}[dtype]
    lstm = torch.nn.LSTM(H, H).to(tdt)
    cell = torch.nn.LSTMCell(H, H).to(tdt)
    with torch.no_grad():
        for name, value in params64.items():
            getattr(lstm, name).copy_(torch.from_numpy(value))
            getattr(cell, name.removesuffix("_l0")).copy_(torch.from_numpy(value))
    x = torch.from_numpy(np.ascontiguousarray(X)).requires_grad_(True)

    def run_lstm():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = lstm(x)
        out[-1].sum().backward()

    def run_cell():
        cell.zero_grad(set_to_none=True)
        x.grad = None
        h = torch.zeros(B, H, dtype=tdt)
        c = torch.zeros(B, H, dtype=tdt)
        hs, cs = [], []
        for t in range(T):
            h, c = cell(x[t], (h, c))
            h.retain_grad()
            c.retain_grad()
            hs.append(h)
            cs.append(c)
        h.sum().backward()
        return hs, cs

    return run_lstm, run_cell


def blas_floor(T: int, H: int, dtype: str) -> float:
    """Median seconds of the BLAS work alone in one of our runs at B = 1, D = H: T products
    h @ W_hh^T forward, T products dz @ W_hh backward (each a gemv through np.dot, as the
    engine calls them), and the four (T x H x 4H) products of the input projection, dL/dx,
    dL/dW_ih and dL/dW_hh. No NumPy engine can beat this figure with this BLAS."""
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4 * H, H)).astype(dt) / H
    WT = np.ascontiguousarray(W.T)
    X = rng.standard_normal((T, H)).astype(dt)
    dZ = rng.standard_normal((T, 4 * H)).astype(dt)
    h, dz = X[0].copy(), dZ[0].copy()
    rec, dh = np.empty(4 * H, dt), np.empty(H, dt)

    def work() -> None:
        for _ in range(T):
            np.dot(h, WT, out=rec)
        for _ in range(T):
            np.dot(dz, W, out=dh)
        _ = X @ W.T, dZ @ W, dZ.T @ X, dZ.T @ X

    return median_times({"floor": work}, 0.5, 3, 15)[0]["floor"]


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.1f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def peak_memory(dtype: str) -> None:
    """Peak memory of one T=10000, H=256, B=1 trace: tracemalloc peak and ru_maxrss growth."""
    T, H = 10000, 256
    model = {"cell": "lstm", "input_size": H, "hidden_size": H}
    inputs = np.random.default_rng(1).standard_normal((T, H))
    gc.collect()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    tr = engine.trace(model, inputs, dtype=dtype)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    gates = sum(a.nbytes for a in tr.layers[0].gates.values())
    print(f"\npeak memory, trace T={T} H={H} B=1 {dtype} ({seconds:.2f} s under tracemalloc):")
    print(f"  tracemalloc peak      {peak / 2**20:8.1f} MiB  (NumPy allocations included)")
    print(f"  ru_maxrss growth      {(rss1 - rss0) / 2**10:8.1f} MiB  (0 if an earlier high)")
    size = tr.layers[0].h.itemsize
    print(f"  gates alone in trace  {gates / 2**20:8.1f} MiB  (T x 4H x {size} B)")
    del tr


def profile(H: int, dtype: str) -> None:
    import cProfile
    import pstats

    run, _ = engine_fns(1000, H, 1, dtype)
    run()
    prof = cProfile.Profile()
    prof.enable()
    run()
    prof.disable()
    stats = pstats.Stats(prof)
    print(f"cProfile of app.engine.run, T=1000 H={H} B=1 {dtype} (calls / 1000 = per step):")
    stats.sort_stats("tottime").print_stats(25)


def parse_ints(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    return default if text is None else tuple(int(v) for v in text.split(","))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="T 100,1000; H 16,64,256; B 1")
    ap.add_argument("--dtype", choices=("float32", "float64", "both"), default="float32")
    ap.add_argument("--T", help="comma-separated sequence lengths (default 100,1000,10000)")
    ap.add_argument("--H", help="comma-separated hidden sizes (default 16,64,256)")
    ap.add_argument("--B", help="comma-separated batch sizes (default 1,32)")
    ap.add_argument("--budget", type=float, help="seconds of timed calls per cell of the table")
    ap.add_argument("--no-torch", action="store_true", help="engine figures only")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory trace")
    ap.add_argument("--profile", type=int, metavar="H", help="cProfile run() at T=1000, B=1")
    ap.add_argument("--aten", action="store_true",
                    help="also nn.LSTM with oneDNN off (torch.backends.mkldnn)")  # fmt: skip
    args = ap.parse_args()

    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    if args.profile:
        profile(args.profile, dtypes[0])
        return
    use_torch = torch is not None and not args.no_torch
    base = QUICK if args.quick else {"T": TS, "H": HS, "B": BS}
    Ts, Hs, Bs = (parse_ints(getattr(args, k), base[k]) for k in ("T", "H", "B"))
    budget = args.budget if args.budget is not None else (0.3 if args.quick else 1.0)
    min_n, max_n = (3, 7) if args.quick else (3, 21)

    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    blas = {k: os.environ[k] for k in names if k in os.environ}
    print(f"python {platform.python_version()}  numpy {np.__version__}  cpus {os.cpu_count()}  "
          f"BLAS thread env {blas or 'unset (OpenBLAS uses every CPU)'}")  # fmt: skip
    if use_torch:
        print(f"torch {torch.__version__}  torch.get_num_threads() = {torch.get_num_threads()}")
    else:
        why = "--no-torch" if torch is not None else "torch not importable"
        print(f"torch columns off ({why}): engine figures only")
    print(f"input size D = H; loss = sum of the last h; median of n rounds after "
          f"a warm-up; ~{budget:g} s of timed calls per contender and figure")  # fmt: skip

    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if not args.no_memory:
        peak_memory(dtypes[0])  # first, so that ru_maxrss growth means something

    head = f"{'dtype':7} {'T':>6} {'H':>4} {'B':>3} {'n':>3} {'run ms':>9} {'trace ms':>9}"
    if use_torch:
        head += f" {'LSTM ms':>9} {'run/LSTM':>8} {'cell ms':>9} {'run/cell':>8} {'trace/cell':>10}"
        if args.aten:
            head += f" {'ATen ms':>9} {'run/ATen':>8}"
    results: dict[tuple, dict] = {}
    skipped = []
    for dtype in dtypes:
        print(f"\n{head}\n{'-' * len(head)}")
        for T in Ts:
            for H in Hs:
                for B in Bs:
                    if T * B * H > MAX_CELLS:
                        skipped.append((dtype, T, H, B))
                        print(f"{dtype:7} {T:>6} {H:>4} {B:>3}   skipped (too large, see below)")
                        continue
                    run, trace = engine_fns(T, H, B, dtype)
                    fns = {"run": run} if trace is None else {"run": run, "trace": trace}
                    medians = {}
                    for name, fn in fns.items():  # one group each, as torch's below
                        more, n = median_times({name: fn}, budget, min_n, max_n)
                        medians.update(more)
                    if use_torch:  # after ours: torch's spinning OpenMP threads would slow BLAS
                        # each torch contender in a group of its own: interleaved with the
                        # LSTMCell loop (thousands of freed tensors per call), nn.LSTM measured
                        # 2-3x slower at H <= 64 than it runs alone, which flattered our ratios
                        lstm_fn, cell_fn = torch_fns(T, H, B, dtype)
                        for name, fn in (("lstm", lstm_fn), ("cell", cell_fn)):
                            if name == "cell" and T * B * H > CELL_LOOP_MAX:
                                continue  # '-' in the table, explained after it
                            more, _ = median_times({name: fn}, budget, min_n, max_n)
                            medians.update(more)
                        if args.aten:  # nn.LSTM with oneDNN off: ATen's own per-step kernel
                            with torch.backends.mkldnn.flags(enabled=False):
                                more, _ = median_times({"aten": lstm_fn}, budget, min_n, max_n)
                            medians.update(more)
                    del run, trace, fns
                    r = {"run": None, "trace": None, "lstm": None, "cell": None, "aten": None,
                         **medians}  # fmt: skip
                    line = (f"{dtype:7} {T:>6} {H:>4} {B:>3} {n:>3} {fmt_ms(r['run']):>9} "
                            f"{fmt_ms(r['trace']):>9}")  # fmt: skip
                    if use_torch:
                        line += (f" {fmt_ms(r['lstm']):>9} {fmt_ratio(r['run'], r['lstm']):>8}"
                                 f" {fmt_ms(r['cell']):>9} {fmt_ratio(r['run'], r['cell']):>8}"
                                 f" {fmt_ratio(r['trace'], r['cell']):>10}")  # fmt: skip
                        if args.aten:
                            line += f" {fmt_ms(r['aten']):>9} {fmt_ratio(r['run'], r['aten']):>8}"
                    print(line, flush=True)
                    results[(dtype, T, H, B)] = r
    if skipped:
        print(f"\nskipped (T*B*H > {MAX_CELLS}: gigabytes of recorded arrays, "
              "tens of seconds per run):")  # fmt: skip
        for dtype, T, H, B in skipped:
            print(f"  {dtype} T={T} H={H} B={B}")
    if use_torch and any(T * B * H > CELL_LOOP_MAX for (_, T, H, B) in results):
        print(f"\ncell ms '-' where T*B*H > {CELL_LOOP_MAX}: the LSTMCell loop takes minutes per "
              "call there (431 s at T=10000, B=32, H=64)")  # fmt: skip
    print(f"\nload average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}"
          "  (background load inflates every median)")  # fmt: skip
    print_targets(results, use_torch)


def print_targets(results: dict, use_torch: bool) -> None:
    T, B, dtype = TARGET["T"], TARGET["B"], TARGET["dtype"]
    print(f"\ntargets (B={B}, T={T}, {dtype}; informational, ratios ours/torch):")
    if not use_torch:
        print("  not checked: no torch figures")
        return
    for H, limit in LSTM_LIMITS.items():
        r = results.get((dtype, T, H, B))
        if r is None:
            print(f"  H={H:<3} run/nn.LSTM <= {limit:<4}  not measured (filtered out)")
            continue
        ratio = r["run"] / r["lstm"]
        verdict = "PASS" if ratio <= limit else "MISS"
        floor = blas_floor(T, H, dtype)
        print(
            f"  H={H:<3} run/nn.LSTM <= {limit:<4}  {ratio:6.2f}   {verdict}   "
            f"(BLAS work alone {floor * 1e3:.1f} ms = {floor / r['lstm']:.2f} x nn.LSTM)"
        )
    for H in LSTM_LIMITS:
        r = results.get((dtype, T, H, B))
        if r is None:
            print(f"  H={H:<3} >= {CELL_SPEEDUP:g}x faster than LSTMCell loop  not measured")
            continue
        speedup = r["cell"] / r["run"]
        verdict = "PASS" if speedup >= CELL_SPEEDUP else "MISS"
        extra = f"(trace end to end: {r['cell'] / r['trace']:.1f}x)" if r["trace"] else ""
        print(f"  H={H:<3} >= {CELL_SPEEDUP:g}x faster than LSTMCell loop  "
              f"{speedup:6.1f}x  {verdict}  {extra}")  # fmt: skip


if __name__ == "__main__":
    main()
