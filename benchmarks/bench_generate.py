"""Benchmark of e2c.generate (a script that prints, not a test).

    python benchmarks/bench_generate.py [--reps 50] [--free 200] [--batch 1000] [--runs 5] [--checkpoint PATH] [--profile]
                                        [--blas-threads N] [--json]

With the shipped generator (`load_generator()`), in one process:

1. latency of `Generator.generate(label)` for the 9 class labels, their embeddings cached in the generator's
   memory (after a warm-up), at the default temperature and at temperature 0 (and, for information, in the
   reference mode): p50 and p99 over `--reps` rounds of the 9 labels;
2. latency of `generate(prompt)` for `--free` distinct free-form prompts never seen before (so the text encoder
   runs each time): the paraphrase sets of e2c.circumplex, then phrases made from word lists;
3. palettes/s for a batch of `--batch` distinct prompts whose embeddings are cached: the vectorised pipeline
   `generate_many` (e2c mode; the reference mode with vectorised diversity; the reference mode as shipped,
   with the Python-loop diversity), next to a straightforward per-palette implementation of the reference
   post-processing (word matching, anchor blend, `enforce_diversity_loop`, sort by L, per-channel sRGB clip, hex)
   on the same raw model outputs; median of `--runs`, with and without turning the palettes into hex codes.

Targets on 2 CPU cores: class labels p50 ≤ 1 ms, free-form prompts p50 ≤ 20 ms, batches ≥ 10,000 palettes/s.
`--profile` prints where the time goes (cProfile) for each part. `--blas-threads 1` limits numpy's BLAS thread
pool (threadpoolctl) for the whole run: numpy's OpenBLAS threads spin after each numpy matrix product and slow the
torch model that follows on 2 cores. Timings depend on the load: it is printed.
`main` returns the figures as a dict; --json prints it at the end.
"""
import argparse, cProfile, io, itertools, os, pstats, random, time
import numpy as np
from benchtools import median_time, load_average, jsonable, print_json

ADJ = ['quiet', 'stormy', 'golden', 'lonely', 'crowded', 'frozen', 'sunlit', 'rainy', 'sleepy', 'noisy', 'misty',
       'velvet', 'burning', 'empty', 'bright', 'gentle', 'restless', 'faded', 'electric', 'silent']
NOUN = ['harbour', 'kitchen', 'forest path', 'train station', 'birthday party', 'hospital corridor', 'meadow',
        'city rooftop', 'library', 'desert road', 'wedding', 'exam hall', 'garden', 'night market', 'beach',
        'waiting room', 'mountain lake', 'concert', 'office', 'playground']
WHEN = ['at dawn', 'at midnight', 'in late autumn', 'after the rain', 'on a sunday morning', 'in winter',
        'before the storm', 'at sunset', 'in early spring', 'during a heatwave']

def free_prompts(n, seen, seed=0):
    "`n` distinct prompts not in `seen`: the paraphrase sets, then phrases made from the word lists."
    from e2c.circumplex import PARAPHRASES, DEV_PARAPHRASES
    ps = [p for d in (PARAPHRASES, DEV_PARAPHRASES) for v in d.values() for p in v]
    combos = [f'{a} {b} {c}' for a, b, c in itertools.product(ADJ, NOUN, WHEN)]
    random.Random(seed).shuffle(combos)
    out = list(dict.fromkeys(p for p in ps + combos if p not in seen))
    if len(out) < n: raise SystemExit(f"only {len(out)} distinct prompts available, asked for {n}")
    return out[:n]

def pct(ts): return np.percentile(np.asarray(ts) * 1e3, [50, 99])

def profiled(f, on, top=18):
    "Run `f`; with `on`, print its cProfile summary (cumulative time)."
    if not on: return f()
    pr = cProfile.Profile(); pr.enable()
    try: return f()
    finally:
        pr.disable(); s = io.StringIO()
        pstats.Stats(pr, stream=s).strip_dirs().sort_stats('cumulative').print_stats(top)
        print('\n'.join('      ' + l for l in s.getvalue().splitlines()[4:] if l.strip()))

