"""e2c.osc end to end on real UDP sockets on 127.0.0.1 with ephemeral ports.

A fake Unity decodes what the bridge sends with python-osc's parser (an implementation
independent of e2c's), and a fake recogniser sends with python-osc's client.
"""
import math, os, re, selectors, signal, socket, subprocess, sys, threading, time
from pathlib import Path
import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from e2c.circumplex import CLASSES, VA
from e2c.oklab import delta_eok
from e2c.osc import OUT_ADDRESSES
from e2c.stream import PaletteSender
from e2c.bridge import AnchorSource, Bridge
from e2c.entry import huge_pages_env
from e2c.palette import Palette

SRC = AnchorSource()
PALS = SRC.class_palettes()
N_ARGS = {'/e2c/palette/srgb': 15, '/e2c/palette/hex': 5, '/e2c/palette/oklab': 15, '/e2c/emotion/label': 1,
          '/e2c/emotion/va': 2, '/e2c/transition/progress': 1, '/e2c/frame': 1}
TYPES = {'/e2c/palette/srgb': float, '/e2c/palette/hex': str, '/e2c/palette/oklab': float, '/e2c/emotion/label': str,
         '/e2c/emotion/va': float, '/e2c/transition/progress': float, '/e2c/frame': int}


class FakeUnity:
    "Receives on an ephemeral port; keeps every datagram that is a complete frame bundle, counts the rest."
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(('127.0.0.1', 0)); self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.frames, self.incomplete, self._stop = [], [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True); self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try: d = self.sock.recv(65536)
            except OSError: continue
            t = time.perf_counter()
            try:
                assert OscBundle.dgram_is_bundle(d), 'not a bundle'
                msgs = list(OscBundle(d))
                assert [m.address for m in msgs] == list(OUT_ADDRESSES), [m.address for m in msgs]
                for m in msgs:
                    assert len(m.params) == N_ARGS[m.address] and all(isinstance(p, TYPES[m.address]) for p in m.params), m
                self.frames.append({**{m.address: m.params for m in msgs}, 't': t})
            except Exception as e: self.incomplete.append((d, e))

    def wait_for(self, n, timeout=3.0):
        end = time.monotonic() + timeout
        while len(self.frames) < n and time.monotonic() < end: time.sleep(0.002)
        return len(self.frames) >= n

    def settle(self, quiet=0.15, timeout=5.0):
        "Wait until nothing has arrived for `quiet` seconds."
        end, n = time.monotonic() + timeout, -1
        while time.monotonic() < end and n != len(self.frames):
            n = len(self.frames); time.sleep(quiet)
        return self.frames

    def close(self):
        self._stop.set(); self._thread.join(); self.sock.close()


def oklab(f): return np.reshape(f['/e2c/palette/oklab'], (5, 3))

def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end: time.sleep(0.005)
    return cond()

def dead_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def osc(addr, tag, vals):
    b = OscMessageBuilder(addr)
    for v in vals: b.add_arg(v, tag)
    return b.build().dgram


@pytest.fixture
def unity():
    u = FakeUnity()
    yield u
    u.close()

@pytest.fixture
def make_bridge(unity):
    made = []
    def make(**kw):
        kw = {'listen': ('127.0.0.1', 0), 'unity': ('127.0.0.1', unity.port), 'seconds': 0.1, 'keepalive': None, **kw}
        b = Bridge(SRC, **kw).start()
        made.append((b, c := SimpleUDPClient(*b.address)))
        return b, c
    yield make
    for b, c in made: b.close(); c.close()


def test_label_gives_the_class_palette_in_complete_bundles(make_bridge, unity):
    br, rec = make_bridge()
    for k, name in [(6, 'sad and depressed'), (2, 'Elated_and_Happy'), (4, 'relaxed and calm')]:
        rec.send_message('/e2c/emotion/label', name)
        assert wait_until(lambda: unity.frames and unity.frames[-1]['/e2c/transition/progress'][0] == 1.0
                          and unity.frames[-1]['/e2c/emotion/label'] == [CLASSES[k]])
        last = unity.frames[-1]
        assert last['/e2c/palette/hex'] == PALS[k].hex
        np.testing.assert_allclose(last['/e2c/palette/srgb'], PALS[k].srgb.ravel(), atol=1e-6)
        np.testing.assert_allclose(oklab(last), PALS[k].oklab, atol=1e-6)
        np.testing.assert_allclose(last['/e2c/emotion/va'], VA[k], atol=1e-6)
    assert unity.wait_for(13)
    fr = unity.settle()
    assert not unity.incomplete
    assert [f['/e2c/frame'][0] for f in fr] == list(range(1, len(fr) + 1))
    assert all(0 <= x <= 1 for f in fr for x in f['/e2c/palette/srgb'])
    assert all(re.fullmatch('#[0-9a-f]{6}', h) for f in fr for h in f['/e2c/palette/hex'])
    assert all(np.all(np.diff(oklab(f)[:, 0]) >= -1e-6) for f in fr)   # darkest → lightest
    assert len(fr) == 1 + 6 + 6 and br.counters['handled'] == 3


