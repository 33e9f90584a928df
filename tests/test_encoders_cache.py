"""The embedding cache of e2c.encoders across process boundaries: a cache written by one process and read by
another, a damaged file found by a new process, writers running at once, and a writer killed mid-write.

Every test runs real Python processes on a real cache folder under pytest's tmp_path."""
import hashlib, json, os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest
from e2c.cache import EmbeddingCache, _read_table, encode_cached, text_key

TEXTS = ['sad', 'depressed', 'elated', 'a calm morning by the sea', 'sad', '😢 so sad', 'nervous and tense']

# A cheap deterministic encoder for the tests of the cache's own machinery (locking, merging, kills):
# the real MiniLM is used where embeddings travel between processes.
HASH_ENCODER = '''
import hashlib, numpy as np
from e2c.encoders import TextEncoder
class HashEncoder(TextEncoder):
    id, dim, max_tokens = 'hash-test', 8, 10**9
    def _n_tokens(self, texts): return [1] * len(texts)
    def _embed(self, texts):
        return np.stack([np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) + 1. for t in texts])
'''

def hash_vec(t):
    v = np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) + 1.
    return (v / np.linalg.norm(v)).astype(np.float32)

def py(code, cache, *, wait=True, timeout=300):
    "Run `code` in a new Python process whose default cache folder is `cache`; its stdout and stderr, or the process."
    env = {**os.environ, 'E2C_CACHE': str(cache), 'PYTHONWARNINGS': 'always'}
    args = [sys.executable, '-c', textwrap.dedent(code)]
    if not wait: return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout, r.stderr

MINILM_RUN = '''
import json, sys, numpy as np
from e2c.encoders import MiniLMEncoder
from e2c.cache import encode_cached, default_cache
class Counting(MiniLMEncoder):
    seen = []
    def _embed(self, texts): self.seen += texts; return super()._embed(texts)
enc = Counting()
e = encode_cached(enc, json.loads(sys.argv[1]) if len(sys.argv) > 1 else TEXTS)
np.save(OUT, e)
c = default_cache()
print(json.dumps(dict(seen=enc.seen, hits=c.hits, misses=c.misses, file=str(c.file(enc.id)))))
'''

def minilm_run(cache, out):
    code = f"TEXTS = {TEXTS!r}\nOUT = {str(out)!r}\n" + MINILM_RUN
    stdout, stderr = py(code, cache)
    return json.loads(stdout.strip().splitlines()[-1]), np.load(out), stderr

def test_minilm_cache_crosses_processes_and_a_damaged_file_is_recomputed(tmp_path):
    cache = tmp_path / 'cache'
    # process 1: an empty cache, so every distinct text is embedded once
    r1, e1, _ = minilm_run(cache, tmp_path / 'e1.npy')
    assert sorted(r1['seen']) == sorted(set(TEXTS)) and (r1['hits'], r1['misses']) == (0, 6)
    assert e1.shape == (7, 384) and e1.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(e1[0], e1[4])
    # process 2: everything comes from the file written by process 1, bit for bit, and nothing is embedded
    r2, e2, err2 = minilm_run(cache, tmp_path / 'e2.npy')
    assert r2['seen'] == [] and (r2['hits'], r2['misses']) == (6, 0)
    np.testing.assert_array_equal(e2, e1)
    assert 'EmbeddingCacheWarning' not in err2
    # the file cut short, as by an interrupted copy: process 3 warns, naming it, recomputes and rewrites it
    f = Path(r1['file'])
    f.write_bytes(f.read_bytes()[:f.stat().st_size - 1000])
    r3, e3, err3 = minilm_run(cache, tmp_path / 'e3.npy')
    assert 'EmbeddingCacheWarning' in err3 and str(f) in err3 and 'truncated' in err3, err3
    assert sorted(r3['seen']) == sorted(set(TEXTS)) and (r3['hits'], r3['misses']) == (0, 6)
    np.testing.assert_allclose(e3, e1, atol=1e-6)
    keys, emb = _read_table(f, 'minilm-l6-v2', 384)
    assert len(keys) == 6
    # and this process reads the rewritten file without a warning or a model
    rows, found = EmbeddingCache(cache).get('minilm-l6-v2', 384, [text_key(t) for t in TEXTS])
    assert found.all()
    np.testing.assert_allclose(rows, e1, atol=1e-6)

