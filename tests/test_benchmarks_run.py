"""The benchmark scripts in benchmarks/ run end to end on small inputs and return their figures (no timing is asserted).

Each script's `main` runs in this process and returns the figures it printed as a dict; the checks are on that
dict. A fixture checks that no benchmark leaves global state behind (environment, random generators, torch threads,
log levels, child processes, threads, sockets).
"""
import importlib, json, logging, math, multiprocessing, os, random, sys, threading
from pathlib import Path
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / 'benchmarks'

def bench(name, monkeypatch):
    "The module benchmarks/`name`.py, imported with benchmarks/ on the path (its `from benchtools import ...` needs it)."
    monkeypatch.syspath_prepend(str(BENCH))      # kept for the test: bench_osc's spawned children import from there
    return importlib.import_module(name)

def _sockets():
    "Socket file descriptors of this process (Linux), else None."
    try: return sum(os.readlink(f'/proc/self/fd/{fd}').startswith('socket:') for fd in os.listdir('/proc/self/fd'))
    except OSError: return None

def _loggers(): return {n: l.level for n, l in logging.Logger.manager.loggerDict.items() if isinstance(l, logging.Logger)}

def _state():
    import torch
    return dict(env=dict(os.environ), cwd=os.getcwd(), random=random.getstate(), numpy=np.random.get_state(),
                torch_rng=torch.random.get_rng_state(), torch_threads=torch.get_num_threads(),
                loggers=_loggers(), root_level=logging.getLogger().level)

@pytest.fixture(autouse=True)
def leaves_no_state():
    "The benchmark run by the test leaves global state, child processes, threads and sockets as it found them."
    before, threads, socks, mods = _state(), set(threading.enumerate()), _sockets(), {m.split('.')[0] for m in sys.modules}
    yield
    after = _state()
    random.setstate(before['random'])
    if {m.split('.')[0] for m in sys.modules} <= mods:      # importing sentence_transformers draws from `random`
        assert after['random'] == before['random']
    eb, ea = before['env'], after['env']          # variables the libraries add on import (KMP_*, TORCHINDUCTOR_*) aside
    assert {k for k in eb if eb[k] != ea.get(k)} - {'PYTEST_CURRENT_TEST'} == set()          # names only, not values
    assert {k for k in ea if k not in eb and k.startswith('E2C')} == set()
    assert after['cwd'] == before['cwd']
    nb, na = before['numpy'], after['numpy']
    assert nb[0] == na[0] and np.array_equal(nb[1], na[1]) and nb[2:] == na[2:]
    assert after['torch_rng'].equal(before['torch_rng'])
    assert after['torch_threads'] == before['torch_threads']
    assert {n: l for n, l in after['loggers'].items() if n in before['loggers']} == before['loggers']
    assert after['root_level'] == before['root_level']
    assert multiprocessing.active_children() == []
    assert not [t for t in set(threading.enumerate()) - threads if t.name.startswith('e2c')]
    if socks is not None: assert _sockets() <= socks

def check_json(res):
    "`res` is plain JSON (no NaN, no numpy types) and survives a round trip."
    assert isinstance(res, dict)
    assert json.loads(json.dumps(res, allow_nan=False)) == res


def test_bench_oklab(monkeypatch):
    res = bench('bench_oklab', monkeypatch).main(n=50_000, runs=1)
    check_json(res)
    assert res['n'] == 50_000 and res['runs'] == 1
    assert res['max_diff_vs_colour_science'] <= 1e-6                      # same conversion as colour-science
    assert res['max_roundtrip_error_e2c'] <= 1e-9
    assert res['e2c_ms'] > 0 and res['colour_science_ms'] > 0
    assert math.isclose(res['speedup'], res['colour_science_ms'] / res['e2c_ms'], rel_tol=1e-9)
    gm = res['gamut_map']
    assert 0 < gm['out_of_gamut'] < 1
    assert set(gm) == {'out_of_gamut', 'jnd=0.02', 'jnd=0.0'}
    for k in ('jnd=0.02', 'jnd=0.0'): assert gm[k]['all_in_gamut'] is True and gm[k]['ms'] > 0

