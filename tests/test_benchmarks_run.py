"""The benchmark scripts run end to end on small inputs and print their figures (no timing is asserted)."""
import subprocess, sys
from pathlib import Path

HERE = Path(__file__).parent

def run_script(name, *args, timeout=300):
    r = subprocess.run([sys.executable, str(HERE / name), *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

def test_bench_oklab_prints_ratio_and_agreement():
    out = run_script('bench_oklab.py', '--n', '50000', '--runs', '1')
    assert 'speed-up' in out and 'gamut_map' in out
    agree = float(out.split('(same sRGB→XYZ matrix)| = ')[1].split()[0])
    assert agree <= 1e-6

def test_bench_train_small_run():
    out = run_script('bench_train.py', '--epochs-compare', '1', '--epochs-full', '2', '--per-item-full', '--seeds', '2')
    assert 'per-item Dataset/DataLoader loop' in out and 'speed-up' in out
    floor = float(out.split('take ')[1].split(' s/epoch')[0])         # the matrix products alone
    per_item = float(out.split('(reference)')[1].split()[0])
    assert 0 < floor < per_item
    assert out.count('per-item loop (run)') == 2 and 'mean ± sd over 2 seeds' in out

def test_bench_generate_small_run():
    out = run_script('bench_generate.py', '--reps', '2', '--free', '5', '--batch', '50', '--runs', '1')
    assert 'p50 ms' in out and 'palettes/s' in out

def test_bench_osc_small_run():
    out = run_script('bench_osc.py', '--n', '2000', '--rates', '5000', '--kinds', 'label', '--transitions', '1', '--trials', '20')
    assert 'jitter' in out.lower() and 'latency' in out.lower()

def test_bench_encoders_small_run():
    out = run_script('bench_encoders.py', '--limit', '200', '--runs', '1', '--no-clip')
    assert 'ratio' in out.lower()

def test_bench_data_small_run():
    out = run_script('bench_data.py', '--rows', '2000', '--runs', '1')
    assert 'load_e2c synthetic' in out and '2,000 rows' in out and 'dedup synthetic' in out

def bench_main(name):
    "The `main` of benchmarks/`name`.py (scripts that return a dict of figures), importable by name for spawned children."
    import importlib
    if str(HERE.parent / 'benchmarks') not in sys.path: sys.path.insert(0, str(HERE.parent / 'benchmarks'))
    return importlib.import_module(name).main

def test_bench_steady_small_run(capsys):
    r = bench_main('bench_steady')(minutes=3, seeds=1, taus=(0, 1), margins=(0.2,), dwells=(0.25,))
    assert r['raw']['spurious_per_min'] > r['curve'][1]['spurious_per_min'] and r['settings'] == 3
    assert 'trade-off along tau' in capsys.readouterr().out

def test_bench_flood_small_run(capsys):
    r = bench_main('bench_flood')(seconds=0.5, switches=(5e-4,), floods=('garbage',))
    g = r[('garbage', 5e-4)]
    assert g['frames'] == g['expected'] == 30 and g['read'] > 0 and r['parse_ms'] > 0
    assert 'p99 ms' in capsys.readouterr().out
