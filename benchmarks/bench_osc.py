"""Benchmark of e2c.osc (a script that prints figures, not a test).

    python benchmarks/bench_osc.py [--n 30000] [--rates 5000,10000,20000,40000,0] [--kinds label,mix]
                                   [--transitions 3] [--trials 200] [--priority 0] [--json]

Everything runs on real UDP sockets on 127.0.0.1. The bridge (`e2c.osc.Bridge` with the
anchor source) runs in this process; the recogniser and the stand-in Unity run in a child
process, as they would in the installation. Both processes time with `time.perf_counter`
(CLOCK_MONOTONIC, shared by all processes on Linux), so times taken in one can be
compared with times taken in the other.

1. Throughput: N messages sent to the bridge at each paced rate, counting what the bridge
   received; rate 0 sends them as fast as the child can (an unpaced burst, which only the
   receive buffer absorbs, so its loss depends on N). "label" sends class labels only, "mix"
   cycles labels, indices, 9 probabilities and circumplex points. Target: ≥ 5,000 msg/s
   with no loss.
2. Frame-time jitter of 60 fps transitions (1 s each, 60 frames): |interval − 1/60 s|
   between consecutive frames, at the sender (just before `send`) and at the receiver
   (just after `recv`). Target: p99 ≤ 2 ms.
3. Latency from a recogniser's label message to the first frame of its palette at the
   stand-in Unity. Every trial changes the class, so every trial interrupts the running
   transition. Target: p99 ≤ 20 ms.

With --priority P (Linux, needs root or CAP_SYS_NICE), parts 2 and 3 run the bridge as
`e2c-bridge --priority P` does (its receive loop and frame clock under SCHED_FIFO P), and
the stand-in processes under SCHED_FIFO P too, so that on a machine
loaded by other work what is measured is the bridge and not the stand-ins waiting for a
CPU (Unity has its own scheduling). Part 1 always runs at normal priority.

`main` returns the figures as a dict; --json prints it at the end. It leaves no child process, thread or
socket behind, and puts the `e2c.osc` log level back, so it can run inside another program (the smoke test).
"""
import argparse, contextlib, multiprocessing as mp, os, platform, queue, random, socket, time
import numpy as np
from benchtools import load_average, jsonable, print_json


def _osc(addr, tag, vals):
    from pythonosc.osc_message_builder import OscMessageBuilder
    b = OscMessageBuilder(addr)
    for v in vals: b.add_arg(v, tag)
    return b.build().dgram

def messages(kind, n):
    from e2c.circumplex import CLASSES, VA
    labels = [_osc('/e2c/emotion/label', 's', [c]) for c in CLASSES]
    if kind == 'label': pool = labels
    else:
        rng = np.random.default_rng(0)
        pool = labels + [_osc('/e2c/emotion/index', 'i', [k]) for k in range(9)]
        pool += [_osc('/e2c/emotion/probs', 'f', list(rng.dirichlet(np.ones(9)))) for _ in range(9)]
        pool += [_osc('/e2c/emotion/va', 'f', list(v + rng.normal(0, 0.1, 2))) for v in VA]
    return [pool[i % len(pool)] for i in range(n)]


# ---- child-process roles ----------------------------------------------------------------
def recogniser(q, port, dgrams, rate):
    "Send `dgrams` to the bridge at `rate` per second (0: as fast as possible), in chunks of 10."
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        addr, t0 = ('127.0.0.1', port), time.perf_counter()
        for i in range(0, len(dgrams), 10):
            if rate:
                while (w := t0 + i / rate - time.perf_counter()) > 0: time.sleep(min(w, 0.001))
            for d in dgrams[i:i + 10]: s.sendto(d, addr)
        q.put(len(dgrams) / (time.perf_counter() - t0))

def unity_recorder(q, n, timeout):
    "Bind, report the port, record the arrival time and progress of `n` frames."
    from e2c.osc import parse_osc
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(('127.0.0.1', 0)); s.settimeout(timeout)
        q.put(s.getsockname()[1])
        raw = []
        try:
            while len(raw) < n: raw.append((s.recv(65536), time.perf_counter()))
        except socket.timeout: pass
    q.put([(t, dict(parse_osc(d))['/e2c/transition/progress'][0]) for d, t in raw])

