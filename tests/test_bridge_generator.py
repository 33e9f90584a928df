"""The OSC bridge on the real generator (not the anchors the OSC tests use): what Unity receives
for a label, a probability vector and a circumplex point is the generator's own palette; its circumplex
points are decoded without torch, with the same palettes."""
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient
from e2c.generate import load_generator
from e2c.osc import FrameRecorder
from e2c.bridge import Bridge, numpy_va
from e2c.circumplex import CLASSES, VA

@pytest.fixture(scope='module')
def gen(): return load_generator()

def test_bridge_streams_the_generators_palettes(gen):
    pals = gen.class_palettes()
    with FrameRecorder() as unity:
        br = Bridge(source=gen, listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port), seconds=0, keepalive=None).start()
        try:
            client = SimpleUDPClient(*br.address)
            for k in (6, 2):
                n = len(unity.frames)
                client.send_message('/e2c/emotion/label', CLASSES[k])
                assert unity.wait_for(n + 1, timeout=5)
                assert list(unity.frames[-1]['/e2c/palette/hex']) == pals[k].hex
            n = len(unity.frames)
            client.send_message('/e2c/emotion/probs', [0.5, 0, 0, 0, 0, 0, 0.5, 0, 0])
            assert unity.wait_for(n + 1, timeout=5)
            assert list(unity.frames[-1]['/e2c/palette/hex']) == gen.from_probs([0.5, 0, 0, 0, 0, 0, 0.5, 0, 0]).hex
            n = len(unity.frames)
            client.send_message('/e2c/emotion/va', [0.8, -0.3])
            assert unity.wait_for(n + 1, timeout=5)
            assert list(unity.frames[-1]['/e2c/palette/hex']) == gen.from_va(0.8, -0.3).hex
            assert br.counters['handled'] == 4
        finally: br.close()

def test_points_are_decoded_in_numpy_with_the_same_palettes(gen, monkeypatch):
    fast = numpy_va(gen)
    assert fast is not gen and type(fast.model).__name__ == '_NumpyVA' and 'from_va' not in vars(gen.model)   # the caller's generator is its own
    pts = np.concatenate([VA, np.random.default_rng(0).uniform(-1, 1, (300, 2))])
    want_raw, want = gen.model.from_va(pts), [gen.from_va(*p).hex for p in pts]
    import torch
    def no_torch(*a, **k): raise AssertionError('torch ran')
    monkeypatch.setattr(torch, 'as_tensor', no_torch); monkeypatch.setattr(type(gen.model.decoder), 'forward', no_torch)
    assert np.abs(fast.model.from_va(pts) - want_raw).max() <= 1e-6
    assert [fast.from_va(*p).hex for p in pts] == want

def _numpy_calls(f) -> list:
    "The numpy functions `f()` calls (directly or not), in order."
    import sys
    seen = []
    def prof(frame, event, arg):
        if event == 'c_call' and (getattr(arg, '__module__', None) or '').startswith('numpy'): seen.append(arg.__name__)
        elif event == 'call' and '/numpy/' in frame.f_code.co_filename: seen.append(frame.f_code.co_name)
    sys.setprofile(prof)
    try: f()
    finally: sys.setprofile(None)
    return seen

def test_bridge_requests_in_python_floats(gen):
    "A point's palette is the generator's to rounding (the same hex); the frame of a point or a label comes with no numpy call."
    from e2c.point import PointPalette
    from e2c.oklab import srgb_to_hex, oklab_to_srgb
    with FrameRecorder() as unity:
        br = Bridge(source=gen, listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port), seconds=0, keepalive=None)
        try:
            assert isinstance(br._point, PointPalette)
            for p in np.random.default_rng(1).uniform(-1, 1, (200, 2)).tolist():
                ours = np.array(br._point(*p))     # against the numpy decoder's generator; that one against torch's above
                assert np.abs(ours - br.source.from_va(*p).oklab).max() <= 1e-12
                assert list(srgb_to_hex(np.clip(oklab_to_srgb(ours), 0, 1))) == gen.from_va(*p).hex
            br._go('va', (0.1, 0.1)); br._go('index', 0)     # the first of each also fills caches
            assert _numpy_calls(lambda: br._go('va', (0.8, -0.3))) == []
            assert _numpy_calls(lambda: br._go('index', 6)) == []
            with Bridge(listen=('127.0.0.1', 0), unity=('127.0.0.1', unity.port)) as anchors: assert anchors._point is None   # no decoder
        finally: br.close()
