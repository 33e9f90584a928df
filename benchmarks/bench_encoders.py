"""Benchmark of e2c.encoders (a script that prints, not a test).

    python benchmarks/bench_encoders.py [--data DIR] [--limit N] [--batch-size 256] [--runs 5] [--no-clip] [--progress]
                                        [--pandas] [--json]

MiniLM on the training texts (~16.4k: `e2c.data.load_sources().texts` where it works, else, read with pandas,
~16.8k: the `text` column of emotionstocolor/val.csv, "color palette: " + the
`tags` of emotionstocolor/palettes_tagged.csv, and the space-joined `text_input` token lists of
pat/palette_and_text_{train,val}.csv): texts/s with an empty cache (cold: every distinct text embedded and the
cache file written) and with the warm cache (a new EmbeddingCache object that reads the file from disk, and
the same object again, in memory), and their ratio; the load time and one-sentence latency of MiniLM.
Then CLIP ViT-B-32 built without weights (build time, one prompt, per prompt in a batch) and the time the
reference weights take to fail where they cannot be had.

The data folder is --data, else $E2C_DATA, else the repository's data/ (where the data is committed).
The cache goes to a temporary folder that is removed afterwards. `main` returns the figures as a dict;
--json prints it at the end.
"""
import argparse, ast, os, shutil, tempfile, time
from pathlib import Path
import numpy as np
from benchtools import timed, median_time, jsonable, print_json

REPO = Path(__file__).resolve().parents[1]
FILES = ['emotionstocolor/val.csv', 'emotionstocolor/palettes_tagged.csv',
         'pat/palette_and_text_train.csv', 'pat/palette_and_text_val.csv']

def data_dir(arg=None) -> Path:
    for d in (arg, os.environ.get('E2C_DATA'), REPO / 'data'):
        if d and all((Path(d) / f).is_file() for f in FILES): return Path(d)
    raise SystemExit(f"no data folder with {FILES}: pass --data or set E2C_DATA")

def from_e2c_data(data: Path):
    "The texts of `e2c.data.load_sources()` on `data`, or why not."
    old = os.environ.get('E2C_DATA')
    try:
        os.environ['E2C_DATA'] = str(data)
        from e2c.data import load_sources
        texts = list(load_sources(verbose=False).texts)
    except Exception as e: return None, f"{type(e).__name__}: {e}"
    finally:                                      # leave the environment as it was (main may run inside another program)
        if old is None: os.environ.pop('E2C_DATA', None)
        else: os.environ['E2C_DATA'] = old
    if not texts or not all(isinstance(t, str) for t in texts): return None, 'no texts'
    return texts, None

def load_texts(data: Path, pandas=False):
    "The training texts, and where they came from: e2c.data where it works (unless `pandas`), else pandas on the CSV files."
    texts, why = (None, 'pandas asked for') if pandas else from_e2c_data(data)
    if texts: return texts, 'e2c.data.load_sources'
    import pandas as pd
    val = pd.read_csv(data / FILES[0])['text'].tolist()
    tags = ('color palette: ' + pd.read_csv(data / FILES[1])['tags'].astype(str)).tolist()
    pat = [' '.join(ast.literal_eval(s)) for f in FILES[2:] for s in pd.read_csv(data / f)['text_input']]
    return val + tags + pat, f'pandas (e2c.data not used: {why[:80]})'

def main(data=None, limit=0, batch_size=256, runs=5, clip=True, progress=False, pandas=False):
    import torch
    with torch.random.fork_rng(devices=[]):     # building a model may draw from torch's global generator: restore it
        return _main(data, limit, batch_size, runs, clip, progress, pandas)

