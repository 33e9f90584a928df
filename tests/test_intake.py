"""The bridge's child intake (`e2c.intake.ProcessIntake`) on real UDP sockets on 127.0.0.1: counters as exact as the
thread intake's, a malformed flood that kills nothing, a child that dies is replaced and reported, and a child that
never outlives its parent (the parent killed with SIGKILL)."""
import logging, os, signal, socket, subprocess, sys, threading, time
from pathlib import Path
import numpy as np
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from e2c.bridge import Bridge
from e2c.circumplex import CLASSES
from e2c.osc import FrameRecorder, EMOTION_LABEL, IN_INDEX, IN_LABEL, IN_PROBS

ROOT = Path(__file__).resolve().parents[1]


def msg(addr, *args) -> bytes:
    b = OscMessageBuilder(addr)
    for a in args: b.add_arg(a)
    return b.build().dgram

def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end: time.sleep(0.005)
    return cond()

def gone(pid) -> bool:
    "The process `pid` has ended (no such process, or a zombie waiting for its new parent)."
    try: return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except FileNotFoundError: return True


def traffic():
    "A mixed burst: stranger datagrams, garbage, refused and valid requests (last: a label)."
    rng = np.random.default_rng(0)
    friend = [rng.bytes(int(n)) for n in rng.integers(1, 80, 300)] + [msg(IN_INDEX, 12), msg(IN_LABEL, 'furious'), msg('/x', 1)]
    friend += [msg(IN_PROBS, *[float(x) for x in np.eye(9)[k % 9]]) for k in range(500)] + [msg(IN_LABEL, 'relaxed and calm')]
    stranger = [msg(IN_INDEX, 2)] * 200
    return friend, stranger


@pytest.mark.parametrize('intake', ['process', 'thread'])
def test_counters_are_exact_with_either_intake(intake):
    "The same burst gives the same counters whichever intake reads it, and the scene goes to the last label."
    friend, stranger = traffic()
    with FrameRecorder() as rec, Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0, keepalive=None,
                                        allow='127.0.0.1', intake=intake).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as f, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        f.bind(('127.0.0.1', 0)); s.bind(('127.0.0.2', 0))
        for k, d in enumerate(friend):
            f.sendto(d, br.address)
            if k < len(stranger): s.sendto(stranger[k], br.address)
        assert wait_until(lambda: br.counters['received'] == len(friend) + len(stranger)), br.counters
        # every request handled has been taken by a frame's observation (a probability vector of class 4 also shows
        # 'relaxed and calm': the label alone does not say the burst is through)
        assert wait_until(lambda: (c := br.counters)['handled'] == 501 and c['coalesced'] + c['observations'] == 501), br.counters
        assert wait_until(lambda: rec.frames and rec.frames[-1][EMOTION_LABEL] == ('relaxed and calm',))
    c = br.counters
    refused = sum(c[k] for k in ('malformed', 'unknown_address', 'bad_args', 'unknown_label', 'bad_index', 'bad_probs', 'bad_va'))
    assert (c['not_allowed'], c['handled'], c['unknown_label'], c['bad_index'], c['unknown_address']) == (200, 501, 1, 1, 1), c
    assert c['handled'] + refused == len(friend) and c['coalesced'] + c['observations'] == c['handled'] and c['intake_restarts'] == 0


def test_a_malformed_flood_kills_nothing():
    "5,000 random datagrams: all counted as malformed by the same child, and the bridge still answers."
    rng = np.random.default_rng(1)
    with FrameRecorder() as rec, Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        pid = br._in.proc.pid
        for n in rng.integers(0, 300, 5000): s.sendto(b'\0' + rng.bytes(int(n)), br.address)
        assert wait_until(lambda: br.counters['received'] == 5000, 10), br.counters
        s.sendto(msg(IN_INDEX, 3), br.address)
        assert rec.wait_for(1)
        assert br._in.proc.pid == pid and br._in.alive
    assert (br.counters['malformed'], br.counters['handled'], br.counters['intake_restarts']) == (5000, 1, 0)


