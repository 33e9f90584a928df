"""`e2c-eval` end to end: metrics files and every figure, exported through kaleido and Debian's chromium.

Runs the command in a subprocess into a temporary folder (the ablation is skipped to keep the
test short), or, when E2C_EVAL_OUT names a folder holding an evaluation (`.ci/test` sets it: the
evaluation chapter's test run writes its `run_eval` there, so a test run evaluates once), uses that
one, and checks that each figure exists in SVG, PDF and PNG, is a valid file of its
kind, and, for the swatch figures, that the SVG holds exactly the expected swatches in the
colours of the generator's class palettes.
"""
import json, os, re, subprocess, sys, io
from pathlib import Path
import pytest
from PIL import Image

FIGS = ['circumplex_palettes', 'distance_scatter', 'distance_matrix', 'raw_anchor_final', 'ab_plane', 'circumplex_grid', 'va_grid_7x7', 'what_people_see']

STAGES = ('load generator and data', 'reference metrics', 'export figures', 'total')
EXE = Path(sys.executable).parent / 'e2c-eval'           # the console script, as a user runs it

@pytest.fixture(scope='module')
def evaluated(tmp_path_factory):
    "(folder with metrics.json, figures folder, stdout or None)"
    if (env := os.environ.get('E2C_EVAL_OUT')) and (Path(env) / 'metrics.json').is_file():
        return Path(env), Path(env) / 'figures', None
    out = tmp_path_factory.mktemp('eval')
    r = subprocess.run([str(EXE), '--out', str(out), '--figures', str(out / 'figs'), '--no-ablation'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, out / 'figs', r.stdout

def _swatch_fills(svg):
    "Fill colours of the opaque filled shapes (the swatches)."
    groups = re.findall(r'<g class="shape-group"[^>]*>(.*?)</g>', svg)
    return [tuple(map(int, m.group(1).split(','))) for g in groups if (m := re.search(r'fill: rgb\(([\d, ]+)\)', g))
            and 'fill-opacity: 1' in g and 'opacity: 1;' in g]

def test_every_figure_in_three_valid_formats(evaluated):
    _, figs, _ = evaluated
    for name in FIGS:
        svg, pdf, png = (figs / f'{name}.{ext}' for ext in ('svg', 'pdf', 'png'))
        for p in (svg, pdf, png): assert p.exists() and p.stat().st_size > 2000, p
        assert re.match(rb'\s*(<\?xml[^>]*>\s*)?<svg', svg.read_bytes()), svg
        assert pdf.read_bytes()[:5] == b'%PDF-' and b'%%EOF' in pdf.read_bytes()[-1024:], pdf
        im = Image.open(io.BytesIO(png.read_bytes())); im.load()
        assert im.size[0] > 500 and im.size[1] > 500 and len(im.convert('RGB').getcolors(1 << 24)) > 20, png
    assert not list(figs.glob('.*tmp*')), 'temporary files left behind'

def test_swatches_in_the_svgs_are_the_class_palettes(evaluated):
    from e2c.generate import load_generator
    _, figs, _ = evaluated
    pals = load_generator().class_palettes()
    want = sorted(tuple(int(h[i:i + 2], 16) for i in (1, 3, 5)) for p in pals for h in p.hex)
    got = sorted(_swatch_fills((figs / 'circumplex_palettes.svg').read_text()))
    assert len(got) == 45 and got == want
    assert len(_swatch_fills((figs / 'circumplex_grid.svg').read_text())) == 81 * 5
    assert len(_swatch_fills((figs / 'raw_anchor_final.svg').read_text())) == 4 * 45

def test_metrics_files_and_stage_times(evaluated):
    out, _, stdout = evaluated
    m = json.loads((out / 'metrics.json').read_text())
    assert {'reference', 'e2c', 'reconstruction', 'paraphrases', 'targets', 'figures', 'seconds'} <= set(m)
    assert 0 < m['e2c']['after']['circumplex_r'] <= 1 and len(m['figures']) == 3 * len(FIGS)
    md = (out / 'metrics.md').read_text()
    assert md.startswith('# e2c evaluation') and md.count('\n|---') >= 4
    assert set(STAGES) - {'total'} <= set(m['seconds']), m['seconds']
    if stdout is not None:
        for stage in STAGES: assert stage in stdout

def test_console_script_explains_itself():
    "The installed `e2c-eval` runs and documents its options (the evaluation itself may come from the notebooks' run)."
    r = subprocess.run([str(EXE), '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--no-ablation' in r.stdout and '--figures' in r.stdout, r.stderr[-2000:]
