"""Devices (e2c.device): the CPU path needs no torch; a device this machine does not have is a one-line error with exit
status 2 from every command that runs torch; and where a CUDA GPU or Apple MPS exists, encoding, inference and
checkpoints agree with the CPU and training lands within the CPU's seed-to-seed spread. The accelerator tests are
skipped with the reason on a machine without one, never passed without running."""
import contextlib, dataclasses, io, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get('PYTHONPATH')) if p))
HAVE = {'cuda': torch.cuda.is_available(), 'mps': torch.backends.mps.is_available()}
WHY = {'cuda': 'no CUDA GPU on this machine (torch.cuda.is_available() is False)',
       'mps': 'no Apple MPS on this machine (torch.backends.mps.is_available() is False)'}
ACCELERATORS = [pytest.param(d, marks=pytest.mark.skipif(not HAVE[d], reason=WHY[d])) for d in ('cuda', 'mps')]

def test_cpu_needs_no_torch():
    "Resolving the CPU, and `auto` for a torch-free caller, does not import torch (a fresh process, to be sure)."
    code = ("import sys; from e2c.device import resolve_device, using_device\n"
            "with using_device('cpu') as d: r = [d, resolve_device('auto', torch_free=True)]\n"
            "print(*r, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ['cpu', 'cpu', 'False']

# --- an unavailable or malformed device: one line on stderr, exit status 2, from every command -------------------

def _absent(d):
    if d != 'gpu7' and HAVE[d.split(':')[0]]: pytest.skip(f'{d} is available on this machine: there is nothing to refuse')
    return d

def _palette(args):
    from e2c.generate import e2c_palette_cli
    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ['e2c-palette', *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: e2c_palette_cli(); rc = 0
            except SystemExit as e: rc = e.code
    finally: sys.argv = argv
    return rc, out.getvalue(), err.getvalue()

def _call(f, **kw):
    "rc, stdout, stderr of a command's function called in this process."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = f(**kw)
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()

def _commands(d, tmp):
    from e2c.recipes import e2c_train
    from e2c.evaluate import e2c_eval
    from e2c.bridge import e2c_bridge
    return {'e2c-palette': lambda: _palette(['--device', d, 'sad and depressed']),
            'e2c-train': lambda: _call(e2c_train.__wrapped__, device=d, epochs=1, out=str(tmp / 'm.safetensors'), quiet=True),
            'e2c-eval': lambda: _call(e2c_eval.__wrapped__, device=d, out=str(tmp), figures=str(tmp), no_ablation=True, quiet=True),
            'e2c-bridge': lambda: _call(e2c_bridge, device=d, listen_port=0, duration=0.01)}

MESSAGES = {'cuda': "device 'cuda' is not available", 'mps': "device 'mps' is not available", 'cuda:7': "device 'cuda:7' is not available",
            'gpu7': "unknown device 'gpu7'"}

@pytest.mark.parametrize('device', list(MESSAGES))
def test_unavailable_device_is_one_line_exit_2(device, tmp_path):
    d = _absent(device)
    if d == 'cuda:7' and torch.cuda.device_count() > 7: pytest.skip('this machine has a GPU cuda:7')
    for name, run in _commands(d, tmp_path).items():
        rc, out, err = run()
        assert rc == 2 and out == '', (name, rc, out, err)
        assert 'Traceback' not in err, (name, err[-1500:])
        (line,) = err.strip().splitlines()
        assert line.startswith(f'{name}: error: ') and MESSAGES[device] in line, (name, line)
        assert not list(tmp_path.iterdir()), f'{name} wrote files before refusing the device'

def test_unavailable_device_from_the_console_script():
    "The installed entry point, in its own process: exit status 2 and one line, before any model is loaded."
    d = 'mps' if not HAVE['mps'] else 'gpu7'
    r = subprocess.run(['e2c-palette', '--device', d, 'sad and depressed'], capture_output=True, text=True, env=ENV, timeout=300)
    assert (r.returncode, r.stdout) == (2, ''), r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith('e2c-palette: error: ') and (MESSAGES[d] in line), line

def test_device_reported_on_stderr_only():
    "A palette run says which device ran on stderr; stdout stays the five hex codes."
    from e2c.device import device_name, resolve_device
    rc, out, err = _palette(['--device', 'cpu', '--temperature', '0', 'sad and depressed'])
    assert rc == 0, err
    assert len(out.split()) == 5 and all(h.startswith('#') for h in out.split())
    assert err == 'e2c-palette: device cpu\n'
    rc, out2, err = _palette(['--temperature', '0', 'sad and depressed'])        # auto
    assert err == f'e2c-palette: device {device_name(resolve_device("auto"))}\n'
    if resolve_device('auto') == 'cpu': assert out2 == out

# --- on an accelerator: the same results as the CPU -----------------------------------------------------------------

PROMPTS = ['sad and depressed', 'a calm morning by the sea', 'furious about the traffic', 'elated and happy',
           'muted earthy tones', '😢 so sad', 'nervous before the exam', 'bored on a rainy sunday']

@pytest.mark.parametrize('device', ACCELERATORS)
def test_encoders_agree_with_cpu(device):
    from e2c.encoders import MiniLMEncoder, ClipEncoder
    a, b = MiniLMEncoder(device='cpu').encode(PROMPTS), MiniLMEncoder(device=device).encode(PROMPTS)
    assert np.abs(a - b).max() < 1e-4
    a, b = ClipEncoder(pretrained=None, device='cpu').encode(PROMPTS), ClipEncoder(pretrained=None, device=device).encode(PROMPTS)
    assert np.abs(a - b).max() < 1e-3

@pytest.mark.parametrize('device', ACCELERATORS)
def test_inference_agrees_with_cpu(device):
    from e2c.generate import load_generator
    from e2c.circumplex import CLASSES
    cpu, acc = load_generator(device='cpu'), load_generator(device=device)
    assert acc.device.startswith(device) and cpu.device == 'cpu'
    assert np.abs(cpu.predict_oklab(CLASSES + PROMPTS) - acc.predict_oklab(CLASSES + PROMPTS)).max() < 1e-4
    assert np.abs(cpu.generate_many(PROMPTS, temperature=0)[0].oklab - acc.generate_many(PROMPTS, temperature=0)[0].oklab).max() < 1e-4
    assert np.abs(cpu.model.class_palettes() - acc.model.class_palettes()).max() < 1e-5

@pytest.mark.parametrize('device', ACCELERATORS)
def test_checkpoints_cross_devices(device, tmp_path):
    "Trained on the accelerator, the checkpoint says so and loads on the CPU (and back) with the same predictions."
    from e2c.train import TrainConfig, fit, synthetic_tensors
    from e2c.recipes import load_model
    from e2c.checkpoint import read_checkpoint
    tr, va = synthetic_tensors(1024, seed=0), synthetic_tensors(128, seed=1)
    cfg = TrainConfig(epochs=3, bs=128, hidden=64, head_hidden=16)
    m, _ = fit(tr, va, cfg, out=tmp_path / 'm.safetensors', progress=False, device=device)
    assert read_checkpoint(tmp_path / 'm.safetensors')[1]['device'].startswith(device)
    on_cpu, _ = load_model(tmp_path / 'm.safetensors', device='cpu')
    back, _ = load_model(tmp_path / 'm.safetensors', device=device)
    assert next(on_cpu.parameters()).device.type == 'cpu' and next(back.parameters()).device.type == device
    assert np.abs(on_cpu.predict(va.emb) - m.predict(va.emb)).max() < 1e-4
    np.testing.assert_array_equal(back.predict(va.emb), m.predict(va.emb))

@pytest.mark.parametrize('device', ACCELERATORS)
def test_training_within_cpu_seed_spread(device):
    "Dropout masks are drawn on the device, so runs differ from the CPU's; the validation loss must not."
    from e2c.train import RECIPES, fit, prepare
    prep = prepare(verbose=False)
    cfg = dataclasses.replace(RECIPES['e2c'], epochs=15, patience=None)
    best = lambda seed, dev: min(h['val_recon'] for h in fit(prep.tr, prep.va, dataclasses.replace(cfg, seed=seed), progress=False, device=dev)[1])
    cpu = [best(s, 'cpu') for s in range(3)]
    spread = max(cpu) - min(cpu)
    v = best(0, device)
    assert min(cpu) - spread <= v <= max(cpu) + spread, (v, cpu)
