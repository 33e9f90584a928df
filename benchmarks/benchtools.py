"""Helpers shared by the benchmark scripts in tests/ (run as `python tests/bench_*.py`, which puts this folder on the path)."""
import os, time
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
