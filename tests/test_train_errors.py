"""`e2c-train` refuses what it cannot do well, in one line with exit status 2 and no traceback, and replaces nothing.

The command runs in this process through its console entry point (its `sys.argv`, streams and exit status); what
crosses a process boundary, the lock on `--out`, is held by a real second process. Every refusal here comes before
any training (the data is a two-file folder written by the test), so the file costs a few seconds."""
import contextlib, io, os, signal, subprocess, sys
from pathlib import Path
import pytest
from fastcore.script import parse_cli
from e2c.data import OKLAB_COLS
from e2c.recipes import e2c_train
from e2c.train import output_lock

def train_cli(*args):
    "Run `e2c-train args` in this process: (exit status, stdout, stderr)."
    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ['e2c-train', '--quiet', *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                pargs, kw, _ = parse_cli(e2c_train.__wrapped__)   # what the console script does with sys.argv
                rc = e2c_train.__wrapped__(*pargs, **kw)
            except SystemExit as e: rc = e.code if isinstance(e.code, int) else 1
            except BaseException:
                import traceback; traceback.print_exc(file=err); rc = 1
    finally: sys.argv = argv
    return rc, out.getvalue(), err.getvalue()

def one_line(rc, out, err, *want):
    "The run was refused with one `e2c-train: error:` line holding every string of `want`."
    assert 'Traceback' not in err, err[-2000:]
    assert rc == 2 and out == '', (rc, out, err)
    (line,) = err.strip().splitlines()
    assert line.startswith('e2c-train: error: ') and all(w in line for w in want), line
    return line

ROW = ','.join(['0.5', '0.01', '0.02'] * 5)

@pytest.fixture
def data(tmp_path):
    "A data folder with an EmotionsToColor val split of 40 distinct palettes, the last weighted 1e39."
    d = tmp_path / 'data'; (d / 'emotionstocolor').mkdir(parents=True)
    rows = [','.join(f'{0.1 + 0.02 * i:.4f},0.0100,0.0200' for _ in range(5)) + f',text {i},1' for i in range(40)]
    rows[-1] = rows[-1][:-1] + '1e39'
    (d / 'emotionstocolor' / 'val.csv').write_text(','.join(OKLAB_COLS + ['text', 'weight']) + '\n' + '\n'.join(rows) + '\n')
    return d

@pytest.mark.parametrize('args, want', [
    (['--val-frac', '0'], ['--val-frac', 'between 0 and 1']),
    (['--val-frac', '1'], ['--val-frac', 'got 1.0']),
    (['--val-frac', 'nan'], ['--val-frac']),
    (['--epochs', '0'], ['--epochs']),
    (['--patience', '-3'], ['--patience']),
    (['--encoder', 'bert'], ['bert']),
])
def test_impossible_settings_are_refused_at_the_door(tmp_path, args, want):
    one_line(*train_cli('--out', str(tmp_path / 'm.safetensors'), '--data', str(tmp_path / 'none'), *args), *want)
    assert not list(tmp_path.iterdir())                              # nothing written, not even a lock file

def test_a_weight_that_overflows_float32_is_named(data, tmp_path):
    one_line(*train_cli('--sources', 'e2c_val', '--data', str(data), '--out', str(tmp_path / 'm.safetensors')),
             'val.csv', 'data row 40', "column 'weight'", '1e39 is too large')

def test_a_split_with_an_empty_side_is_refused(data, tmp_path):
    (data / 'emotionstocolor' / 'val.csv').write_text('\n'.join((data / 'emotionstocolor' / 'val.csv').read_text().splitlines()[:-1]) + '\n')
    one_line(*train_cli('--sources', 'e2c_val', '--data', str(data), '--val-frac', '1e-9', '--out', str(tmp_path / 'm.safetensors')),
             '--val-frac 1e-09 leaves 39 training and 0 validation palettes')

def test_out_folder_is_refused(tmp_path):
    one_line(*train_cli('--out', str(tmp_path)), f'--out {tmp_path} is a folder')

def test_a_finished_model_is_not_replaced_without_force(tmp_path):
    from e2c.checkpoint import save_model
    from e2c.model import Text2Palette
    out = tmp_path / 'm.safetensors'
    save_model(out, Text2Palette(384, 32, 8), 'minilm-l6-v2', recipe='e2c', best_epoch=19)
    before = out.read_bytes()
    for extra in ([], ['--resume']):                                  # --resume without a state to resume is no licence either
        one_line(*train_cli('--recipe', 'e2c', '--epochs', '1', '--out', str(out), *extra),
                 f'{out} already holds a trained model (recipe e2c, best epoch 20)', '--force')
    assert out.read_bytes() == before

HOLD = '''
import sys
from e2c.train import output_lock
with output_lock(sys.argv[1]):
    print('locked', flush=True); sys.stdin.read()
'''

def test_a_second_training_on_the_same_out_is_refused(tmp_path):
    "A real process holds the lock; killed with SIGKILL, it leaves its lock file but not its lock (the notebook checks a normal end)."
    out = tmp_path / 'm.safetensors'
    p = subprocess.Popen([sys.executable, '-c', HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == 'locked'
        one_line(*train_cli('--recipe', 'e2c', '--epochs', '1', '--out', str(out)), f'{out} is being written by another training (process {p.pid})')
        assert not out.exists()
    finally:
        p.send_signal(signal.SIGKILL); p.wait(30)
    assert (tmp_path / '.m.safetensors.lock').exists()
    with output_lock(out): pass                                       # free again
