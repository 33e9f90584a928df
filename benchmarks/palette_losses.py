"""Where the affect model's palette loses a text whose class the reader gets right: on the development texts
(`DEV_PARAPHRASES` and `EXTRA_DEV`; never the held-out paraphrases), the nearest class palette (the evaluation
chapter's accuracy) after each step of the affect model, and the first step at which a text the reader's most
likely class gets right is lost. Prints Markdown.

    python benchmarks/palette_losses.py [--checkpoint PATH] [--sharpen BETA] [--texts]

Steps: the decoder at the most likely class's point; the decoder at the reader's point (`va_point`, with the
checkpoint's β or --sharpen); blended with the text model by λ·gate; the full pipeline (diversity, gamut map).
"""
from __future__ import annotations
import argparse
import numpy as np, torch
from benchtools import one_torch_thread
from e2c.generate import load_generator, diversify, finish
from e2c.circumplex import CLASSES, VA, DEV_PARAPHRASES
from e2c.affect import EXTRA_DEV, va_point
from e2c.evaluate import _pals, class_prompts
from e2c.palette import palette_dist

STEPS = ['argmax point', 'reader point', 'blend', 'pipeline']

def main(checkpoint:str|None=None, # checkpoint (default: the shipped one)
         sharpen:float|None=None, # β of the reader's point (default: the checkpoint's)
         texts:bool=False) -> dict: # list the texts lost
    "Print the table; return its figures, {set: {texts, reader, step accuracies, lost per step}}."
    with one_torch_thread(): return _run(checkpoint, sharpen, texts)

def _run(checkpoint, sharpen, show):
    gen = load_generator(checkpoint); m = gen.model
    if sharpen is not None: m.sharpen = sharpen
    res = {}
    cls = _pals(gen, class_prompts(), temperature=0)
    near = lambda p: palette_dist(np.asarray(p, float)[:, None], cls[None]).argmin(1)
    done = lambda p: finish(diversify(np.asarray(p, float), 'vectorised'), 'map')
    print(f'β = {m.sharpen:g}\n\n| set | texts | reader argmax | decoder at argmax point | decoder at reader point | + λ·gate blend | full pipeline '
          '| reader right, lost at: argmax point | reader point | blend | pipeline | still wrong at the end |\n|' + '---|' * 12)
    for name, D in (('DEV_PARAPHRASES', DEV_PARAPHRASES), ('EXTRA_DEV', EXTRA_DEV)):
        texts = [t for c in CLASSES for t in D[c]]; y = np.repeat(np.arange(9), [len(D[c]) for c in CLASSES])
        with torch.no_grad(): ex = m.explain(torch.as_tensor(gen.embed(texts)))
        am = ex['probs'].numpy().argmax(1)
        steps = [near(done(m.from_va(VA[am]))), near(done(ex['affect'].numpy())), near(done(ex['palette'].numpy())), near(_pals(gen, texts, temperature=0))]
        ok, lost = am == y, []
        for s in steps: lost.append(ok & (s != y)); ok = ok & (s == y)
        print(f'| {name} | {len(y)} | {np.mean(am == y):.3f} | ' + ' | '.join(f'{np.mean(s == y):.3f}' for s in steps)
              + ' | ' + ' | '.join(str(l.sum()) for l in lost) + f' | {np.sum((am == y) & (steps[-1] != y))} |')
        res[name] = dict(texts=len(y), reader=float(np.mean(am == y)), accuracy={k: float(np.mean(st == y)) for k, st in zip(STEPS, steps)},
                         lost={k: int(l.sum()) for k, l in zip(STEPS, lost)})
        if show:
            for i in np.where(np.any(lost, 0))[0]: print(f'  {texts[i]!r}: {CLASSES[y[i]]} → {CLASSES[steps[-1][i]]}')
    return res

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None); ap.add_argument('--sharpen', type=float, default=None)
    ap.add_argument('--texts', action='store_true', help='list the texts lost')
    a = ap.parse_args()
    main(a.checkpoint, a.sharpen, a.texts)
