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