def _main(data, limit, batch_size, runs, clip, progress, pandas):
    data = data_dir(data)
    texts, src = load_texts(data, pandas)
    if limit: texts = texts[:limit]
    print(f"texts: {len(texts):,} ({len(set(texts)):,} distinct) from {data} via {src}")
    res = dict(texts=dict(n=len(texts), distinct=len(set(texts)), data=str(data), source=src))

    t0 = time.perf_counter()
    from e2c.encoders import MiniLMEncoder, ClipEncoder
    from e2c.cache import EmbeddingCache, encode_cached
    enc = MiniLMEncoder(); enc.model
    t_load = time.perf_counter() - t0
    enc.encode('warm up')
    t1 = median_time(lambda: enc.encode('a calm morning by the sea'), 20)[0]
    print(f"MiniLM: import and load {t_load:.2f} s; one sentence {t1 * 1e3:.1f} ms (median of 20)")
    res['minilm'] = dict(load_s=t_load, one_sentence_ms=t1 * 1e3)

    tmp = Path(tempfile.mkdtemp(prefix='e2c-bench-'))
    try:
        cache = EmbeddingCache(tmp)
        t_cold, cold = timed(lambda: encode_cached(enc, texts, cache, batch_size=batch_size, progress=progress))
        size = cache.file(enc.id).stat().st_size
        print(f"cold (empty cache): {t_cold:.2f} s = {len(texts) / t_cold:,.0f} texts/s "
              f"({cache.misses:,} embedded; cache file {size / 2**20:.1f} MiB)")
        warm = []
        def fresh():
            c = EmbeddingCache(tmp); warm.append((encode_cached(enc, texts, c), c.misses))
        t_warm = median_time(fresh, runs)[0]
        assert all(m == 0 for _, m in warm), 'the warm cache embedded texts'
        t_mem = median_time(lambda: encode_cached(enc, texts, cache), runs)[0]
        print(f"warm (new cache object, file read from disk): {t_warm * 1e3:.1f} ms = {len(texts) / t_warm:,.0f} texts/s (median of {runs})")
        print(f"warm (same cache object, in memory):          {t_mem * 1e3:.1f} ms = {len(texts) / t_mem:,.0f} texts/s (median of {runs})")
        print(f"ratio cold / warm from disk: {t_cold / t_warm:,.0f}x; cold / warm in memory: {t_cold / t_mem:,.0f}x")
        diff = float(np.abs(warm[-1][0] - cold).max())
        print(f"max |warm - cold| = {diff:.2e}")
        res['cache'] = dict(batch_size=batch_size, runs=runs, cold_s=t_cold, cold_texts_per_s=len(texts) / t_cold,
                            embedded=cache.misses, cache_file_mib=size / 2**20,
                            warm_disk_ms=t_warm * 1e3, warm_disk_texts_per_s=len(texts) / t_warm,
                            warm_memory_ms=t_mem * 1e3, warm_memory_texts_per_s=len(texts) / t_mem,
                            ratio_cold_warm_disk=t_cold / t_warm, ratio_cold_warm_memory=t_cold / t_mem,
                            warm_disk_embedded=warm[-1][1], max_diff_warm_cold=diff)
    finally: shutil.rmtree(tmp)

    res['clip'] = None
    if not clip: return jsonable(res)
    t_fail, err = timed(lambda: _try(ClipEncoder))
    print(f"CLIP ViT-B-32 'openai': {type(err).__name__ if err else 'available'} after {t_fail:.3f} s"
          + (f" ({str(err).splitlines()[0][:140]}...)" if err else ''))
    t_build, _ = timed(lambda: ClipEncoder(pretrained=None).net)
    ce = ClipEncoder(pretrained=None)
    ce.encode('warm up')
    tc1 = median_time(lambda: ce.encode('a calm morning by the sea'), 10)[0]
    prompts = texts[:256]
    tcb = median_time(lambda: ce.encode(prompts, progress=False), 3)[0]
    print(f"CLIP ViT-B-32 without weights: build {t_build:.2f} s; one prompt {tc1 * 1e3:.1f} ms (median of 10); "
          f"batch of {len(prompts)}: {tcb / len(prompts) * 1e3:.1f} ms per prompt = {len(prompts) / tcb:,.0f} texts/s (median of 3)")
    res['clip'] = dict(reference_weights=type(err).__name__ if err else 'available',
                       reference_error=str(err).splitlines()[0] if err else None, reference_s=t_fail,
                       build_s=t_build, one_prompt_ms=tc1 * 1e3, batch=len(prompts),
                       per_prompt_ms=tcb / len(prompts) * 1e3, batch_texts_per_s=len(prompts) / tcb)
    return jsonable(res)

def _try(f):
    from e2c.encoders import ClipWeightsUnavailable
    try: f()
    except ClipWeightsUnavailable as e: return e
    return None

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', help="data folder (default: $E2C_DATA, else the repository's data/)")
    p.add_argument('--limit', type=int, default=0, help='use only the first N texts (0: all)')
    p.add_argument('--batch-size', type=int, default=256, help='texts per forward pass')
    p.add_argument('--runs', type=int, default=5, help='timed runs of the warm cache (the median is printed)')
    p.add_argument('--no-clip', action='store_true', help='skip the CLIP figures')
    p.add_argument('--progress', action='store_true', help='show a progress bar while encoding')
    p.add_argument('--pandas', action='store_true', help='read the four CSV files with pandas even where e2c.data works')
    p.add_argument('--json', action='store_true', help='print the figures as JSON at the end')
    a = p.parse_args()
    res = main(a.data, a.limit, a.batch_size, a.runs, not a.no_clip, a.progress, a.pandas)
    if a.json: print_json(res)
