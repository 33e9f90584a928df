"""Helpers shared by the benchmark scripts in benchmarks/ (run as `python benchmarks/bench_*.py`, which puts this folder on the path)."""
import contextlib, json, math, os, time
from pathlib import Path
import numpy as np

def timed(f):
    "(seconds, result) of one call of `f`."
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out

def median_time(f, runs):
    "(median seconds over `runs` calls of `f`, the last call's result)."
    ts, out = [], None
    for _ in range(runs):
        t, out = timed(f); ts.append(t)
    return float(np.median(ts)), out

def load_average() -> str:
    "The 1, 5 and 15-minute load averages, as '0.52/1.27/1.57' (timings depend on them)."
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())

def jsonable(x):
    "`x` with plain JSON types only: numpy scalars as Python numbers, NaN and infinities as None, tuples as lists, paths as strings."
    if isinstance(x, dict): return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)): return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray): return jsonable(x.tolist())
    if isinstance(x, np.generic): x = x.item()
    if isinstance(x, float) and not math.isfinite(x): return None
    if isinstance(x, Path): return str(x)
    return x

def print_json(res):
    "Print a benchmark's figures (the dict its `main` returns) as JSON."
    print(json.dumps(jsonable(res), indent=2, ensure_ascii=False, allow_nan=False))

@contextlib.contextmanager
def one_torch_thread():
    "Run the block on one torch thread (the 2-core machines' setting) with its own torch generator; both restored after."
    import torch
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(): yield
    finally: torch.set_num_threads(threads)
