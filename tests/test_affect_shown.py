"The affect model's last round for #16: the decoder's family term on the class palettes as the pipeline shows them, and λ by the reader's confidence."
import numpy as np, pytest, torch
from e2c.affect import CONFIDENT, DecoderConfig, AffectDecoder, class_content, _confident, _smoothstep
from e2c.checkpoint import CheckpointError
from e2c.generate import load_generator
from e2c.human import human_terms

TEXTS = ['sad and depressed', 'I feel calm and at peace', 'a spreadsheet of quarterly tax figures', 'the bus timetable for route 12',
         'terracotta roof tiles', 'a wooden chair', 'furious and shaking with rage', 'invoice number 4471']

@pytest.fixture(scope='module')
def gen(): return load_generator(with_reference=False)

def test_lambda_follows_the_readers_confidence(gen):
    m = gen.model
    assert m.confident == CONFIDENT
    emb = torch.as_tensor(gen.embed(TEXTS))
    with torch.no_grad(): ex = m.explain(emb)
    lo, hi = CONFIDENT
    c = _smoothstep((ex['probs'].max(1).values - lo) / (hi - lo))
    assert torch.allclose(ex['weight'], m.weight * ex['gate'] * c)
    assert ((c < 1) & (ex['gate'] > 0)).any() and (c == 1).any()       # some texts damped where the gate is open, some not
    m.confident = None
    try:
        with torch.no_grad(): ex2 = m.explain(emb)
    finally: m.confident = CONFIDENT
    assert torch.allclose(ex2['weight'], m.weight * ex2['gate'])       # off: λ·gate, as before the ramp
    with torch.no_grad(): ex3 = m.explain(emb, va=np.zeros(2), gate=np.ones(len(TEXTS)))
    assert torch.allclose(ex3['weight'], torch.full((len(TEXTS),), m.weight))   # points given (matched prompts): no ramp

def test_confident_in_checkpoints():
    assert _confident({}, 'x') is None                                  # before the ramp: λ as it was
    assert _confident({'confident': [0.3, 0.6]}, 'x') == [0.3, 0.6]
    for bad in ([0.6, 0.3], [0.3], ['a', 1], [0.2, 1.5], 'high'):
        with pytest.raises(CheckpointError, match='affect.confident'): _confident({'confident': bad}, 'x')

def test_family_term_reads_the_blend(gen):
    C = class_content(gen.model.content, gen.encoder)
    assert C.shape == (9, 5, 3) and (np.diff(C[..., 0], axis=-1) >= 0).all()   # darkest → lightest
    dec, cfg = gen.model.decoder, DecoderConfig()
    with torch.no_grad():
        alone, blend, whole = (human_terms(dec, cfg, torch.Generator().manual_seed(0), s)['family'].item()
                               for s in (None, (0.85, C), (1.0, C)))
    assert whole == pytest.approx(alone, abs=1e-6)     # λ = 1: the decoder's own palettes
    assert blend != pytest.approx(alone, abs=1e-4)     # λ < 1: the text model's share counts
