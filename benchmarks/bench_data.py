"""Benchmark of e2c.data (a script that prints, not a test).

    python benchmarks/bench_data.py [--rows 35000] [--runs 3] [--json]

Median time of each loader on the real data, of `load_sources` (load + concat + dedup), of
`split_by_palette` and `fingerprint`; then `load_e2c` on a synthetic EmotionsToColor-format file
of `rows` rows (the size of the upstream train split) written to a temp dir, and `dedup` of it.
`main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, tempfile, time, warnings
from pathlib import Path
import numpy as np
from benchtools import median_time, jsonable, print_json

def synthetic_e2c(path, n, seed=0):
    from e2c.data import OKLAB_COLS
    rng = np.random.default_rng(seed)
    lab = np.c_[rng.uniform(0, 1, (n, 5, 1)), rng.uniform(-0.3, 0.3, (n, 5, 2))].reshape(n, 15)
    with open(path, 'w') as f:
        f.write(','.join(OKLAB_COLS + ['text', 'weight']) + '\n')
        for i, r in enumerate(lab): f.write(','.join(f'{v:.4f}' for v in r) + f',"a synthetic palette, number {i}",1.0\n')

def main(rows=35_000, runs=3):
    from e2c.data import (load_e2c, load_tagged, load_pat, load_colornames, load_sources, split_by_palette, dedup,
                          data_dir)
    print(f"data directory: {data_dir()}; median of {runs} runs")
    res = dict(data_dir=str(data_dir()), runs=runs)
    for name, f in [('load_e2c val', lambda: load_e2c('val')), ('load_tagged', load_tagged),
                    ('load_pat train', lambda: load_pat('train')), ('load_pat val', lambda: load_pat('val')),
                    ('load_colornames', load_colornames)]:
        t, ps = median_time(f, runs)
        print(f"  {name:<22}{t*1e3:8.1f} ms  {len(ps):>7,} rows")
        res[name.replace(' ', '_')] = dict(ms=t * 1e3, rows=len(ps))
    t, ps = median_time(lambda: load_sources(verbose=False), runs)
    print(f"  {'load_sources (default)':<22}{t*1e3:8.1f} ms  {len(ps):>7,} rows after dedup")
    res['load_sources'] = dict(ms=t * 1e3, rows=len(ps))
    t, (tr, va) = median_time(lambda: split_by_palette(ps, verbose=False), runs)
    print(f"  {'split_by_palette':<22}{t*1e3:8.1f} ms  {len(tr):,} train / {len(va):,} val")
    res['split_by_palette'] = dict(ms=t * 1e3, train=len(tr), val=len(va))
    t, fp = median_time(ps.fingerprint, runs)
    print(f"  {'fingerprint':<22}{t*1e3:8.1f} ms  {fp}")
    res['fingerprint'] = dict(ms=t * 1e3, value=str(fp))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)/'train.csv'
        synthetic_e2c(p, rows)
        t, big = median_time(lambda: load_e2c('train', path=p), runs)
        mib = p.stat().st_size / 2**20
        print(f"  {'load_e2c synthetic':<22}{t*1e3:8.1f} ms  {len(big):>7,} rows ({mib:.1f} MiB)")
        res['load_e2c_synthetic'] = dict(ms=t * 1e3, rows=len(big), mib=mib)
        t, dd = median_time(lambda: dedup(big, verbose=False), runs)
        print(f"  {'dedup synthetic':<22}{t*1e3:8.1f} ms  {len(big) - len(dd):,} dropped (uniform random palettes: the k-d tree's worst case)")
        res['dedup_synthetic'] = dict(ms=t * 1e3, rows=len(dd), dropped=len(big) - len(dd))
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rows', type=int, default=35_000, help='rows of the synthetic EmotionsToColor-format file')
    p.add_argument('--runs', type=int, default=3, help='timed runs (the median is printed)')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.rows, a.runs)
    if a.json: print_json(res)
