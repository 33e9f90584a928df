"""The OSC bridge on the real generator (not the anchors the OSC tests use): what Unity receives
for a label, a probability vector and a circumplex point is the generator's own palette."""
import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient
from e2c.generate import load_generator
from e2c.osc import FrameRecorder
from e2c.bridge import Bridge
from e2c.emotions import CLASSES, VA

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
