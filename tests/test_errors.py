"""Every surface fails clearly (issue #20, items 4, 5 and 8): faults of the environment on real file systems, and
requests without bound, each one line on stderr that names the input and what to do, exit status 2, no traceback.

The commands are called in this process (their argument handling is what is tested; `tests/test_cli.py` runs the
real processes). A full disk and a read-only folder are real tmpfs mounts: they need root, and are skipped where
mounting is not allowed."""
import contextlib, errno, os, subprocess, sys
from pathlib import Path
import pytest
from e2c.generate import e2c_palette_cli
from e2c.recipes import e2c_train
from e2c.checkpoint import read_model

def one_line(err:str, says:str):
    assert err.count('\n') == 1 and 'Traceback' not in err and says in err, err

# --- e2c-palette: requests without bound and text the tokenizer cannot take, through the console entry point ---

@pytest.mark.parametrize('argv, says', [
    ([os.fsdecode(b'caf\xe9 au lait')], 'prompt 0 is not valid UTF-8 text (the byte 0xe9 at character 3)'),
    (['sad', '--n', '100000'], '--n must be a positive integer of at most 10,000'),
    (['sad', '--n', '1000000'], '--n must be a positive integer of at most 10,000'),
    (['sad', '--temperature', 'inf'], '--temperature must be ≥ 0 and at most 10'),
    (['sad', '--temperature', '1e308'], '--temperature must be ≥ 0 and at most 10'),
    (['sad', '--temperature', 'nan'], '--temperature must be'),
    (['sad', '--seed', '-1'], '--seed must be an integer ≥ 0'),
])
def test_palette_refuses_at_the_door(argv, says, monkeypatch, capsys):
    "os.fsdecode gives the prompt exactly as Python passes undecodable bytes of sys.argv (surrogateescape)."
    monkeypatch.setattr(sys, 'argv', ['e2c-palette', *argv])
    with pytest.raises(SystemExit) as e: e2c_palette_cli()
    out, err = capsys.readouterr()
    assert e.value.code == 2 and out == ''
    one_line(err, says); assert err.startswith('e2c-palette: error: ')

# --- e2c-train: faults of the environment ---

def train(capsys, **kw):
    rc = e2c_train.__wrapped__(**{'epochs': 1, 'quiet': True, **kw})
    return rc, capsys.readouterr().err

def test_train_refuses_an_out_in_a_read_only_folder(mounted_tmpfs, tmp_path, capsys):
    "Refused before any data is loaded (a read-only mount for root, who may write any folder; a 0555 folder otherwise)."
    if os.geteuid() == 0: ctx = mounted_tmpfs(tmp_path / 'ro', 'ro,size=64k')
    else: (tmp_path / 'ro').mkdir(); (tmp_path / 'ro').chmod(0o555); ctx = contextlib.nullcontext(tmp_path / 'ro')
    with ctx as ro:
        rc, err = train(capsys, out=str(ro / 'sub' / 'm.safetensors'))
    assert rc == 2; one_line(err, f'the folder {ro} cannot be written (read-only, or not yours)')

def test_train_with_clip_offline_is_one_line(tmp_path, capsys, monkeypatch):
    "No CLIP weights in the (empty) Hugging Face cache and HF_HUB_OFFLINE: one line, and the offline way out."
    import huggingface_hub.constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path / 'hf'))
    rc, err = train(capsys, encoder='clip', out=str(tmp_path / 'm.safetensors'))
    assert rc == 2, err
    one_line(err, "e2c-train: error: --encoder clip: CLIP weights 'ViT-B-32'/'openai' are not in the local Hugging Face cache")
    assert 'HF_HUB_OFFLINE is set' in err and 'Use --encoder minilm' in err
    assert list(tmp_path.iterdir()) == []

def test_train_on_a_full_disk_is_one_line_and_keeps_the_checkpoint(mounted_tmpfs, tmp_path, capsys, monkeypatch):
    """A real tmpfs just large enough for the checkpoint, not for the training state after it: the run stops with one line,
    and the checkpoint already written loads. The training itself is the real `fit`, on small synthetic tensors."""
    import torch, e2c.recipes
    from e2c.train import TrainConfig, fit, synthetic_tensors
    tr, va = synthetic_tensors(256, 16, 0), synthetic_tensors(64, 16, 1)
    cfg = TrainConfig(epochs=2, hidden=64, head_hidden=16, bs=64)
    def fake_train_model(*a, out=None, **kw): return fit(tr, va, cfg, out=out, progress=False)
    fit(tr, va, cfg, out=tmp_path / 'probe.safetensors', progress=False)       # the sizes the two files take
    ck, st = (tmp_path / 'probe.safetensors').stat().st_size, (tmp_path / 'probe.state.safetensors').stat().st_size
    assert st > ck
    monkeypatch.setattr(e2c.recipes, 'train_model', fake_train_model)
    with mounted_tmpfs(tmp_path / 'full', f'size={(ck + st // 2) // 4096 * 4096 + 4096}') as mnt:
        out = mnt / 'm.safetensors'
        rc, err = train(capsys, out=str(out))
        assert rc == 2
        one_line(err, f'No space left on device (training to --out {out}); free some space and run again with --resume')
        tensors, meta = read_model(out)                                       # the checkpoint is whole
        assert meta['best_epoch'] == 0
        assert sorted(p.name for p in mnt.iterdir()) == ['m.safetensors']    # no temporary file left behind

def test_palette_with_a_clip_checkpoint_offline_is_one_line(tmp_path, capsys, monkeypatch):
    "A checkpoint trained on CLIP embeddings, no CLIP weights here and HF_HUB_OFFLINE: one line (long: it says what to do)."
    import huggingface_hub.constants
    from e2c.generate import e2c_palette
    from e2c.model import Text2Palette
    from e2c.checkpoint import save_model
    save_model(tmp_path / 'clip.safetensors', Text2Palette(512, 32, 8), 'clip-vit-b-32-openai')
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path / 'hf'))
    rc = e2c_palette.__wrapped__(prompt='sad', checkpoint=str(tmp_path / 'clip.safetensors'))
    out, err = capsys.readouterr()
    assert rc == 2 and out == ''
    one_line(err, "e2c-palette: error: CLIP weights 'ViT-B-32'/'openai' are not in the local Hugging Face cache")
    assert 'HF_HUB_OFFLINE is set' in err and "get_encoder('minilm')" in err