def latency_client(q, back, trials):
    "Stand-in Unity and recogniser at once: send a label, time the first frame that carries it."
    from e2c.circumplex import CLASSES
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r:
        u.bind(('127.0.0.1', 0)); u.settimeout(1.0)
        q.put(u.getsockname()[1])
        bridge = ('127.0.0.1', back.get())
        rng, lat, k = random.Random(0), [], 0
        for _ in range(trials):
            k = (k + 1 + rng.randrange(8)) % 9                # always a different class
            want, msg = CLASSES[k].encode(), _osc('/e2c/emotion/label', 's', [CLASSES[k]])
            t = time.perf_counter(); r.sendto(msg, bridge)
            while True:
                try: d = u.recv(65536)
                except socket.timeout: lat.append(float('inf')); break
                if want + b'\0' in d: lat.append(time.perf_counter() - t); break
            end = time.perf_counter() + rng.uniform(0.02, 0.06)   # let the transition run a little
            while time.perf_counter() < end:
                try: u.settimeout(max(end - time.perf_counter(), 1e-4)); u.recv(65536)
                except socket.timeout: pass
            u.settimeout(1.0)
    q.put(lat)


# ---- the measurements --------------------------------------------------------------------
def pct(x, p): return float(np.percentile(x, p))

def throughput(ctx, n, rates, kind):
    from e2c.bridge import Bridge
    dgrams, best, rows = messages(kind, n), 0, []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:        # Unity that never reads
        sink.bind(('127.0.0.1', 0))
        with Bridge(listen=('127.0.0.1', 0), unity=sink.getsockname(), keepalive=None).start() as br:
            for rate in rates:
                before = br.counters['received']
                with spawn(ctx, 0, recogniser, br.address[1], dgrams, rate) as (p, q):
                    sent_rate = receive(q, p, 'recogniser'); p.join()
                last, still = -1, 0
                while still < 3:                               # until the count stops moving for 60 ms
                    time.sleep(0.02); cur = br.counters['received']
                    still, last = (still + 1 if cur == last else 0), cur
                got = last - before
                rows.append((rate, sent_rate, got, n - got))
                if got == n and rate and sent_rate >= 0.98 * rate: best = max(best, rate)
            rcvbuf, c = br.rcvbuf, dict(br.counters)
    print(f"\n1. throughput, {kind} messages, N = {n:,} per rate (receive buffer {rcvbuf:,} bytes as read back)")
    print(f"   {'rate asked':>12} {'sent at':>12} {'received':>10} {'lost':>7}")
    for rate, sent, got, lost in rows:
        print(f"   {('max' if not rate else f'{rate:,}'):>12} {sent:>12,.0f} {got:>10,} {lost:>7,}")
    print(f"   highest paced rate with no loss: {best:,.0f} msg/s   (target ≥ 5,000: {'met' if best >= 5000 else 'NOT met'});"
          f" {c['transitions']:,} transitions, {c['coalesced']:,} coalesced, {c['unchanged']:,} unchanged")
    return dict(n=n, rcvbuf=rcvbuf, rates=[dict(rate=rate, sent_per_s=sent, received=got, lost=lost) for rate, sent, got, lost in rows],
                best_rate_no_loss=best, transitions=c['transitions'], coalesced=c['coalesced'], unchanged=c['unchanged'])

@contextlib.contextmanager
def spawn(ctx, prio, target, *args):
    "Start `target` in a child process under SCHED_FIFO `prio` (0: normal); yield (process, queue); stop it if still running."
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(q, *args), daemon=True)
    if prio: policy(prio)
    try: p.start()
    finally:
        if prio: policy(0)
    try: yield p, q
    finally:
        p.join(5)
        if p.is_alive(): p.terminate(); p.join()
        q.close(); q.join_thread()

def receive(q, p, who):
    "The next item from `q`, put there by the child process `p`; an error, not a wait for ever, if `p` ends without one."
    while True:
        try: return q.get(timeout=0.5)
        except queue.Empty:
            if p.is_alive(): continue
            try: return q.get(timeout=1)
            except queue.Empty: raise RuntimeError(f"the {who} process ended (exit code {p.exitcode}) without reporting") from None