def reference_post_loop(prompts, raw, min_dist):
    "The reference design's post-processing, one palette at a time: its Oklab palettes and hex codes."
    from e2c.circumplex import EMOTIONS, REFERENCE
    from e2c.generate import match_words, enforce_diversity_loop
    from e2c.oklab import oklab_to_srgb, srgb_to_hex
    s = REFERENCE['anchor_scale']
    labs, hexes = [], []
    for prompt, p in zip(prompts, raw):
        k = match_words(prompt)
        if k is not None:
            a = EMOTIONS[k].alpha * s
            p = (1 - a) * p + a * np.asarray(EMOTIONS[k].anchor)
        p = enforce_diversity_loop(p, min_dist)
        p = p[np.argsort(p[:, 0])]
        rgb = np.clip(oklab_to_srgb(p), 0, 1)
        labs.append(p); hexes.append([srgb_to_hex(c) for c in rgb])
    return labs, hexes


def main(reps=50, n_free=200, batch=1000, runs=5, checkpoint=None, profile=False):
    import torch
    with torch.random.fork_rng(devices=[]):     # building the generator's model draws from torch's global generator: restore it
        return _main(reps, n_free, batch, runs, checkpoint, profile)

def _main(reps, n_free, batch, runs, checkpoint, profile):
    import torch
    from e2c.generate import load_generator
    from e2c.circumplex import CLASSES, REFERENCE
    res = dict(torch=torch.__version__, threads=torch.get_num_threads(), cores=os.cpu_count(), load_average=load_average())
    print(f"torch {res['torch']}, {res['threads']} threads, {res['cores']} cores; load average {res['load_average']}")
    t = time.perf_counter(); gen = load_generator(checkpoint); t_load = time.perf_counter() - t
    print(f"{gen}: loaded in {t_load:.2f} s")
    res.update(generator=str(gen), load_s=t_load)

    print(f"\n1. generate(label) for the {len(CLASSES)} class labels, cached embeddings, {reps} rounds")
    print(f"   {'setting':<34} {'p50 ms':>8} {'p99 ms':>8}")
    labels = res['labels'] = dict(reps=reps, calls=reps * len(CLASSES))
    for key, name, kw in [('default', 'default temperature (0.25)', {}), ('temperature_0', 'temperature 0', dict(temperature=0)),
                          ('reference_mode', "mode='reference' (information)", dict(mode='reference'))]:
        for _ in range(3):
            for c in CLASSES: gen.generate(c, **kw)          # warm-up: embeddings (and hinted texts) cached
        ts = []
        def go():
            for _ in range(reps):
                for c in CLASSES:
                    t = time.perf_counter(); gen.generate(c, **kw); ts.append(time.perf_counter() - t)
        profiled(go, profile and name.startswith('default'))
        p50, p99 = pct(ts); labels[key] = dict(setting=name, p50_ms=p50, p99_ms=p99)
        print(f"   {name:<34} {p50:8.3f} {p99:8.3f}   {'≤ 1 ms: met' if p50 <= 1 else 'target 1 ms: MISSED'}"
              if 'information' not in name else f"   {name:<34} {p50:8.3f} {p99:8.3f}")

    prompts = free_prompts(n_free + 5, set(gen._mem))
    warm, prompts = prompts[:5], prompts[5:]
    for p in warm: gen.generate(p)                           # the encoder's first calls are slower
    ts = []
    def go():
        for p in prompts:
            t = time.perf_counter(); gen.generate(p); ts.append(time.perf_counter() - t)
    print(f"\n2. generate(prompt) for {len(prompts)} distinct new free-form prompts (the encoder runs each time)")
    profiled(go, profile)
    p50, p99 = pct(ts)
    enc = []
    for p in free_prompts(50, set(gen._mem), seed=1):
        t = time.perf_counter(); gen.encoder.encode([p], progress=False); enc.append(time.perf_counter() - t)
    print(f"   {'generate(prompt)':<34} {p50:8.3f} {p99:8.3f}   {'≤ 20 ms: met' if p50 <= 20 else 'target 20 ms: MISSED'}")
    e50, e99 = pct(enc)
    print(f"   {'of which encoder.encode (alone)':<34} {e50:8.3f} {e99:8.3f}")
    res['free'] = dict(n=len(prompts), p50_ms=p50, p99_ms=p99, encoder_n=len(enc), encoder_p50_ms=e50, encoder_p99_ms=e99)

    bp = free_prompts(batch - len(CLASSES), set(CLASSES), seed=2) + list(CLASSES)
    random.Random(0).shuffle(bp)
    gen.embed(bp)
    T, min_dist = None, REFERENCE['min_dist']
    raw = np.stack([p.oklab for p in gen.generate_many(bp, T, seed=0, mode='reference', raw=True)])
    variants = {'generate_many, e2c mode': ('e2c', dict()),
                "generate_many, mode='reference', vectorised diversity": ('reference_vectorised', dict(mode='reference', diversity='vectorised')),
                "generate_many, mode='reference' (loop diversity)": ('reference_loop', dict(mode='reference'))}
    print(f"\n3. a batch of {len(bp):,} cached prompts (default temperature, seed 0), median of {runs}; palettes/s")
    print(f"   {'pipeline':<60} {'palettes':>10} {'+ hex':>10}")
    out, rate = {}, {}
    for name, (key, kw) in variants.items():
        gen.generate_many(bp, T, seed=0, **kw)                 # warm-up (hinted texts embedded once)
        t1, pals = median_time(lambda: gen.generate_many(bp, T, seed=0, **kw), runs)
        t2, hx = median_time(lambda: [p.hex for p in gen.generate_many(bp, T, seed=0, **kw)], runs)
        out[key] = (pals, hx); rate[key] = dict(pipeline=name, palettes_per_s=len(bp) / t1, hex_per_s=len(bp) / t2)
        print(f"   {name:<60} {len(bp) / t1:10,.0f} {len(bp) / t2:10,.0f}")
    t3, (labs, hx3) = median_time(lambda: reference_post_loop(bp, raw, min_dist), runs)
    loop = len(bp) / t3
    print(f"   {'per-palette reference post-processing (model outputs given)':<60} {'':>10} {loop:10,.0f}")
    e2c_rate = rate['e2c']['palettes_per_s']
    e2c_hex, vec_hex = rate['e2c']['hex_per_s'], rate['reference_vectorised']['hex_per_s']
    print(f"   speed-up over the per-palette loop (both with hex codes): e2c mode {e2c_hex / loop:.1f}x, reference "
          f"vectorised {vec_hex / loop:.1f}x (the generate_many rates include the model, the loop's do not)")
    print(f"   e2c mode: {'≥ 10,000 palettes/s: met' if e2c_rate >= 10_000 else 'target 10,000 palettes/s: MISSED'} "
          f"({e2c_rate:,.0f}/s as Palette objects, {e2c_hex:,.0f}/s with their hex codes)")
    loop_pals, loop_hex = out['reference_loop']
    same = sum(a == b for a, b in zip(loop_hex, hx3))
    vec = out['reference_vectorised'][0]
    dvec = np.array([np.abs(a.oklab - b.oklab).max() for a, b in zip(vec, loop_pals)])
    print(f"   check: the per-palette loop and generate_many(mode='reference') agree on {same}/{len(bp)} palettes' hex codes"
          f"; vectorised vs loop diversity: "
          f"{(dvec < 1e-9).mean():.0%} identical, max difference {dvec.max():.3f}")
    res['batch'] = dict(n=len(bp), runs=runs, pipelines=rate, per_palette_loop_hex_per_s=loop,
                        speedup_e2c_vs_loop=e2c_hex / loop, speedup_reference_vectorised_vs_loop=vec_hex / loop,
                        loop_agrees_hex=same, vectorised_identical_fraction=(dvec < 1e-9).mean(),
                        vectorised_max_diff=dvec.max())
    if profile:
        print("\n   profile: generate_many, e2c mode, + hex")
        profiled(lambda: [p.hex for p in gen.generate_many(bp, T, seed=0)], True, 25)
    res['load_average_after'] = load_average()
    print(f"\nload average after: {res['load_average_after']}")
    return jsonable(res)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--reps', type=int, default=50, help='rounds of the 9 class labels per setting (default 50)')
    p.add_argument('--free', type=int, default=200, help='distinct free-form prompts (default 200)')
    p.add_argument('--batch', type=int, default=1000, help='prompts in the batch (default 1000)')
    p.add_argument('--runs', type=int, default=5, help='timed runs of each batch pipeline (the median is printed)')
    p.add_argument('--checkpoint', default=None, help="checkpoint for load_generator (default: the shipped one)")
    p.add_argument('--profile', action='store_true', help='print cProfile summaries of each part')
    p.add_argument('--blas-threads', type=int, default=None,
                   help="limit numpy's BLAS threads (threadpoolctl) during the run (default: numpy's own setting)")
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    if a.blas_threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(a.blas_threads, user_api='blas')
        print(f"numpy's BLAS limited to {a.blas_threads} thread(s)")
    res = main(a.reps, a.free, a.batch, a.runs, a.checkpoint, a.profile)
    if a.json: print_json(res)
