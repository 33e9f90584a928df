"""Benchmark of deduplication on repeated data (a script that prints, not a test).

    python benchmarks/bench_dedup.py [--copies 10 20 40 240] [--allpairs-max 40] [--json]

A file made of `k` copies of the shipped EmotionsToColor val split (4,357 rows, 0.8 MB; 240 copies are 200 MB)
is loaded with `load_e2c` and deduplicated with `dedup`, each size in a fresh process, which reports its times and
its peak resident memory (`ru_maxrss`, the imports included; `base_mib` is that peak before loading). Up to
`--allpairs-max` copies the same file also goes through the search e2c used before exact copies were collapsed
(every pair of rows within `tol` from the k-d tree: k² pairs per palette), for comparison; both must keep the
same rows. `main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path
from benchtools import load_average, jsonable, print_json

CHILD = r'''
import hashlib, json, resource, sys, time
import numpy as np
from scipy.spatial import cKDTree
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from e2c.data import load_e2c, dedup, palette_codes
import e2c.data

def groups_allpairs(ps, tol):
    "e2c's `_groups` before exact copies were collapsed: the k-d tree pairs every two rows within `tol`."
    n = len(ps)
    _, first, inv = np.unique(palette_codes(ps.pal), axis=0, return_index=True, return_inverse=True)
    pr = cKDTree(ps.pal.reshape(n, 15).astype(float)).query_pairs(tol, output_type='ndarray')
    a, b = np.r_[np.arange(n), pr[:, 0]], np.r_[first[inv.reshape(-1)], pr[:, 1]]
    lab = connected_components(coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)), directed=False)[1]
    rep = np.full(lab.max() + 1, n); np.minimum.at(rep, lab, np.arange(n))
    return rep[lab]

mib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
path, allpairs = sys.argv[1], sys.argv[2] == '1'
if allpairs: e2c.data._groups = groups_allpairs
base = mib()
t = time.perf_counter(); ps = load_e2c('val', path=path); t_load = time.perf_counter() - t
peak_load = mib()
t = time.perf_counter(); dd = dedup(ps, verbose=False); t_dedup = time.perf_counter() - t
print(json.dumps(dict(rows=len(ps), kept=len(dd), kept_texts=hashlib.sha256('\n'.join(dd.texts).encode()).hexdigest()[:16], load_s=t_load,
                      dedup_s=t_dedup, base_mib=base, peak_load_mib=peak_load, peak_mib=mib())))
'''

def copies_file(path:Path, k:int):
    "Write `k` copies of the shipped val split's rows under one header; its size in MiB."
    from e2c.data import data_file
    head, *rows = data_file('emotionstocolor/val.csv').read_text().splitlines(keepends=True)
    body = ''.join(rows)
    with open(path, 'w') as f:
        f.write(head)
        for _ in range(k): f.write(body)
    return path.stat().st_size / 2**20

def run(path, allpairs:bool, timeout:int=1800) -> dict:
    "One measurement in a fresh process."
    r = subprocess.run([sys.executable, '-c', CHILD, str(path), '1' if allpairs else '0'], capture_output=True, text=True, timeout=timeout)
    if r.returncode: return dict(error=(r.stderr.strip().splitlines() or ['?'])[-1], returncode=r.returncode)
    return json.loads(r.stdout.strip().splitlines()[-1])

def main(copies=(10, 20, 40, 240), allpairs_max=40):
    res = dict(load_average_before=load_average(), sizes=[])
    print(f"load average {res['load_average_before']} (1/5/15 min) on {os.cpu_count()} cores")
    print(f"{'copies':>7}{'MiB':>8}{'rows':>10}{'kept':>7}{'load s':>9}{'dedup s':>9}{'peak MiB':>10}   all-pairs: dedup s, peak MiB")
    with tempfile.TemporaryDirectory() as d:
        for k in copies:
            p = Path(d) / f'copies{k}.csv'
            size = copies_file(p, k)
            row = dict(copies=k, mib=size, new=run(p, False), allpairs=run(p, True) if k <= allpairs_max else None)
            p.unlink()
            n, a = row['new'], row['allpairs']
            if a and 'error' not in a and 'error' not in n: row['same_rows'] = (a['kept'], a['kept_texts']) == (n['kept'], n['kept_texts'])
            res['sizes'].append(row)
            if 'error' in n: print(f"{k:>7}{size:>8.1f}  error: {n['error']}"); continue
            ap = '' if a is None else (f"   {a['error']}" if 'error' in a else f"   {a['dedup_s']:.2f} s, {a['peak_mib']:.0f} MiB, same rows: {row['same_rows']}")
            print(f"{k:>7}{size:>8.1f}{n['rows']:>10,}{n['kept']:>7,}{n['load_s']:>9.2f}{n['dedup_s']:>9.2f}{n['peak_mib']:>10.0f}{ap}")
    res['load_average_after'] = load_average()
    print(f"load average {res['load_average_after']}")
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--copies', type=int, nargs='+', default=[10, 20, 40, 240], help='sizes, in copies of the val split')
    p.add_argument('--allpairs-max', type=int, default=40, help='run the former all-pairs search up to this many copies')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.copies, a.allpairs_max)
    if a.json: print_json(res)
