"""Interrupted training resumes from its last saved state and loses at most the current epoch.

A real training process (`e2c.train.fit` on synthetic tensors) is killed with SIGKILL in the middle of an epoch;
its training state must be intact, with no temporary file left behind; a new process resumes it, and its final
model equals, tensor for tensor, that of a run that was never interrupted."""
import json, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from e2c.train import TrainConfig, fit, synthetic_tensors
from e2c.checkpoint import CheckpointError, read_checkpoint

EPOCHS, N, D, BS = 8, 6000, 64, 32
CFG = dict(epochs=EPOCHS, bs=BS, hidden=128, head_hidden=16, seed=3)

# One training process. It counts its batches on stdout (flushed, so the count survives a SIGKILL) through an
# extra loss term that adds an exact zero, and prints its history at the end.
RUN = '''
import json, sys, torch
torch.set_num_threads(1)      # the runs of a test go side by side on a small machine
from e2c.train import TrainConfig, fit, synthetic_tensors
out, resume = sys.argv[1], sys.argv[2] == '1'
tr, va = synthetic_tensors({N}, {D}, 0), synthetic_tensors(512, {D}, 1)
def count(model, b):
    print('b', flush=True)
    return torch.zeros(()), {{}}
model, hist = fit(tr, va, TrainConfig(**{CFG}), out=out, resume=resume, progress=False, extra_loss=count)
print(json.dumps([h['val_recon'] for h in hist]), flush=True)
'''.format(N=N, D=D, CFG=CFG)

def state_of(out): return out.with_name(out.stem + '.state' + out.suffix)   # where fit writes the training state

def start(out, resume=False):
    return subprocess.Popen([sys.executable, '-c', RUN, str(out), '1' if resume else '0'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def finish(p, timeout=240):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    lines = out.splitlines()
    return lines.count('b'), json.loads(lines[-1])

def header_epoch(path):
    "The epoch in a state file's header (cheap enough to poll); None while there is no readable file."
    try:
        data = Path(path).read_bytes()
        n = int.from_bytes(data[:8], 'little')
        return json.loads(json.loads(data[8:8 + n])['__metadata__']['e2c'])['epoch']
    except (OSError, ValueError, KeyError): return None

def wait_epoch(path, p, cond, timeout=120):
    "Poll `path` until its epoch satisfies `cond`; (epoch, time seen)."
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ep = header_epoch(path)
        if ep is not None and cond(ep): return ep, time.monotonic()
        assert p.poll() is None, f"the training process ended early: {p.communicate()[1][-2000:]}"
        time.sleep(0.005)
    raise TimeoutError(f"{path} did not reach the awaited epoch in {timeout} s")

def tensors_equal(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "An uninterrupted run, and a run killed mid-epoch then resumed, side by side."
    d = tmp_path_factory.mktemp('resume')
    ref_out, out = d / 'ref' / 'model.safetensors', d / 'run' / 'model.safetensors'
    ref_out.parent.mkdir(); out.parent.mkdir()
    ref, victim = start(ref_out), start(out)
    state = state_of(out)
    # time one epoch, then kill the process in the middle of the next one, away from any checkpoint write
    e1, t1 = wait_epoch(state, victim, lambda e: e >= 1)
    e2, t2 = wait_epoch(state, victim, lambda e: e > e1)
    time.sleep(0.4 * (t2 - t1) / (e2 - e1))
    victim.send_signal(signal.SIGKILL)
    stdout, _ = victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    killed = dict(batches=stdout.splitlines().count('b'), files=sorted(f.name for f in out.parent.iterdir()))
    _, meta = read_checkpoint(state)         # intact: the header parses and the tensors match their checksum
    killed |= dict(epoch=meta['epoch'], done=meta['done'], history=[h['val_recon'] for h in meta['history']])
    print(f"killed {(t2 - t1) / (e2 - e1) * 0.4:.2f} s into epoch {killed['epoch'] + 1} after {killed['batches']} batches")
    resumed = start(out, resume=True)
    res_batches, res_hist = finish(resumed)
    ref_batches, ref_hist = finish(ref)
    return dict(d=d, out=out, ref_out=ref_out, killed=killed, res_batches=res_batches, res_hist=res_hist,
                ref_batches=ref_batches, ref_hist=ref_hist)

def n_batches(): return -(-N // BS)

def test_kill_leaves_an_intact_state_and_no_temp_files(runs):
    k = runs['killed']
    assert 1 <= k['epoch'] < EPOCHS - 1 and not k['done'], k
    assert len(k['history']) == k['epoch'] + 1
    assert k['files'] == ['model.safetensors', 'model.state.safetensors'], f"left behind: {k['files']}"

def test_kill_loses_at_most_the_current_epoch(runs):
    k, nb = runs['killed'], n_batches()
    done_epochs = k['batches'] // nb              # epochs whose batches had all run when the process died
    assert done_epochs - (k['epoch'] + 1) <= 1, f"{done_epochs} epochs trained but the state holds {k['epoch'] + 1}"

def test_resume_starts_after_the_saved_epoch(runs):
    k, nb = runs['killed'], n_batches()
    assert runs['ref_batches'] == EPOCHS * nb
    assert runs['res_batches'] == (EPOCHS - k['epoch'] - 1) * nb       # trained epochs k+1 … EPOCHS-1 only
    assert len(runs['res_hist']) == EPOCHS
    assert runs['res_hist'][:k['epoch'] + 1] == k['history']

def test_resumed_run_equals_uninterrupted_run(runs):
    assert runs['res_hist'] == runs['ref_hist']                          # every epoch's validation loss, exactly
    for f in (lambda p: p, state_of):                                  # the best model, and the last state (model, best, optimiser, RNG)
        (a, ma), (b, mb) = read_checkpoint(f(runs['out'])), read_checkpoint(f(runs['ref_out']))
        assert tensors_equal(a, b), [k for k in a if not torch.equal(a[k], b.get(k, torch.empty(0)))][:5]
    _, meta = read_checkpoint(state_of(runs['out']))
    assert meta['done'] and meta['epoch'] == EPOCHS - 1

def test_resume_with_other_settings_fails_clearly(runs):
    tr, va = synthetic_tensors(N, D, 0), synthetic_tensors(512, D, 1)
    with pytest.raises(CheckpointError, match='other settings'):
        fit(tr, va, TrainConfig(**(CFG | dict(lr=1e-3))), out=runs['out'], resume=True, progress=False)
    with pytest.raises(CheckpointError, match='other data'):
        fit(tr, va, TrainConfig(**CFG), out=runs['out'], resume=True, progress=False, meta=dict(data='another-fingerprint'))
