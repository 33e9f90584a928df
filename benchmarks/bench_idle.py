"""What an idle process costs: small steps of the bridge's request path, each timed alone after a sleep and in a loop (a script that prints, not a test).

    python benchmarks/bench_idle.py [--runs 200] [--sleep 0.035] [--json]

The bridge sleeps between the recogniser's messages (25–40 ms apart at most rates), and on a shared VM code and
data that have not run for some milliseconds are no longer in the caches. Each step below runs `--runs` times right
after `--sleep` seconds of sleep ("after idle"), and as many times in a loop ("warm"); the steps alternate, so a
change of load hits all of them. Medians and 99th percentiles in microseconds, and their ratio:

- `numpy a + a`: one addition of two 5×3 arrays; `numpy, 10 calls`: ten such operations, as a small palette step takes;
- `Connection.poll`: multiprocessing's poll of a pipe, which builds a selector per call; `select.poll`: a poll object
  made once, as the bridge's serve loop reads its intake's updates;
- `from_va (numpy)`: the shipped generator's palette of a point with the decoder in numpy (`e2c.bridge.numpy_va`);
- `PointPalette`: the same palette in Python floats (`e2c.point`, what the bridge runs for `/e2c/emotion/va`);
- `PointPalette, 0.3 ms spin first`: the same after busy-waiting 0.3 ms, to tell a slow wake-up of the CPU (which
  the spin would absorb) from cold caches (which it leaves cold);
- `PointPalette, 8 MB touched first`: the same after writing 8 MB, which evicts this process's own cache lines.
"""
import argparse, multiprocessing, select, time
import numpy as np
from benchtools import load_average, one_torch_thread, print_json

def steps() -> tuple[dict, list]:
    "The steps timed, by name (a function of no argument, or a pair: what runs first untimed, the step), and what to close after."
    from e2c.generate import load_generator
    from e2c.bridge import numpy_va, _points
    src = numpy_va(load_generator()); pp = _points(src)
    a, (r, w) = np.ones((5, 3)), multiprocessing.Pipe(False)
    p = select.poll(); p.register(r, select.POLLIN)
    def ten():
        x = a + a; x = x * 0.5; x = np.clip(x, 0, 1); x = x.sum(1); x = np.sqrt(x); x = x - 1; x = np.abs(x)
        return x.argsort().tolist()
    def spin():
        t = time.perf_counter()
        while time.perf_counter() - t < 3e-4: pass
    def touch(): bytearray(8 << 20)
    out = {'numpy a + a': lambda: a + a, 'numpy, 10 calls': ten, 'Connection.poll': r.poll, 'select.poll': lambda: p.poll(0),
           'from_va (numpy)': lambda: src.from_va(0.31, -0.42), 'PointPalette': lambda: pp(0.31, -0.42)}
    return out | {'PointPalette, 0.3 ms spin first': (spin, out['PointPalette']),
                  'PointPalette, 8 MB touched first': (touch, out['PointPalette'])}, [r, w]

def main(runs:int=200, sleep:float=0.035, verbose:bool=True) -> dict:
    import gc
    with one_torch_thread(): todo, opened = steps()   # loading the generator draws from torch's generator
    cold, warm = {k: [] for k in todo}, {k: [] for k in todo}
    pc = time.perf_counter
    gc.collect(); gc.freeze()           # as e2c-bridge does once its model is loaded
    try:
        for _ in range(runs):
            for k, f in todo.items():
                before, f = f if isinstance(f, tuple) else (None, f)
                time.sleep(sleep)
                if before: before()
                t = pc(); f(); cold[k].append(pc() - t)
                for _ in range(3): f()
                t = pc(); f(); warm[k].append(pc() - t)
    finally:
        gc.unfreeze()
        for c in opened: c.close()
    us = lambda x, q: float(np.quantile(x, q)) * 1e6
    res = dict(load_average=load_average(), runs=runs, sleep_s=sleep,
               steps={k: dict(idle_p50_us=us(cold[k], .5), idle_p99_us=us(cold[k], .99), warm_p50_us=us(warm[k], .5),
                              ratio_p50=float(np.median(cold[k]) / np.median(warm[k]))) for k in todo})
    if verbose:
        print(f"load average {res['load_average']}; {runs} runs; each step after {sleep * 1e3:.0f} ms of sleep, and warm (in a loop)")
        print(f"  {'step':34s} {'after idle p50':>14s} {'p99':>9s} {'warm p50':>9s} {'ratio':>7s}")
        for k, v in res['steps'].items():
            print(f"  {k:34s} {v['idle_p50_us']:11.1f} µs {v['idle_p99_us']:9.1f} {v['warm_p50_us']:9.1f} {v['ratio_p50']:7.1f}×")
    return res

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=200, help='times each step is timed after idle (and warm)')
    ap.add_argument('--sleep', type=float, default=0.035, help='seconds of sleep before each timed step')
    ap.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = ap.parse_args()
    if a.runs < 1 or not 0 <= a.sleep <= 1: ap.error(f'need --runs ≥ 1 and 0 ≤ --sleep ≤ 1, got {a.runs} and {a.sleep}')
    res = main(a.runs, a.sleep)
    if a.json: print_json(res)
