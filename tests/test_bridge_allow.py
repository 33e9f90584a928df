"""Who may drive the scene: `e2c-bridge --allow` on real UDP sockets on loopback addresses.

127.0.0.1 plays the recogniser's machine and 127.0.0.2 a stranger on the network (Linux routes all of 127/8 to
the loopback interface, so a socket can be bound to either). Everything runs in this process: the bridge with the
reference anchors, a stand-in Unity, and plain sockets as senders."""
import contextlib, io, socket, threading, time
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from e2c.bridge import Bridge, e2c_bridge
from e2c.circumplex import CLASSES
from e2c.osc import FrameRecorder, EMOTION_LABEL, IN_INDEX


def index_msg(k) -> bytes:
    b = OscMessageBuilder(IN_INDEX); b.add_arg(k, 'i'); return b.build().dgram

def sender(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((host, 0)); return s

def wait_until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end: time.sleep(0.005)
    return cond()


@pytest.mark.parametrize('allow', ['127.0.0.1', '127.0.0.0/31', '127.0.0.1,10.0.0.0/8'])
def test_a_stranger_is_counted_and_dropped_unparsed(allow):
    "A flood of valid requests and garbage from 127.0.0.2 changes nothing; the recogniser's one request gets through."
    with FrameRecorder() as rec, Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0, keepalive=None,
                                        allow=allow).start() as br, sender('127.0.0.2') as stranger, sender('127.0.0.1') as friend:
        for k in range(500): stranger.sendto(index_msg(k % 9) if k % 2 else b'\x00garbage', br.address)
        assert wait_until(lambda: br.counters['not_allowed'] == 500), br.counters
        time.sleep(0.05)
        assert rec.frames == []                                   # the stranger moved nothing
        friend.sendto(index_msg(4), br.address)
        assert rec.wait_for(1)
        c = br.counters
    assert (c['received'], c['not_allowed'], c['handled'], c['malformed'], c['bad_args']) == (501, 500, 1, 0, 0), c
    assert rec.frames[-1][EMOTION_LABEL] == (CLASSES[4],)


def test_a_network_admits_its_members():
    "127.0.0.0/30 admits 127.0.0.2; nothing is counted as a stranger."
    with FrameRecorder() as rec, Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', rec.port), seconds=0, keepalive=None,
                                        allow='127.0.0.0/30').start() as br, sender('127.0.0.2') as s:
        s.sendto(index_msg(7), br.address)
        assert rec.wait_for(1)
    assert (br.counters['not_allowed'], br.counters['handled']) == (0, 1)


def run_cli(**kw):
    "e2c_bridge as a function: (exit code or counters, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: res = e2c_bridge(**{'anchors': True, 'listen_port': 0, 'seconds': 0, 'keepalive': 0, 'tau': 0, 'margin': 0, 'dwell': 0, **kw})
        except SystemExit as e: res = e.code
    return res, out.getvalue(), err.getvalue()


def test_cli_refuses_an_open_listener_without_allow():
    for kw, says in [(dict(listen_host='0.0.0.0'), '--listen-host 0.0.0.0 can be reached from other machines'),
                     (dict(listen_host='0.0.0.0', allow='lab-pc'), "--allow 'lab-pc' is not an IP address or network"),
                     (dict(allow=' , '), '--allow names no address')]:
        code, out, err = run_cli(duration=0.01, **kw)
        assert code == 2 and out == '' and err.startswith('e2c-bridge: error: ') and says in err and err.count('\n') == 1, (kw, err)


def test_cli_on_all_interfaces_accepts_only_the_allowed_and_says_so():
    "Listening on 0.0.0.0 with --allow 127.0.0.1: the start-up line names whom it accepts; the stranger is counted, dropped."
    with FrameRecorder() as rec:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:   # a free port for the bridge
            probe.bind(('0.0.0.0', 0)); port = probe.getsockname()[1]
        def send():
            with sender('127.0.0.2') as st, sender('127.0.0.1') as fr:
                for _ in range(20): st.sendto(index_msg(1), ('127.0.0.1', port))
                fr.sendto(index_msg(3), ('127.0.0.1', port))
        threading.Timer(0.3, send).start()
        c, out, err = run_cli(listen_host='0.0.0.0', listen_port=port, unity_port=rec.port, allow='127.0.0.1', duration=1.0)
        assert rec.wait_for(1)
    assert f'listening on 0.0.0.0:{port}' in out and 'accepting only 127.0.0.1/32' in out, out
    assert (c['not_allowed'], c['handled']) == (20, 1), c
    assert 'dropped a datagram from 127.0.0.2' in err and err.count('127.0.0.2') == 1, err   # logged once, then counted
    assert rec.frames[-1][EMOTION_LABEL] == (CLASSES[3],)
    code, out, _ = run_cli(listen_host='0.0.0.0', allow='any', duration=0.05)
    assert isinstance(code, dict) and 'accepting any sender' in out, out