def jitter(ctx, reps, prio=0):
    from e2c.bridge import Bridge
    n = 60 * reps + 1
    sent = []
    with spawn(ctx, prio, unity_recorder, n, 3.0) as (p, q):
        port = receive(q, p, 'stand-in Unity')
        with Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', port), keepalive=None, priority=prio) as br:
            snd, sock = br.sender, br.sender.sock
            class Timed:   # records when each frame is handed to the kernel
                def send(self, d): sent.append(time.perf_counter()); return sock.send(d)
                def close(self): sock.close()
                def fileno(self): return sock.fileno()
                def getsockopt(self, *a): return sock.getsockopt(*a)
            snd.sock = Timed()
            snd.send(br.palettes[0])
            for r in range(reps):
                assert snd.transition(br.palettes[1 + r % 8], seconds=1.0, fps=60).wait(5)
            rt = snd.realtime
        got = receive(q, p, 'stand-in Unity'); p.join()
    def devs(ts, starts):
        ts = np.array(ts); d = np.diff(ts)
        keep = np.ones(len(d), bool); keep[[s - 1 for s in starts if s > 0]] = False   # gaps between transitions
        return np.abs(d[keep] - 1 / 60) * 1e3
    starts = [1 + 60 * r for r in range(reps)]                 # index of each transition's first frame
    ts_s, ts_r = sent[1:], [t for t, _ in got][1:]
    js, jr = devs(ts_s, [s - 1 for s in starts]), devs(ts_r, [s - 1 for s in starts])
    print(f"\n2. frame-time jitter, {reps} transitions × 60 frames at 60 fps: |interval − 16.67 ms|"
          f" ({len(got):,}/{n:,} frames received; frame clock {'SCHED_FIFO ' + str(prio) if rt else 'normal priority'})")
    print(f"   at the sender:   p50 {pct(js, 50):.3f} ms   p99 {pct(js, 99):.3f} ms   max {js.max():.3f} ms")
    print(f"   at the receiver: p50 {pct(jr, 50):.3f} ms   p99 {pct(jr, 99):.3f} ms   max {jr.max():.3f} ms"
          f"   (target p99 ≤ 2 ms: {'met' if pct(jr, 99) <= 2 else 'NOT met'})")
    stats = lambda x: dict(n=len(x), p50_ms=pct(x, 50), p99_ms=pct(x, 99), max_ms=float(x.max()))
    return dict(transitions=reps, frames_sent=len(sent), frames_expected=n, frames_received=len(got), realtime=bool(rt),
                sender=stats(js), receiver=stats(jr))

def latency(ctx, trials, prio=0):
    from e2c.bridge import Bridge
    back = ctx.Queue()
    try:
        with spawn(ctx, prio, latency_client, back, trials) as (p, q):
            uport = receive(q, p, 'latency client')
            with Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', uport), keepalive=None, priority=prio).start() as br:
                back.put(br.address[1])
                lat = np.array(receive(q, p, 'latency client')) * 1e3; p.join()
    finally: back.close(); back.join_thread()
    ok = lat[np.isfinite(lat)]
    print(f"\n3. latency, label message → first frame at Unity, {trials} trials ({trials - len(ok)} lost)")
    print(f"   p50 {pct(ok, 50):.3f} ms   p99 {pct(ok, 99):.3f} ms   max {ok.max():.3f} ms"
          f"   (target p99 ≤ 20 ms: {'met' if pct(ok, 99) <= 20 and len(ok) == trials else 'NOT met'})")
    return dict(trials=trials, lost=trials - len(ok), p50_ms=pct(ok, 50), p99_ms=pct(ok, 99), min_ms=float(ok.min()),
                max_ms=float(ok.max()))

def policy(prio):
    "Run this thread, and the threads and processes it starts from now on, under SCHED_FIFO `prio` (0: normal)."
    try:
        if prio: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
        else: os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (AttributeError, OSError) as e: print(f'   (scheduling policy not changed: {e})')

def main(n=30_000, rates=(5000, 10000, 20000, 40000, 0), kinds=('label', 'mix'), transitions=3, trials=200, priority=0):
    import logging
    from importlib.metadata import version
    log = logging.getLogger('e2c.osc'); old_level = log.level
    log.setLevel(logging.ERROR)   # the stand-ins close before the bridge: expected send errors
    try:
        ctx = mp.get_context('spawn')
        res = dict(python=platform.python_version(), python_osc=version('python-osc'), cores=os.cpu_count(),
                   load_average=load_average(), priority=priority)
        print(f"e2c.osc benchmark: Python {res['python']}, python-osc {res['python_osc']},"
              f" {res['cores']} CPU cores, load average {res['load_average']}")
        res['throughput'] = {kind: throughput(ctx, n, rates, kind) for kind in kinds if kind != 'none'}
        res['jitter'] = jitter(ctx, transitions, priority)
        res['latency'] = latency(ctx, trials, priority)
        res['load_average_end'] = load_average()
        print(f"\nload average at the end: {res['load_average_end']}")
    finally: log.setLevel(old_level)
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=30_000, help='messages per rate in the throughput test')
    p.add_argument('--rates', default='5000,10000,20000,40000,0', help='send rates to try, msg/s (0: as fast as possible)')
    p.add_argument('--kinds', default='label,mix', help='message mixes for the throughput test: label, mix (none: skip it)')
    p.add_argument('--transitions', type=int, default=3, help='1-second 60 fps transitions timed for jitter')
    p.add_argument('--trials', type=int, default=200, help='label → first frame latency trials')
    p.add_argument('--priority', type=int, default=0, help='SCHED_FIFO priority for parts 2 and 3 (0: normal scheduling)')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.n, [int(r) for r in a.rates.split(',')], a.kinds.split(','), a.transitions, a.trials, a.priority)
    if a.json: print_json(res)