def test_concurrent_writers_lose_nothing(tmp_path):
    cache = tmp_path / 'cache'
    n_proc, rounds, per_round = 4, 15, 40
    code = HASH_ENCODER + '''
import sys
from e2c.cache import encode_cached
enc, p = HashEncoder(), int(sys.argv[1])
for r in range(ROUNDS):
    encode_cached(enc, [f'p{p} r{r} t{i}' for i in range(PER)] + ['shared text'])
'''.replace('ROUNDS', str(rounds)).replace('PER', str(per_round))
    env = {**os.environ, 'E2C_CACHE': str(cache)}
    procs = [subprocess.Popen([sys.executable, '-c', code, str(p)], env=env, stderr=subprocess.PIPE, text=True)
             for p in range(n_proc)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        assert 'EmbeddingCacheWarning' not in err, err
    texts = [f'p{p} r{r} t{i}' for p in range(n_proc) for r in range(rounds) for i in range(per_round)] + ['shared text']
    keys, emb = _read_table(cache / 'hash-test.safetensors', 'hash-test', 8)
    assert len(keys) == len(texts)  # every process's rows survived the others' rewrites, and 'shared text' is there once
    rows, found = EmbeddingCache(cache).get('hash-test', 8, [text_key(t) for t in texts])
    assert found.all()
    np.testing.assert_allclose(rows, np.stack([hash_vec(t) for t in texts]), atol=1e-6)
    assert sorted(p.name for p in cache.iterdir()) == ['hash-test.safetensors']

def test_a_writer_killed_mid_write_leaves_the_old_file_intact(tmp_path):
    cache = tmp_path / 'cache'
    py(HASH_ENCODER + "from e2c.cache import encode_cached\nencode_cached(HashEncoder(), ['first', 'second'])", cache)
    f = cache / 'hash-test.safetensors'
    before = f.read_bytes()
    # a writer that stops for good inside fsync, after its temporary file is written, and is then killed
    code = HASH_ENCODER + '''
import os, sys, time
def stuck(fd): print('in fsync', flush=True); time.sleep(600)
os.fsync = stuck
from e2c.cache import encode_cached
encode_cached(HashEncoder(), ['third'])
'''
    p = py(code, cache, wait=False)
    try:
        assert p.stdout.readline().strip() == 'in fsync', p.stderr.read()
        tmps = [q for q in cache.iterdir() if q.name.endswith('.tmp')]
        assert len(tmps) == 1 and tmps[0].name.startswith('.hash-test.safetensors.')
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None: p.kill(); p.wait()
        p.stdout.close(); p.stderr.close()
    assert f.read_bytes() == before  # readers still see the complete old file
    stdout, stderr = py(HASH_ENCODER + '''
from e2c.cache import encode_cached, default_cache
e = encode_cached(HashEncoder(), ['first', 'second', 'third'])
print(default_cache().hits, default_cache().misses)
''', cache)
    assert stdout.split() == ['2', '1'] and 'Warning' not in stderr, (stdout, stderr)
    # the killed writer's lock died with it, and its temporary file was removed by the next writer
    assert sorted(q.name for q in cache.iterdir()) == ['hash-test.safetensors']
    keys, emb = _read_table(f, 'hash-test', 8)
    np.testing.assert_allclose(emb, np.stack([hash_vec(t) for t in ['first', 'second', 'third']]), atol=1e-6)

def test_a_file_of_another_encoder_is_not_trusted(tmp_path):
    cache = tmp_path / 'cache'
    py(HASH_ENCODER + "from e2c.cache import encode_cached\nencode_cached(HashEncoder(), ['calm'])", cache)
    (cache / 'hash-test.safetensors').rename(cache / 'hash-other.safetensors')
    stdout, stderr = py(HASH_ENCODER + '''
from e2c.cache import encode_cached, default_cache
class Other(HashEncoder): id = 'hash-other'
encode_cached(Other(), ['calm'])
print(default_cache().misses)
''', cache)
    assert stdout.split() == ['1']
    assert "embeddings of encoder 'hash-test', expected 'hash-other'" in stderr, stderr
    _read_table(cache / 'hash-other.safetensors', 'hash-other', 8)  # rewritten, now for the right encoder

# --- A cache that cannot be written: real file systems (a full tmpfs, a read-only mount), in this process ---
import contextlib, warnings
from e2c.cache import EmbeddingCacheWarning

def hash_encoder():
    ns = {}; exec(HASH_ENCODER, ns); return ns['HashEncoder']()

def encode_warned(enc, texts, cache):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        e = encode_cached(enc, texts, cache)
    return e, [str(w.message) for w in ws if issubclass(w.category, EmbeddingCacheWarning)]

def test_a_full_disk_warns_and_returns_the_embeddings(mounted_tmpfs, tmp_path):
    "A 64 KiB tmpfs: 3,000 texts need about 190 KiB, so the write fails with ENOSPC; the embeddings come back all the same."
    texts = [f'text {i}' for i in range(3000)]
    with mounted_tmpfs(tmp_path / 'full', 'size=64k') as mnt:
        e, msgs = encode_warned(hash_encoder(), texts, EmbeddingCache(mnt / 'e2c'))
        assert len(msgs) == 1 and 'No space left on device' in msgs[0] and 'carrying on' in msgs[0], msgs
        assert str(mnt / 'e2c' / 'hash-test.safetensors') in msgs[0]
        assert [p.name for p in (mnt / 'e2c').iterdir()] == []          # no temporary file left behind
    np.testing.assert_allclose(e, np.stack([hash_vec(t) for t in texts]), rtol=1e-6)

def test_a_read_only_cache_is_read_and_not_written(mounted_tmpfs, tmp_path):
    "A cache written, then mounted read-only: its rows are served, the new ones computed, one warning."
    enc = hash_encoder()
    with mounted_tmpfs(tmp_path / 'ro', 'size=1m') as mnt:
        encode_cached(enc, TEXTS[:3], EmbeddingCache(mnt))
        subprocess.run(['mount', '-o', 'remount,ro', str(mnt)], check=True)
        c = EmbeddingCache(mnt)
        e, msgs = encode_warned(enc, TEXTS, c)
        assert (c.hits, c.misses) == (3, 3), (c.hits, c.misses)
        assert len(msgs) == 1 and 'Read-only file system' in msgs[0], msgs
        e2, msgs2 = encode_warned(enc, TEXTS[:3], EmbeddingCache(mnt))    # nothing new to write: silent
        assert msgs2 == []
    np.testing.assert_allclose(e, np.stack([hash_vec(t) for t in TEXTS]), rtol=1e-6)

def test_a_cache_path_under_a_file_warns(tmp_path):
    (tmp_path / 'afile').write_text('x')
    e, msgs = encode_warned(hash_encoder(), TEXTS, EmbeddingCache(tmp_path / 'afile' / 'e2c'))
    assert len(msgs) == 1 and 'Not a directory' in msgs[0], msgs
    np.testing.assert_allclose(e, np.stack([hash_vec(t) for t in TEXTS]), rtol=1e-6)

def test_training_data_are_prepared_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    "The step of a training run that embeds the data: with the cache folder under a file it warns once and goes on."
    from e2c.train import prepare
    (tmp_path / 'afile').write_text('x')
    monkeypatch.setenv('E2C_CACHE', str(tmp_path / 'afile' / 'e2c'))
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        prep = prepare(hash_encoder(), ['e2c_val'], verbose=False)
    msgs = [str(w.message) for w in ws if issubclass(w.category, EmbeddingCacheWarning)]
    assert len(msgs) == 1 and 'carrying on' in msgs[0], msgs
    assert prep.tr.emb.shape == (len(prep.train), 8) and len(prep.va) > 0
    np.testing.assert_allclose(prep.tr.emb[0].numpy(), hash_vec(prep.train.texts[0]), rtol=1e-6)