def test_a_dead_child_is_reported_and_replaced(caplog):
    "SIGKILL to the child: a warning with its exit status, one restart counted, and the next request still arrives."
    with caplog.at_level(logging.WARNING, logger='e2c.osc'), FrameRecorder() as rec, \
         Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        old = br._in.proc.pid
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: br.counters['intake_restarts'] == 1 and br._in.alive)
        assert br._in.proc.pid != old
        s.sendto(msg(IN_INDEX, 5), br.address)
        assert rec.wait_for(1)
    assert rec.frames[-1][EMOTION_LABEL] == (CLASSES[5],)
    assert f'intake process {old} died (exit status -9)' in caplog.text
    assert br._in.proc is None and gone(old)


PARENT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from e2c.bridge import Bridge
br = Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', 9)).start()
print(br._in.proc.pid, flush=True)
time.sleep(60)
"""

def test_the_child_dies_with_its_parent():
    "A bridge process killed with SIGKILL (no clean-up runs) leaves no intake process behind."
    p = subprocess.Popen([sys.executable, '-c', PARENT, str(ROOT)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(p.stdout.readline())
        assert not gone(child)
        p.kill(); p.wait()
        assert wait_until(lambda: gone(child), 3), f'intake process {child} outlived its parent'
    finally:
        if p.poll() is None: p.kill(); p.wait()


def test_a_child_that_cannot_start_leaves_the_thread_intake(monkeypatch, caplog):
    "No interpreter for the child: one error in the log, and the bridge reads in its serve thread with the same counters."
    import e2c.intake
    monkeypatch.setattr(e2c.intake.sys, 'executable', '/nonexistent/python')
    with caplog.at_level(logging.WARNING, logger='e2c.osc'), FrameRecorder() as rec, \
         Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert br._in.fallback is not None and br._in.proc is None
        for d in (b'junk', msg(IN_INDEX, 7)): s.sendto(d, br.address)
        assert rec.wait_for(1)
    assert (br.counters['received'], br.counters['malformed'], br.counters['handled']) == (2, 1, 1)
    assert rec.frames[-1][EMOTION_LABEL] == (CLASSES[7],)
    assert 'cannot start the intake process' in caplog.text and 'reads and parses in its serve thread' in caplog.text


def test_e2c_bridge_intake_option(capsys):
    "e2c-bridge --intake thread serves; --intake fork is one line and exit status 2."
    from e2c.bridge import e2c_bridge
    c = e2c_bridge(listen_port=0, unity_port=9, anchors=True, duration=0.2, intake='thread')
    assert c['received'] == 0 and c['intake_restarts'] == 0
    with pytest.raises(SystemExit) as e: e2c_bridge(listen_port=0, anchors=True, intake='fork')
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip() == "e2c-bridge: error: unknown --intake 'fork'; choose from process, thread"


def test_stopping_counts_everything_that_arrived():
    "Datagrams already in the kernel's buffer when the bridge stops are read and counted by the child's last update."
    with FrameRecorder() as rec, Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        child = br._in.proc.pid
        os.kill(child, signal.SIGSTOP)            # the child reads nothing until it has been told to stop
        for k in range(300): s.sendto(msg(IN_INDEX, k % 9) if k % 3 else b'junk', br.address)
        threading.Timer(0.2, os.kill, (child, signal.SIGCONT)).start()
        br.stop()
        c = br.counters
    assert (c['received'], c['handled'], c['malformed']) == (300, 200, 100), c


def test_verbose_logs_every_refusal_from_the_child(caplog):
    "With the e2c.osc log at debug level the child ships every refusal, not only the first of its kind."
    with caplog.at_level(logging.DEBUG, logger='e2c.osc'), FrameRecorder() as rec, \
         Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0).start() as br, \
         socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for k in (10, 11, 12): s.sendto(msg(IN_INDEX, k), br.address)
        assert wait_until(lambda: br.counters['bad_index'] == 3)
    said = [r for r in caplog.records if 'class index' in r.getMessage()]
    assert [r.levelname for r in said] == ['WARNING', 'DEBUG', 'DEBUG'] and 'further bad_index' in said[0].getMessage()
