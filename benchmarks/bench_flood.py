"""Input never delays output: frame times of the bridge during an input flood (a script that prints figures, not a test).

    python benchmarks/bench_flood.py [--seconds 3] [--fps 60] [--switch 0.0005,0.005] [--floods none,garbage,bundles] [--intakes thread,process] [--priority 0] [--repeats 1]

Real UDP sockets on 127.0.0.1. The bridge (`e2c.bridge.Bridge`, anchor palettes, e2c-bridge's steadiness defaults) runs
in this process and plays one long transition (`--seconds`, at `--fps`); a stand-in Unity in a child process records
the arrival time of every frame, and a flooder in another child process sends, for the whole transition, either
nothing, random garbage datagrams, or 60 kB bundles of 1,870 valid messages (indices, probabilities, points, all for
the transition's class), as fast as it can. For each flood, intake (`thread`: the bridge reads and parses in its serve thread, beside the frame clock;
`process`: in a child process, e2c.intake) and Python thread switch interval (`sys.setswitchinterval`; the bridge sets 0.5 ms while it
serves, Python's default is 5 ms) it prints the lateness of each frame against its schedule (t0 + k/fps, t0 the first
frame's arrival): p50, p99 and max in ms (goal: p99 ≤ 2 ms at 60 fps during a flood), how many datagrams the bridge
read meanwhile, and the time it took to read one bundle. All processes time with CLOCK_MONOTONIC (perf_counter).
"""
import argparse, multiprocessing as mp, os, socket, sys, time
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def unity(q, ready, n):
    "Stand-in Unity: the arrival times of `n` frames."
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(('127.0.0.1', 0)); s.settimeout(10); ready.put(s.getsockname()[1])
    ts = []
    try:
        while len(ts) < n: s.recv(65536); ts.append(time.perf_counter())
    except socket.timeout: pass
    q.put(ts)


def bundle_1870():
    "A 60 kB OSC bundle of 1,870 valid requests, all for the class the transition goes to (so that none changes the target)."
    from pythonosc.osc_bundle_builder import OscBundleBuilder, IMMEDIATELY
    from e2c.osc import _osc_msg, IN_INDEX, IN_PROBS, IN_VA
    from e2c.circumplex import VA
    b = OscBundleBuilder(IMMEDIATELY)
    for k in range(1870):
        b.add_content(_osc_msg(IN_PROBS, 'f', list(np.eye(9)[2])) if k % 100 == 50 else _osc_msg(IN_VA, 'f', list(VA[2]))
                      if k % 100 == 99 else _osc_msg(IN_INDEX, 'i', [2]))
    return b.build().dgram


def flooder(port, kind, until, q):
    "Send `kind` datagrams as fast as possible until perf_counter `until`."
    rng = np.random.default_rng(0)
    pool = [bundle_1870()] if kind == 'bundles' else [rng.bytes(int(n)) for n in rng.integers(8, 200, 256)]
    n = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while time.perf_counter() < until:
            try: s.sendto(pool[n % len(pool)], ('127.0.0.1', port)); n += 1
            except OSError: pass
            if kind == 'bundles' and n % 4 == 0: time.sleep(0.001)
    q.put(n)


def trial(kind, switch, seconds, fps, intake='process', priority=0):
    from e2c.bridge import Bridge
    from e2c.circumplex import CLASSES
    ctx = mp.get_context('spawn')
    q, fq, ready = ctx.Queue(), ctx.Queue(), ctx.Queue()    # frame times and the flooder's count on their own queues
    n = round(seconds * fps)
    u = ctx.Process(target=unity, args=(q, ready, n + 1)); u.start()
    port = ready.get(timeout=30)
    old = sys.getswitchinterval()
    with Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', port), seconds=seconds, fps=fps, keepalive=None,
                switch_interval=switch, intake=intake, priority=priority) as br:
        br.start()
        br.emotion('neutral'); time.sleep(0.3)
        t0 = time.perf_counter()
        f = None
        if kind != 'none':
            f = ctx.Process(target=flooder, args=(br.address[1], kind, t0 + seconds + 0.5, fq)); f.start()
            time.sleep(0.2)
        br.emotion(CLASSES[2])          # a transition of `seconds` while the flood runs
        ts = np.array(q.get(timeout=seconds + 30))
        sent = fq.get(timeout=30) if f else 0
        if f: f.join()
        c = br.counters
    u.join()
    assert sys.getswitchinterval() == old
    ts = ts[1:]                           # the first frame is the 'neutral' one
    late = (ts - ts[0] - np.arange(len(ts)) / fps) * 1e3
    late -= np.median(late)               # the flood may delay the first frame; the schedule is what matters
    return dict(late=np.abs(late), frames=len(ts), expected=n, read=c['received'], sent=sent, malformed=c['malformed'], handled=c['handled'])


def trials(kind, switch, seconds, fps, intake='process', priority=0, repeats=1):
    "`repeats` trials pooled: frame counts and datagrams summed, lateness percentiles over all their frames."
    rs = [trial(kind, switch, seconds, fps, intake, priority) for _ in range(repeats)]
    late = np.concatenate([r.pop('late') for r in rs])
    out = {k: sum(r[k] for r in rs) for k in rs[0]}
    return dict(out, p50=float(np.percentile(late, 50)), p99=float(np.percentile(late, 99)), max=float(late.max()))


def parse_time(runs=20):
    from e2c.osc import parse_osc
    d = bundle_1870()
    t = time.perf_counter()
    for _ in range(runs): parse_osc(d)
    return len(d), (time.perf_counter() - t) / runs * 1e3


def main(seconds=3.0, fps=60.0, switches=(0.0005, 0.005), floods=('none', 'garbage', 'bundles'), intakes=('thread', 'process'), priority=0, repeats=1) -> dict:
    size, ms = parse_time()
    print(f'load average {"/".join(f"{x:.2f}" for x in os.getloadavg())}; parsing one bundle of 1,870 messages ({size:,} bytes): {ms:.1f} ms')
    print(f'{"flood":<8} {"intake":<8} {"switch ms":>9} {"frames":>9} {"p50 ms":>7} {"p99 ms":>7} {"max ms":>7} {"datagrams read/sent":>20}')
    out = {'parse_ms': ms}
    for kind, intake, sw in ((k, i, w) for k in floods for i in intakes for w in switches):
        r = trials(kind, sw, seconds, fps, intake, priority, repeats)
        out[(kind, sw, intake)] = r
        print(f"{kind:<8} {intake:<8} {sw * 1e3:>9.1f} {r['frames']:>4}/{r['expected']:<4} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['max']:>7.2f} "
              f"{r['read']:>9,}/{r['sent']:<9,}", flush=True)
    return out


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seconds', type=float, default=3); ap.add_argument('--fps', type=float, default=60)
    ap.add_argument('--switch', type=lambda s: tuple(float(x) for x in s.split(',')), default=(0.0005, 0.005))
    ap.add_argument('--floods', type=lambda s: tuple(s.split(',')), default=('none', 'garbage', 'bundles'))
    ap.add_argument('--intakes', type=lambda s: tuple(s.split(',')), default=('thread', 'process'))
    ap.add_argument('--priority', type=int, default=0, help="the bridge's SCHED_FIFO priority (needs root or CAP_SYS_NICE; 0: normal)")
    ap.add_argument('--repeats', type=int, default=1, help='trials per row, pooled (p99 of one 3 s trial is its second-worst frame)')
    a = ap.parse_args()
    main(a.seconds, a.fps, a.switch, a.floods, a.intakes, a.priority, a.repeats)