def test_index_probs_and_va_requests(make_bridge, unity):
    br, rec = make_bridge(seconds=0)
    rec.send_message('/e2c/emotion/index', 7)
    assert unity.wait_for(1)
    assert unity.frames[-1]['/e2c/emotion/label'] == ['stressed and upset']
    p = [0, 0.25, 0.75, 0, 0, 0, 0, 0, 0]
    rec.send_message('/e2c/emotion/probs', p)
    assert unity.wait_for(2)
    f = unity.frames[-1]
    assert f['/e2c/emotion/label'] == ['elated and happy']
    np.testing.assert_allclose(oklab(f), SRC.from_probs(p).oklab, atol=1e-6)
    np.testing.assert_allclose(f['/e2c/emotion/va'], np.array(p) @ VA, atol=1e-6)
    rec.send_message('/e2c/emotion/va', [-0.9, -0.45])
    assert unity.wait_for(3)
    f = unity.frames[-1]
    assert f['/e2c/emotion/label'] == ['sad and depressed']
    np.testing.assert_allclose(oklab(f), SRC.from_va(-0.9, -0.45).oklab, atol=1e-6)
    np.testing.assert_allclose(f['/e2c/emotion/va'], [-0.9, -0.45], atol=1e-6)
    rec.send_message('/e2c/emotion/va', [-0.9, -0.45])              # the same target again: nothing to do
    assert wait_until(lambda: br.counters['unchanged'] == 1)
    rec.send_message('/e2c/transition/seconds', 0.05)
    rec.send_message('/e2c/emotion/index', 0.0)                     # an integral float is an index
    assert unity.wait_for(6)
    assert br.seconds == pytest.approx(0.05) and br.counters['unchanged'] == 1 and not unity.incomplete


@pytest.mark.parametrize('easing', ['ease_in_out', 'linear', 'cosine'])
def test_transition_frame_count_and_shrinking_distance(unity, easing):
    with PaletteSender(port=unity.port) as snd:
        snd.send(PALS[6])
        tr = snd.transition(PALS[2], seconds=0.25, fps=60, easing=easing)
        assert tr.wait(3) and not tr.interrupted
    assert unity.wait_for(16)
    fr = unity.settle()
    assert len(fr) == 1 + 15 and tr.sent == 15
    np.testing.assert_allclose([f['/e2c/transition/progress'][0] for f in fr[1:]], np.arange(1, 16) / 15, atol=1e-6)
    d = [delta_eok(oklab(f), PALS[2].oklab).mean() for f in fr]
    assert all(np.diff(d) < 0), np.round(d, 4)
    assert d[-1] < 1e-6 and fr[-1]['/e2c/palette/hex'] == PALS[2].hex
    gaps = np.diff([f['t'] for f in fr[1:]])
    assert 0.2 < fr[-1]['t'] - fr[1]['t'] < 1.0 and 0.010 < np.median(gaps) < 0.025   # paced at 60 fps, not dumped


def test_newer_target_interrupts_from_the_current_frame(unity):
    with PaletteSender(port=unity.port) as snd:
        snd.send(PALS[6])
        first = snd.transition(PALS[2], seconds=0.3)
        time.sleep(0.12)
        second = snd.transition(PALS[4], seconds=0.3)
        assert second.wait(3) and first.interrupted and not second.interrupted
    assert unity.wait_for(1 + first.sent + second.sent)
    fr = unity.settle()
    assert len(fr) == 1 + first.sent + second.sent and second.sent == 18 and 3 <= first.sent < 18
    labs = np.array([oklab(f) for f in fr])
    k = first.sent                               # labs[k] was shown when the new target came
    steps = delta_eok(labs[1:], labs[:-1]).max(-1)
    assert steps[k] <= 3 / 18 * delta_eok(labs[k], PALS[4].oklab).max() + 1e-4
    far = max(delta_eok(PALS[6].oklab, PALS[2].oklab).max(), delta_eok(labs[k], PALS[4].oklab).max())
    assert steps.max() <= 3 / 18 * far + 1e-4                 # never more than an eased step: no jump
    assert delta_eok(labs[-1], PALS[4].oklab).max() < 1e-6
    assert [f['/e2c/emotion/label'][0] for f in fr[k + 1:]] == ['relaxed and calm'] * 18


