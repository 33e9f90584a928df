"""Which part of the human chapter's decoder terms contributes what: retrains the affect decoder of a checkpoint
with one part of `DecoderConfig.human` removed at a time (same soft targets, seed and epochs) and prints the
evaluation chapter's ablation row for each, as Markdown.

    python benchmarks/human_ablation.py [--checkpoint PATH] [--epochs 30] [--only NAME ...]
"""
from __future__ import annotations
import argparse, dataclasses, sys
import numpy as np, pandas as pd, torch
from benchtools import one_torch_thread
from e2c.generate import load_generator
from e2c.train import prepare
from e2c.affect import fit_decoder, soft_targets, DecoderConfig, class_content
from e2c.evaluate import ablation_row, _copy_affect, _md

VARIANTS = {
    'all human terms (default)': None,
    'no family term': ('family',),
    'no BCP valence term': ('bcp',),
    'no separation term': ('sep',),
    'no class circumplex term': ('circ',),
    'no class gamut term': ('gamut',),
    'no human terms': ('family', 'bcp', 'sep', 'circ', 'gamut'),   # = row 10 of the evaluation chapter's ablation
}

def main(checkpoint:str|None=None, # checkpoint (default: the shipped one)
         epochs:int=30, # decoder epochs of each variant
         only:list|None=None) -> dict: # variants to run (default: all)
    "Print the ablation table; return its rows, {variant: ablation row}."
    with one_torch_thread(): return _run(checkpoint, epochs, only)

def _run(checkpoint, epochs, only):
    gen = load_generator(checkpoint); prep = prepare(gen.encoder, verbose=False)
    data = soft_targets(gen.model.reader, prep.tr)
    base = DecoderConfig(epochs=epochs)
    shown_as = (gen.model.weight, class_content(gen.model.content, gen.encoder))
    rows = {}
    for name, drop in VARIANTS.items():
        if only and name not in only: continue
        if drop is None: g2 = gen
        else:
            cfg = dataclasses.replace(base, human={k: v for k, v in base.human.items() if k not in drop})
            dec, _ = fit_decoder(*data, cfg, shown_as)
            g2 = gen.with_model(_copy_affect(gen.model, dec), gen.meta)
        rows[name] = ablation_row(g2, prep)
        print(name, {k: round(v, 3) for k, v in rows[name].items()}, file=sys.stderr, flush=True)
    print(_md(pd.DataFrame(rows).T))
    return rows

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=None); ap.add_argument('--epochs', type=int, default=30)
    ap.add_argument('--only', nargs='*', default=None)
    a = ap.parse_args()
    main(a.checkpoint, a.epochs, a.only)