def test_bench_train(monkeypatch):
    res = bench('bench_train', monkeypatch).main(epochs_compare=1, epochs_full=2, per_item_full=True, seeds=2, rows=2048)
    check_json(res)
    d, cmp, full = res['data'], res['compare'], res['full']
    assert d['train_rows'] == 2048 and d['val_rows'] == 256 and d['emb_dim'] == 384
    assert cmp['epochs'] == 1
    per_item = cmp['per_item']['s_per_epoch']
    assert cmp['floor_bf16_s_per_epoch'] > 0 and per_item > 0               # figures only: no timing is compared
    assert cmp['floor_fp32_s_per_epoch'] > 0 and cmp['max_speedup'] > 1
    for k in ('per_item', 'fit_fp32', 'fit'): assert cmp[k]['s_per_epoch'] > 0 and 0 < cmp[k]['val_huber'] < 1
    assert math.isclose(cmp['speedup'], per_item / cmp['fit']['s_per_epoch'], rel_tol=1e-9)
    assert full['epochs'] == 2 and full['seeds'] == 2 and full['per_item_extrapolated'] is False
    runs = full['runs']
    assert [(r['method'], r['seed']) for r in runs] == [('e2c fit', 0), ('per-item loop (run)', 0),
                                                          ('e2c fit', 1), ('per-item loop (run)', 1)]
    for r in runs: assert r['epochs'] == 2 and r['total_s'] > 0 and 0 < r['best_val'] < 1 and r['best_epoch'] in (0, 1)
    bv = full['best_val']                                                   # mean ± sd over 2 seeds
    assert math.isclose(bv['fit_mean'], np.mean([r['best_val'] for r in runs[::2]]), rel_tol=1e-9)
    assert math.isclose(bv['per_item_mean'], np.mean([r['best_val'] for r in runs[1::2]]), rel_tol=1e-9)
    assert bv['fit_sd'] >= 0 and bv['per_item_sd'] >= 0 and bv['verdict']

def test_bench_generate(monkeypatch):
    res = bench('bench_generate', monkeypatch).main(reps=2, n_free=5, batch=50, runs=1)
    check_json(res)
    lab = res['labels']
    assert lab['reps'] == 2 and lab['calls'] == 18
    for k in ('default', 'temperature_0', 'reference_mode'): assert 0 < lab[k]['p50_ms'] <= lab[k]['p99_ms']
    free = res['free']
    assert free['n'] == 5 and free['encoder_n'] == 50
    assert 0 < free['p50_ms'] <= free['p99_ms'] and 0 < free['encoder_p50_ms'] <= free['encoder_p99_ms']
    b = res['batch']
    assert b['n'] == 50 and set(b['pipelines']) == {'e2c', 'reference_vectorised', 'reference_loop'}
    for r in b['pipelines'].values(): assert r['palettes_per_s'] > 0 and r['hex_per_s'] > 0
    assert b['per_palette_loop_hex_per_s'] > 0
    assert b['loop_agrees_hex'] == 50                   # the per-palette reference loop and generate_many(mode='reference')
    assert 0 <= b['vectorised_identical_fraction'] <= 1 and b['vectorised_max_diff'] >= 0

def test_bench_osc(monkeypatch):
    res = bench('bench_osc', monkeypatch).main(n=2000, rates=[5000], kinds=['label'], transitions=1, trials=20)
    check_json(res)
    tp = res['throughput']
    assert list(tp) == ['label']
    [row] = tp['label']['rates']
    assert row['rate'] == 5000 and row['sent_per_s'] > 0
    assert row['received'] + row['lost'] == 2000 and row['received'] > 0
    assert tp['label']['transitions'] > 0 and tp['label']['rcvbuf'] > 0
    j = res['jitter']
    assert j['frames_sent'] == j['frames_expected'] == 61 and j['frames_received'] == 61
    for side in ('sender', 'receiver'):
        assert j[side]['n'] == 59 and 0 <= j[side]['p50_ms'] <= j[side]['p99_ms'] <= j[side]['max_ms']
    lat = res['latency']
    assert lat['trials'] == 20 and 0 <= lat['lost'] < 20
    assert 0 < lat['min_ms'] <= lat['p50_ms'] <= lat['p99_ms'] <= lat['max_ms']

def test_bench_encoders(monkeypatch):
    res = bench('bench_encoders', monkeypatch).main(limit=200, runs=1, clip=False)
    check_json(res)
    t, c = res['texts'], res['cache']
    assert t['n'] == 200 and 0 < t['distinct'] <= 200
    assert c['embedded'] == t['distinct'] and c['warm_disk_embedded'] == 0   # cold embeds each distinct text once; warm none
    assert c['max_diff_warm_cold'] == 0
    assert c['cold_s'] > 0 and c['warm_disk_ms'] > 0 and c['warm_memory_ms'] > 0 and c['cache_file_mib'] > 0
    assert math.isclose(c['ratio_cold_warm_disk'], c['cold_s'] / (c['warm_disk_ms'] / 1e3), rel_tol=1e-9)
    assert res['minilm']['load_s'] > 0 and res['minilm']['one_sentence_ms'] > 0
    assert res['clip'] is None

def test_bench_device(monkeypatch):
    res = bench('bench_device', monkeypatch).main(device='cpu', texts=64, epochs=1, clip=False)
    check_json(res)
    assert res['device'] == 'cpu' and 'vs_cpu' not in res and res['load_average'] and res['load_average_after']
    m = res['minilm']
    assert m['texts'] == 64 and m['texts_per_s'] > 0 and m['one_sentence_ms'] > 0
    assert res['clip'] is None
    t = res['train']
    (r,) = t['runs']
    assert (t['recipe'], t['epochs'], r['seed']) == ('e2c', 1, 0) and t['train_rows'] > 1000
    assert r['s_per_epoch'] > 0 and 0 < r['best_val'] < 1
    assert res['generate']['one_prompt_ms'] > 0