def test_a_stream_of_targets_is_followed_not_stalled(make_bridge, unity):
    "Probabilities at 30 Hz: each interrupts the last transition, which must not restart from rest."
    br, rec = make_bridge(seconds=1.0)
    rec.send_message('/e2c/emotion/index', 6)
    assert unity.wait_for(1)
    start = PALS[6].oklab
    for i in range(10):
        rec.send_message('/e2c/emotion/probs', list(np.eye(9)[2] + 0.01 * i * np.eye(9)[3]))
        time.sleep(1 / 30)
    now = oklab(unity.frames[-1])
    left = delta_eok(now, PALS[2].oklab).mean() / delta_eok(start, PALS[2].oklab).mean()
    assert left < 0.7, left                      # ease_in_out restarted 10 times would still be at ≈ 1.0
    assert br.counters['interrupted'] >= 8


class UnsortedSource:
    "A palette source as the generator would be, except that its palettes come lightest first and from_va fails."
    def class_palettes(self): return [Palette(p.oklab[::-1], p.label) for p in PALS]
    def from_probs(self, p): return Palette(SRC.from_probs(p).oklab[::-1])
    def from_va(self, valence, arousal): raise RuntimeError('no circumplex model loaded')


def test_a_custom_source_plugs_in(unity):
    with Bridge(UnsortedSource(), listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port), seconds=0, keepalive=None).start() as br:
        rec = SimpleUDPClient(*br.address)
        rec.send_message('/e2c/emotion/label', 'neutral')
        rec.send_message('/e2c/emotion/va', [0.1, 0.2])   # the last request of its batch: the source fails, counted
        assert wait_until(lambda: br.counters['source_errors'] == 1 and br.counters['handled'] == 2)
        rec.send_message('/e2c/emotion/probs', [0, 0, 0, 1, 0, 0, 0, 0, 0])
        assert wait_until(lambda: unity.frames and unity.frames[-1]['/e2c/emotion/label'] == ['contented and serene'])
        rec.close()
    assert [p.hex for p in br.palettes] == [p.hex for p in PALS]
    assert all(np.all(np.diff(oklab(f)[:, 0]) >= 0) for f in unity.frames)
    with pytest.raises(TypeError, match='lacks'): Bridge(object(), listen=('127.0.0.1', 0))


def test_priority_is_applied_and_given_back(unity):
    import os
    before = os.sched_getscheduler(0), os.sched_getparam(0)
    with Bridge(SRC, listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port), seconds=0.05, priority=1) as br:
        br.serve_forever(duration=0.05)                 # in this thread: real-time while serving, then as before
        assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before
        br.emotion('neutral'); br.emotion(3).wait(2)
        tid = br.sender._thread.native_id
        assert os.sched_getscheduler(tid) == (os.SCHED_FIFO if br.sender.realtime else os.SCHED_OTHER)
    assert unity.wait_for(1 + 3)


def garbage_packets(rng):
    "1,000 bad packets and the counter each one must land in."
    out = []
    for _ in range(300):                                               # random bytes, some dressed as OSC
        d = rng.bytes(int(rng.integers(0, 80)))
        d = [d, b'/' + d, b'#bundle\0' + d + b'\1'][int(rng.integers(0, 3))]   # (+1 byte: never an empty bundle)
        out.append((d, None))
    for i in range(100): out.append((osc(f'/e2c/nope/{i}', 'i', [i]), 'unknown_address'))
    wrong = [('/e2c/emotion/label', 'i', [3]), ('/e2c/emotion/label', 's', ['neutral', 'neutral']), ('/e2c/emotion/label', 's', []),
             ('/e2c/emotion/index', 's', ['3']), ('/e2c/emotion/index', 'f', [2.5]), ('/e2c/emotion/index', 'i', [1, 2]),
             ('/e2c/emotion/probs', 'f', [0.1] * 8), ('/e2c/emotion/probs', 'f', [0.1] * 10), ('/e2c/emotion/probs', 's', ['a'] * 9),
             ('/e2c/emotion/va', 'f', [0.1]), ('/e2c/emotion/va', 's', ['a', 'b']), ('/e2c/transition/seconds', 'f', [math.nan])]
    for i in range(300): out.append((osc(*wrong[i % len(wrong)]), 'bad_args'))
    for i in range(100): out.append((osc('/e2c/emotion/label', 's', [f'angry {i}']), 'unknown_label'))
    for i in range(50): out.append((osc('/e2c/emotion/index', 'i', [9 + i if i % 2 else -1 - i]), 'bad_index'))
    probs = [[math.nan] * 9, [0.5, math.inf] + [0] * 7, [-0.1] + [0.2] * 8, [0] * 9]
    for i in range(100): out.append((osc('/e2c/emotion/probs', 'f', probs[i % 4]), 'bad_probs'))
    for i in range(50): out.append((osc('/e2c/emotion/va', 'f', [math.nan, 0.1] if i % 2 else [0.2, math.inf]), 'bad_va'))
    return out


