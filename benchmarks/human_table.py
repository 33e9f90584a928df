"""Before/after table of issue #16 from two e2c-eval outputs, plus the class palettes and "a panic attack" of two checkpoints:

    git show main:e2c/assets/e2c-minilm.safetensors > /tmp/old.safetensors
    e2c-eval --out /tmp/before --figures /tmp/before/figures --checkpoint /tmp/old.safetensors
    e2c-eval
    python benchmarks/human_table.py /tmp/before figures /tmp/old.safetensors e2c/assets/e2c-minilm.safetensors
"""
import json, sys, warnings; warnings.filterwarnings('ignore')
import numpy as np
from e2c.generate import load_generator
from e2c.circumplex import EMOTIONS, CLASSES
B, A = (json.load(open(f'{d}/metrics.json')) for d in sys.argv[1:3])
old_ck, new_ck = sys.argv[3:5]
def col(M, who):
    if who == 'ref':
        r, p, rec, h = M['reference']['after'], M['paraphrases']['reference'], M['reconstruction']['reference pipeline'], M['human']['reference pipeline']
    else:
        r, p, rec, h = M['e2c']['after'], M['paraphrases']['e2c'], M['reconstruction']['e2c pipeline'], M['human']['e2c']
    return [r['circumplex_r'], r['discrimination'], r['diversity'], r['consistency'], p['accuracy'], p['pair_r'], rec['order-free ΔEOK'],
            h['family_match'] * 9, h['paraphrase_family'], h['bcp_spearman'], h['paraphrase_bcp_spearman'], h['min_pair'], str(h['closest']),
            h['hue gap neutral / nervous and tense'], h['hue gap sad and depressed / nervous and tense']]
names = ['circumplex r', 'discrimination', 'diversity', 'consistency', 'held-out paraphrase accuracy', 'paraphrase pair r', 'held-out order-free ΔEOK',
         'family match (of 9)', 'held-out paraphrases in class family', 'BCP valence Spearman (9 classes)', 'BCP valence Spearman (72 paraphrases)',
         'min pairwise class ΔEOK (order-free)', 'closest pair', 'hue gap neutral/nervous', 'hue gap sad/nervous']
anch = B['human']['reference anchors']
cols = {'reference design (pipeline)': col(B, 'ref'), 'e2c before': col(B, 'e2c'), 'e2c after (#16)': col(A, 'e2c')}
print('| metric | ' + ' | '.join(cols) + ' | reference anchors |'); print('|---' * (len(cols) + 2) + '|')
for k, n in enumerate(names):
    f = lambda v: f'{v:.3f}' if isinstance(v, float) else str(v)
    an = {7: anch['family_match'] * 9, 9: anch['bcp_spearman'], 11: anch['min_pair'], 12: anch['closest'], 13: anch['hue gap neutral / nervous and tense'], 14: anch['hue gap sad and depressed / nervous and tense']}.get(k, '')
    print(f'| {n} | ' + ' | '.join(f(c[k]) for c in cols.values()) + f' | {f(an)} |')
prom = [e.eval_prompt for e in EMOTIONS]
for name, ck, kw in (('reference design', old_ck, dict(mode='reference')), ('e2c before', old_ck, {}), ('e2c after', new_ck, {})):
    g = load_generator(ck)
    print(f'\n{name}:')
    for c, p in zip(CLASSES, g.generate_many(prom, temperature=0, **kw)): print(f'  {c:22} ' + ' '.join(p.hex))
    print(f'  {"a panic attack":22} ' + ' '.join(g.generate('a panic attack', temperature=0, **kw).hex))