def test_bench_data(monkeypatch):
    res = bench('bench_data', monkeypatch).main(rows=2000, runs=1)
    check_json(res)
    for k in ('load_e2c_val', 'load_tagged', 'load_pat_train', 'load_pat_val', 'load_colornames', 'load_sources'):
        assert res[k]['rows'] > 0 and res[k]['ms'] > 0
    sp = res['split_by_palette']
    assert sp['train'] > 0 and sp['val'] > 0 and sp['train'] + sp['val'] == res['load_sources']['rows']
    assert len(res['fingerprint']['value']) > 0
    assert res['load_e2c_synthetic']['rows'] == 2000
    dd = res['dedup_synthetic']
    assert dd['rows'] + dd['dropped'] == 2000 and dd['dropped'] >= 0

def test_bench_steady_small_run(capsys, monkeypatch):
    r = bench('bench_steady', monkeypatch).main(minutes=3, seeds=1, taus=(0, 1), margins=(0.2,), dwells=(0.25,))
    assert r['raw']['spurious_per_min'] > r['curve'][1]['spurious_per_min'] and r['settings'] == 3
    assert 'trade-off along tau' in capsys.readouterr().out

def test_bench_flood_small_run(capsys, monkeypatch):
    r = bench('bench_flood', monkeypatch).main(seconds=0.5, switches=(5e-4,), floods=('garbage',), intakes=('thread', 'process'))
    for intake in ('thread', 'process'):
        g = r[('garbage', 5e-4, intake)]
        assert g['frames'] == g['expected'] == 30 and g['read'] > 0 and r['parse_ms'] > 0
    assert 'p99 ms' in capsys.readouterr().out


def test_bench_dedup(monkeypatch):
    res = bench('bench_dedup', monkeypatch).main(copies=(2,), allpairs_max=2)
    check_json(res)
    [a] = res['sizes']
    assert a['copies'] == 2 and a['new']['rows'] == 2 * a['new']['kept'] > 0
    assert a['same_rows'] is True and a['allpairs']['kept'] == a['new']['kept']
    for r in (a['new'], a['allpairs']): assert r['load_s'] > 0 and r['dedup_s'] > 0 and r['peak_mib'] >= r['base_mib'] > 0

def test_bench_startup(monkeypatch):
    res = bench('bench_startup', monkeypatch).main(runs=1, only=['help e2c-palette', 'numpy'], verbose=False)
    check_json(res)
    c = res['commands']
    assert set(c) == {'torch', 'help e2c-palette', 'numpy'} and 'failed' not in res
    assert c['torch']['time_ratio'] == 1 and c['torch']['mem_ratio'] == 1
    assert all(v['s'] > 0 and v['peak_mb'] > 0 and v['mem_ratio'] > 0 for v in c.values()), c

def test_bench_idle(monkeypatch):
    res = bench('bench_idle', monkeypatch).main(runs=2, sleep=0.001, verbose=False)
    assert res['runs'] == 2 and {'numpy a + a', 'from_va (numpy)', 'PointPalette', 'PointPalette, 8 MB touched first'} <= set(res['steps'])
    for v in res['steps'].values(): assert 0 < v['warm_p50_us'] and 0 < v['idle_p50_us'] <= v['idle_p99_us'] and v['ratio_p50'] > 0

def test_bench_startup_relay(monkeypatch):
    "The transport floor: datagrams through the relay arrive, each timed."
    res = bench('bench_startup', monkeypatch).run_relay(n=5)
    assert res['n'] == 5 and 0 < res['relay_p50_ms'] <= res['relay_p99_ms'] <= res['relay_max_ms'] < 2000, res

def test_bench_startup_relay_palette(monkeypatch):
    "The floor with the palette: the relay computes each point's palette and frame; they arrive, each timed."
    res = bench('bench_startup', monkeypatch).run_relay(n=3, timeout=120., work=True)
    assert res['n'] == 3 and 0 < res['relay_p50_ms'] <= res['relay_p99_ms'] <= res['relay_max_ms'] < 2000, res

def test_palette_losses(monkeypatch, capsys):
    res = bench('palette_losses', monkeypatch).main()
    check_json(res)
    assert set(res) == {'DEV_PARAPHRASES', 'EXTRA_DEV'}
    for r in res.values():
        assert r['texts'] > 50 and 0 < r['reader'] <= 1 and set(r['accuracy']) == set(r['lost'])
        assert sum(r['lost'].values()) <= r['reader'] * r['texts'] + 1e-9     # only texts the reader got right are lost
    assert '| EXTRA_DEV |' in capsys.readouterr().out

def test_human_ablation(monkeypatch, capsys):
    res = bench('human_ablation', monkeypatch).main(epochs=1, only=['no family term'])
    assert list(res) == ['no family term']
    row = res['no family term']
    assert 0 <= row['family_match'] <= 1 and 0 < row['held_out'] < 1
    assert 'no family term' in capsys.readouterr().out