def test_1000_garbage_packets_then_a_valid_message(make_bridge, unity):
    br, rec = make_bridge(seconds=0)
    bad = garbage_packets(np.random.default_rng(42))
    assert len(bad) == 1000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d, _ in bad: s.sendto(d, br.address)
    assert wait_until(lambda: br.counters['received'] == 1000)
    c = br.counters
    assert c['handled'] == 0 and c['frames'] == 0
    errors = ['malformed', 'unknown_address', 'bad_args', 'unknown_label', 'bad_index', 'bad_probs', 'bad_va', 'source_errors']
    assert sum(c[k] for k in errors) == 1000
    for kind in errors[1:]:
        assert c[kind] >= sum(k == kind for _, k in bad), kind
    assert c['malformed'] >= 250
    rec.send_message('/e2c/emotion/label', 'contented and serene')
    assert unity.wait_for(1)
    assert unity.frames[-1]['/e2c/emotion/label'] == ['contented and serene'] and br.counters['handled'] == 1
    assert br._thread.is_alive()


def test_burst_of_10000_messages_loses_none(make_bridge, unity):
    br, _ = make_bridge(seconds=0.05)
    kinds = [osc('/e2c/emotion/index', 'i', [k]) for k in range(9)]
    kinds += [osc('/e2c/emotion/label', 's', [c]) for c in CLASSES]
    kinds += [osc('/e2c/emotion/probs', 'f', list(np.eye(9)[k] * 0.8 + 0.1 / 9)) for k in range(9)]
    kinds += [osc('/e2c/emotion/va', 'f', list(v)) for v in VA]
    burst = [kinds[i % len(kinds)] for i in range(9_999)] + [osc('/e2c/emotion/label', 's', ['neutral'])]
    t = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in burst: s.sendto(d, br.address)
    rate = len(burst) / (time.perf_counter() - t)
    assert wait_until(lambda: br.counters['received'] >= 10_000, timeout=10), (br.counters, rate)
    time.sleep(0.05)
    c = br.counters
    assert c['received'] == 10_000 and c['handled'] == 10_000, c
    assert c['transitions'] + c['coalesced'] + c['unchanged'] == 10_000   # every target acted on or superseded
    assert br.sender.wait(3)
    assert wait_until(lambda: unity.frames[-1]['/e2c/emotion/label'] == ['neutral']
                      and unity.frames[-1]['/e2c/transition/progress'] == [1.0])
    assert not unity.incomplete


def test_unity_not_listening(unity):
    port = dead_port()
    with Bridge(SRC, listen=('127.0.0.1', 0), unity=('127.0.0.1', port), seconds=0.1, keepalive=None).start() as br:
        rec = SimpleUDPClient(*br.address)
        for i, name in enumerate(['neutral', 'sad and depressed', 'elated and happy']):
            rec.send_message('/e2c/emotion/label', name)
            assert wait_until(lambda: br.counters['transitions'] == i + 1 and br.sender.wait(0))   # one at a time
        rec.close()
        c = br.counters
        assert c['handled'] == 3 and c['send_errors'] >= 3 and c['interrupted'] == 0, c
        assert c['frames'] + c['send_errors'] >= 1 + 6 + 6
        assert br._thread.is_alive()


def test_keepalive_resends_the_current_palette(unity):
    with PaletteSender(port=unity.port, keepalive=0.05) as snd:
        snd.send(PALS[1])
        assert unity.wait_for(3)
    assert all(f['/e2c/palette/hex'] == PALS[1].hex for f in unity.frames) and snd.counters['keepalives'] >= 2


def test_keepalive_counts_from_the_last_frame(unity):
    "A jump sent after the sender has idled most of a keepalive period puts the next keepalive a whole period after it."
    with PaletteSender(port=unity.port, keepalive=0.3) as snd:
        time.sleep(0.2)
        snd.transition(PALS[2], seconds=0)     # a jump: the sender thread is not woken for it
        assert unity.wait_for(2, timeout=5)
    sent, kept = (f['t'] for f in unity.frames[:2])
    assert kept - sent >= 0.29 and snd.counters['keepalives'] >= 1, (kept - sent, snd.counters)

