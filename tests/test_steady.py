"""Issue #18 across process and network boundaries, on real UDP sockets on 127.0.0.1: a steady bridge against bursts
and a flickering recogniser, OSC symbols from liblo's oscsend, refused overflows, Unity absent, and the command lines
e2c-bridge and e2c-replay with bad options (one line, exit status 2) and a rehearsal that draws the strip figure."""
import math, shutil, socket, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from e2c.circumplex import CLASSES
from e2c.osc import FrameRecorder, EMOTION_LABEL
from e2c.bridge import Bridge

def osc(addr, tag, vals):
    b = OscMessageBuilder(addr)
    for v in vals: b.add_arg(v, tag)
    return b.build().dgram

def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end: time.sleep(0.005)
    return cond()

@pytest.fixture
def rec():
    with FrameRecorder() as r: yield r

def steady_bridge(rec, **kw):
    return Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), keepalive=None,
                  **{'seconds': 0.1, 'tau': 0.2, 'margin': 0.2, 'dwell': 0.1, **kw}).start()


def test_a_burst_of_10000_labels_is_one_transition_towards_the_last(rec):
    with steady_bridge(rec) as br, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(osc('/e2c/emotion/label', 's', ['neutral']), br.address)
        assert rec.wait_for(1) and br.sender.wait(2)
        before = len(rec.frames)
        for k in range(9_999): s.sendto(osc('/e2c/emotion/label', 's', [CLASSES[k % 9]]), br.address)
        s.sendto(osc('/e2c/emotion/label', 's', ['relaxed and calm']), br.address)
        assert wait_until(lambda: br.counters['received'] == 10_001, 10), br.counters
        assert wait_until(lambda: br.steady.target == 4 and not br.steady.busy, 5)
        assert br.sender.wait(2) and rec.wait_for(br.counters['frames'])
        c = br.counters
    assert c['transitions'] == 2 and c['handled'] == 10_001 and c['observations'] < 10_001, c
    assert {f[EMOTION_LABEL][0] for f in rec.frames[before:]} == {'relaxed and calm'}
    assert len(rec.frames) - before == round(0.1 * 60)          # one transition's frames, nothing else


def test_a_flickering_recogniser_moves_the_scene_once(rec):
    "Class 2 at 30 Hz with every fourth answer a neighbour: the raw bridge follows the flicker, the steady one does not."
    seq = [1 if i % 4 == 3 else 2 for i in range(20)] + [3] * 30
    counts = {}
    for name, kw in [('raw', dict(tau=0, margin=0, dwell=0)), ('steady', {})]:
        with steady_bridge(rec, seconds=0.05, **kw) as br, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for k in seq: s.sendto(osc('/e2c/emotion/index', 'i', [k]), br.address); time.sleep(0.03)
            assert wait_until(lambda: br.steady.target == 3 if name == 'steady' else br.counters['received'] == len(seq), 5)
            assert br.sender.wait(2)
            counts[name] = br.counters['transitions']
    assert counts['steady'] == 2 and counts['raw'] >= 8, counts


@pytest.mark.skipif(shutil.which('oscsend') is None, reason='needs liblo-tools (apt-get install liblo-tools)')
def test_liblo_symbols_and_strings_are_labels(rec):
    with steady_bridge(rec, tau=0, margin=0, dwell=0, seconds=0) as br:
        host, port = br.address
        subprocess.run(['oscsend', host, str(port), '/e2c/emotion/label', 'S', 'sad and depressed'], check=True, timeout=10)
        assert rec.wait_for(1)
        subprocess.run(['oscsend', host, str(port), '/e2c/emotion/label', 's', 'neutral'], check=True, timeout=10)
        assert rec.wait_for(2)
        c = br.counters
    assert [f[EMOTION_LABEL][0] for f in rec.frames] == ['sad and depressed', 'neutral'] and c['bad_args'] == 0, c


def test_overflowing_probabilities_and_points_are_refused_on_arrival(rec, caplog):
    with steady_bridge(rec, tau=0, margin=0, dwell=0, seconds=0) as br, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(osc('/e2c/emotion/probs', 'd', [1e308] * 9), br.address)
        s.sendto(osc('/e2c/emotion/va', 'd', [1e200, 0.0]), br.address)
        s.sendto(osc('/e2c/emotion/index', 'i', [5]), br.address)
        assert rec.wait_for(1)
        c = br.counters
    assert (c['bad_probs'], c['bad_va'], c['source_errors'], c['handled']) == (1, 1, 0, 1), c
    assert rec.frames[-1][EMOTION_LABEL] == ('melancholic and bored',)


def test_unity_absent_every_frame_is_a_send_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as d:
        d.bind(('127.0.0.1', 0)); port = d.getsockname()[1]
    with Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', port), seconds=0.1, keepalive=None) as br:
        br.emotion('neutral'); br.emotion('sad and depressed').wait(2)
    c = br.counters
    assert (c['frames'], c['send_errors']) == (0, 1 + 6), c


def script(tmp_path, name, func):
    p = tmp_path / f'{name}.py'
    p.write_text(f'import sys\nfrom e2c.{name} import {func}\nsys.exit({func}())\n')
    return [sys.executable, str(p)]

BAD_BRIDGE = [(['--easing', 'foo'], '--easing'), (['--fps', '0'], '--fps'), (['--listen-port', '70000'], '--listen-port'),
              (['--duration', '-5'], '--duration'), (['--keepalive', '-1'], '--keepalive'), (['--tau', 'nan'], 'tau'),
              (['--checkpoint', 'nonexistent.safetensors'], 'checkpoint')]

def test_bad_options_are_one_line_and_exit_2(tmp_path):
    cmds = [(script(tmp_path, 'bridge', 'e2c_bridge') + args, says) for args, says in BAD_BRIDGE]
    bad = tmp_path / 'bad.csv'; bad.write_text('t,label\n0,neutral\nx,neutral\n')
    cmds += [(script(tmp_path, 'replay', 'e2c_replay') + args, says) for args, says in
             [(['--kind', 'nope'], '--kind'), (['--session', str(bad)], 'bad.csv, line 3'), (['--speed', '0'], '--speed'),
              (['--session', str(tmp_path / 'missing.csv')], 'cannot read')]]
    ps = [(subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), c, says) for c, says in cmds]
    for p, c, says in ps:
        out, err = p.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and says in lines[0] and 'Traceback' not in err, (c[2:], p.returncode, err)
        assert lines[0].startswith(('e2c-bridge: error: ', 'e2c-replay: error: ')), err


def test_replay_rehearses_and_draws_the_strip(tmp_path):
    cmd = script(tmp_path, 'replay', 'e2c_replay') + ['--minutes', '0.05', '--hz', '10', '--figure', str(tmp_path / 'strip'),
                                                     '--seconds', '0.2', '--tau', '0.2', '--margin', '0.1', '--dwell', '0.1']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '30 requests' in r.stdout, r.stdout
    for ext in ('svg', 'pdf', 'png'): assert (tmp_path / f'strip.{ext}').stat().st_size > 1000, ext
