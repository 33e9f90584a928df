"""What a device buys (a script that prints, not a test).

    python benchmarks/bench_device.py [--device auto] [--texts 4096] [--clip-prompts 64] [--epochs 10] [--seeds 1]
                                      [--no-clip] [--json]

On one device (--device: auto, cpu, cuda, cuda:N or mps; see e2c.device) it times:
- MiniLM: --texts training texts embedded in batches of 256 without the cache (texts/s), and one sentence (ms);
- CLIP ViT-B-32 built without weights (the same computation as with the reference weights): one prompt (ms), a batch
  of --clip-prompts prompts (ms per prompt), and from that the time to embed the ~35,000 upstream training texts;
- training: `fit` with the e2c recipe (no early stopping) on the project's data, embedded on the CPU through the
  cache so that every device trains on the same vectors: seconds per epoch and the best validation loss, per seed;
- generation: one prompt through the shipped generator at temperature 0 (median of 20, ms).
On an accelerator it also says how far its results are from the CPU's (largest absolute difference of the
MiniLM embeddings, and of the raw palettes of the nine class prompts). The figures carry the device's name and the
load average. `main` returns them as a dict; --json prints it at the end.
"""
import argparse, dataclasses, os, time
import numpy as np
from benchtools import timed, median_time, load_average, print_json

UPSTREAM_TEXTS = 35_000      # the upstream EmotionsToColor training split, roughly (the figure)

def _sync(dev):
    import torch
    if dev.startswith('cuda'): torch.cuda.synchronize()
    elif dev == 'mps': torch.mps.synchronize()

def minilm_figures(dev, texts):
    "Texts/s of MiniLM on `dev` over `texts`, one-sentence latency, and its embeddings."
    from e2c.encoders import MiniLMEncoder
    enc = MiniLMEncoder(device=dev)
    enc.encode(texts[:8], progress=False); _sync(dev)                      # load and warm up
    t, emb = timed(lambda: enc.encode(texts, progress=False)); _sync(dev)
    one, _ = median_time(lambda: enc.encode('a calm morning by the sea', progress=False), 20)
    return dict(texts=len(texts), texts_per_s=len(texts) / t, one_sentence_ms=1e3 * one), emb

def clip_figures(dev, prompts):
    "CLIP ViT-B-32 (untrained weights) on `dev`: one prompt, per prompt in a batch, and the upstream set extrapolated."
    from e2c.encoders import ClipEncoder
    enc = ClipEncoder(pretrained=None, device=dev)
    build, _ = timed(lambda: enc.encode('warm up', progress=False))
    one, _ = median_time(lambda: (enc.encode('a calm morning by the sea', progress=False), _sync(dev)), 5)
    batch, _ = median_time(lambda: (enc.encode(prompts, progress=False), _sync(dev)), 3)
    per = batch / len(prompts)
    return dict(build_s=build, one_prompt_ms=1e3 * one, batch=len(prompts), per_prompt_in_batch_ms=1e3 * per,
                upstream_texts=UPSTREAM_TEXTS, upstream_min=UPSTREAM_TEXTS * per / 60)

def train_figures(dev, prep, epochs, seeds):
    "Seconds per epoch and best validation loss of the e2c recipe on `dev`, per seed."
    from e2c.train import RECIPES, fit
    runs = []
    for seed in range(seeds):
        cfg = dataclasses.replace(RECIPES['e2c'], epochs=epochs, patience=None, seed=seed)
        t, (m, h) = timed(lambda: fit(prep.tr, prep.va, cfg, progress=False, device=dev))
        runs.append(dict(seed=seed, s_per_epoch=t / epochs, best_val=min(r['val_recon'] for r in h)))
    return dict(recipe='e2c', epochs=epochs, train_rows=len(prep.tr), runs=runs)

def generate_figures(dev):
    "Median latency of one prompt through the shipped generator on `dev`, and its raw class palettes."
    from e2c.generate import load_generator
    from e2c.circumplex import CLASSES
    gen = load_generator(device=dev)
    gen.generate('warm up', temperature=0)
    p50, _ = median_time(lambda: gen.generate('a calm morning by the sea', temperature=0), 20)
    return dict(one_prompt_ms=1e3 * p50), gen.predict_oklab(CLASSES)

def main(device='auto', texts=4096, clip_prompts=64, epochs=10, seeds=1, clip=True):
    import torch
    from e2c.device import resolve_device, device_name, using_device
    from e2c.train import prepare
    dev = resolve_device(device)
    with torch.random.fork_rng(devices=[]):     # fit seeds torch's global generator: leave it as it was
        with using_device('cpu'): prep = prepare(verbose=False)    # the same vectors for every device (through the cache)
        xs = list(dict.fromkeys(prep.train.texts))[:texts]
        res = dict(device=device_name(dev), load_average=load_average(), cpu_threads=torch.get_num_threads())
        res['minilm'], emb = minilm_figures(dev, xs)
        res['clip'] = clip_figures(dev, [f'a palette for {x}' for x in xs[:clip_prompts]]) if clip else None
        res['train'] = train_figures(dev, prep, epochs, seeds)
        res['generate'], pal = generate_figures(dev)
        if dev != 'cpu':                        # agreement with the CPU
            cpu_emb = minilm_figures('cpu', xs[:256])[1]
            res['vs_cpu'] = dict(minilm_max_abs=float(np.abs(emb[:256] - cpu_emb).max()),
                                 palette_max_abs=float(np.abs(pal - generate_figures('cpu')[1]).max()))
        res['load_average_after'] = load_average()
    return res

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='auto', help='auto (default), cpu, cuda, cuda:N or mps')
    p.add_argument('--texts', type=int, default=4096, help='training texts MiniLM embeds (default 4096)')
    p.add_argument('--clip-prompts', type=int, default=64, help='prompts of the CLIP batch (default 64)')
    p.add_argument('--epochs', type=int, default=10, help='epochs of each training run (default 10)')
    p.add_argument('--seeds', type=int, default=1, help='training runs, seeds 0..N-1 (default 1)')
    p.add_argument('--no-clip', action='store_true', help='skip the CLIP figures')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.device, a.texts, a.clip_prompts, a.epochs, a.seeds, not a.no_clip)
    m, t = res['minilm'], res['train']
    print(f"device {res['device']}; load average {res['load_average']} before, {res['load_average_after']} after")
    print(f"MiniLM: {m['texts_per_s']:,.0f} texts/s over {m['texts']:,} texts; one sentence {m['one_sentence_ms']:.1f} ms")
    if (c := res['clip']):
        print(f"CLIP ViT-B-32: one prompt {c['one_prompt_ms']:.1f} ms; {c['per_prompt_in_batch_ms']:.2f} ms a prompt in a batch "
              f"of {c['batch']}; {c['upstream_texts']:,} texts: {c['upstream_min']:.1f} min")
    for r in t['runs']: print(f"fit ({t['recipe']}, {t['train_rows']:,} rows), seed {r['seed']}: {r['s_per_epoch']:.3f} s/epoch, best val {r['best_val']:.5f}")
    print(f"generate, one prompt: {res['generate']['one_prompt_ms']:.1f} ms")
    if 'vs_cpu' in res: print(f"vs CPU: embeddings within {res['vs_cpu']['minilm_max_abs']:.2e}, raw palettes within {res['vs_cpu']['palette_max_abs']:.2e}")
    if a.json: print_json(res)