def test_no_threads_or_sockets_left(unity):
    before = threading.active_count()
    br = Bridge(SRC, listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port), seconds=0.05).start()
    with SimpleUDPClient(*br.address) as rec: rec.send_message('/e2c/emotion/index', 3)
    assert unity.wait_for(1)
    br.close(); br.close()
    assert threading.active_count() == before
    assert br.sock.fileno() == -1 and br.sender.sock.fileno() == -1


def bridge_cmd(tmp_path):
    exe = Path(sys.executable).parent / 'e2c-bridge'
    if exe.exists(): return [str(exe)]
    script = tmp_path / 'e2c_bridge.py'
    script.write_text('import sys\nfrom e2c.entry import e2c_bridge\nsys.exit(e2c_bridge())\n')
    return [sys.executable, str(script)]


@pytest.mark.parametrize('sig,huge', [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_cli_serves_and_shuts_down_cleanly(tmp_path, unity, sig, huge):
    "Serves, counts, stops on the signal; restarts itself with its memory on huge pages where the system allows, not with E2C_HUGE_PAGES=0."
    cmd = bridge_cmd(tmp_path) + ['--listen-port', '0', '--unity-port', str(unity.port), '--anchors', '--seconds', '0.05',
                                  '--keepalive', '0', '--tau', '0', '--margin', '0', '--dwell', '0']
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONMALLOC', 'GLIBC_TUNABLES')} | {'E2C_HUGE_PAGES': '1' if huge else '0'}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with selectors.DefaultSelector() as sel:     # the start-up line, or give up after 30 s
            sel.register(p.stdout, selectors.EVENT_READ)
            line = p.stdout.readline() if sel.select(30) else ''
        m = re.search(r'listening on 127\.0\.0\.1:(\d+)', line)
        assert m, (line, p.stderr.read() if p.poll() is not None else '')
        assert 'reference anchors' in line
        environ = Path(f'/proc/{p.pid}/environ').read_bytes().split(b'\0') if sys.platform == 'linux' else []
        if huge and huge_pages_env(env) is not None:     # Linux, glibc ≥ 2.35, transparent huge pages not 'never'
            assert re.search(r'; [\d,]+ MB of its memory on huge pages\. Ctrl-C', line), line
            assert b'PYTHONMALLOC=malloc' in environ and b'GLIBC_TUNABLES=glibc.malloc.hugetlb=1' in environ
        if not huge: assert 'huge pages' not in line and b'PYTHONMALLOC=malloc' not in environ, line
        rec = SimpleUDPClient('127.0.0.1', int(m.group(1)))
        rec.send_message('/e2c/emotion/label', 'alert and excited')
        assert unity.wait_for(1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s: s.sendto(b'\x00garbage', ('127.0.0.1', int(m.group(1))))
        rec.send_message('/e2c/emotion/index', 5)
        assert unity.wait_for(4)
        time.sleep(0.1)
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
        rec.close()
    finally:
        if p.poll() is None: p.kill(); print('killed; its stderr:', p.communicate()[1])
    assert p.returncode == 0, err
    counts = dict((k, int(v.replace(',', ''))) for k, v in re.findall(r'^(\w+)\s+([\d,]+)$', out, re.M))
    assert counts['received'] == 3 and counts['handled'] == 2 and counts['malformed'] == 1 and counts['frames'] == 4, out
    assert 'malformed' in err and 'Traceback' not in err
    assert unity.frames[0]['/e2c/emotion/label'] == ['alert and excited']


def test_cli_help_explains_every_option(tmp_path):
    out = subprocess.run(bridge_cmd(tmp_path) + ['--help'], capture_output=True, text=True, timeout=30).stdout
    for opt in ['--listen-host', '--listen-port', '--unity-host', '--unity-port', '--seconds', '--fps', '--easing',
                '--checkpoint', '--anchors', '--keepalive', '--priority', '--duration', '--verbose', '--tau', '--margin', '--dwell']:
        assert opt in out, opt


def test_cli_says_so_when_the_port_is_taken(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(('127.0.0.1', 0))
        r = subprocess.run(bridge_cmd(tmp_path) + ['--listen-port', str(taken.getsockname()[1]), '--anchors'],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and 'cannot listen on 127.0.0.1' in r.stderr and 'Traceback' not in r.stderr, r.stderr
