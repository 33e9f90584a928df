"""The explorer as its readers see it: a real JupyterLab on 127.0.0.1, driven in headless Chromium by Playwright.

One test walks the chapter `09_explore` as a user would: open it (no "Select Kernel" dialog), run all,
type a prompt, move a slider, lock a colour and resample, copy a hex, download the .ase file, and check
from the DOM that the explorer is there and follows, that the lightness bars sit on their ticks, that a
reloaded page still draws the figures, and that the saved notebook opened on a new kernel shows the
static fallback rather than "model not found". Any console error of the page fails it.

It runs on a copy of the notebook (without its `nbdev_export` cell) in a temporary folder, with the
kernel importing `e2c` from this checkout, and JupyterLab's settings and workspaces kept in the
temporary folder too. Waits are on DOM and kernel conditions with generous limits, never sleeps.
Needs `pip install playwright` (its driver ships in the wheel) and Debian's chromium.
"""
import base64, json, os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get('E2C_CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser') or '/usr/bin/chromium'
NB = '09_explore.ipynb'
LONG = 180_000        # ms: running the whole chapter on a loaded 2-core machine
SHORT = 60_000        # ms: one round trip through the kernel, or a page load


def test_notebooks_carry_a_kernelspec():
    "Every chapter names its kernel, so JupyterLab opens it without asking (the docs' index excepted)."
    bad = [p.name for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb'))
           if json.loads(p.read_text()).get('metadata', {}).get('kernelspec', {}).get('name') != 'python3']
    assert not bad, f'no python3 kernelspec in {bad}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def api(base:str, path:str, method:str='GET'):
    with urlopen(Request(base + path, method=method), timeout=30) as r:
        body = r.read()
        return json.loads(body) if body else None

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "JupyterLab on 127.0.0.1 serving a copy of the chapter; shut down (kernels included) afterwards."
    pytest.importorskip('playwright', reason='pip install playwright')
    tmp = tmp_path_factory.mktemp('lab')
    work, settings = tmp/'work', tmp/'settings'
    work.mkdir()
    nb = json.loads((ROOT/'nbs'/NB).read_text())
    nb['cells'] = [c for c in nb['cells'] if 'nbdev_export' not in ''.join(c['source'])]   # never write the library
    (work/NB).write_text(json.dumps(nb))
    news = settings/'@jupyterlab'/'apputils-extension'/'notification.jupyterlab-settings'
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else [])),
               OMP_NUM_THREADS='1', JUPYTER_CONFIG_DIR=str(tmp/'config'), JUPYTER_RUNTIME_DIR=str(tmp/'runtime'),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp/'workspaces'), JUPYTER_PLATFORM_DIRS='1')
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
           '--ServerApp.port_retries=0', "--IdentityProvider.token=", "--ServerApp.password=", '--ServerApp.disable_check_xsrf=True',
           f'--ServerApp.root_dir={work}', f'--LabApp.user_settings_dir={settings}', '--LabApp.expose_app_in_browser=True',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    log = open(tmp/'server.log', 'w')
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            try: api(base, '/api/status'); break
            except OSError:
                assert proc.poll() is None, f'JupyterLab exited:\n{(tmp/"server.log").read_text()[-3000:]}'
                assert time.monotonic() < deadline, f'JupyterLab did not answer:\n{(tmp/"server.log").read_text()[-3000:]}'
                time.sleep(0.2)
        yield dict(base=base, work=work, log=tmp/'server.log')
    finally:
        try: api(base, '/api/shutdown', 'POST')           # stops the kernels too
        except OSError: pass
        try: proc.wait(30)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)
        log.close()


# --------------------------------------------------------------------------------------------- page helpers
KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected' }"""
ALL_RUN = """() => { const w = window.jupyterapp.shell.currentWidget, k = w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return k.status === 'idle' && cells.every(c => c.model.executionCount !== null) }"""
ERROR_OUTPUTS = """() => window.jupyterapp.shell.currentWidget.content.widgets.filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON()).filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)"""
SCROLL_TO_EXPLORER = """() => { const nb = window.jupyterapp.shell.currentWidget.content;
  const i = nb.widgets.findIndex(c => c.model.sharedModel.getSource().startsWith('ex = Explorer(gen)'));
  nb.activeCellIndex = i; return nb.scrollToItem(i, 'start') }"""
HEXES = "() => [...document.querySelectorAll('.e2c-explorer .e2c-swatches .e2c-swatch')].map(e => e.dataset.hex)"
FIGURES = """() => { const gd = s => document.querySelector(`.e2c-explorer ${s} .js-plotly-plot`);
  const ab = gd('.e2c-out-ab'), va = gd('.e2c-out-va');
  if (!ab || !va || !ab.data || !va.data) return null;
  const t = (g, n) => g.data.find(d => d.name === n);
  return {ab: t(ab, 'ab').x.length, L: Array.from(t(ab, 'L').y), star: [t(va, 'prompt').x[0], t(va, 'prompt').y[0]]} }"""
BARS_ON_TICKS = """() => { const gd = document.querySelector('.e2c-explorer .e2c-out-ab .js-plotly-plot');
  const bars = [...gd.querySelectorAll('.barlayer .point path')].map(p => p.getBoundingClientRect());
  const ticks = [...gd.querySelectorAll('.xaxislayer-above .x2tick text')].map(t => [t.textContent, t.getBoundingClientRect()]);
  const cx = r => r.left + r.width / 2;
  return {bars: bars.map(r => [cx(r), r.height]), ticks: ticks.map(([s, r]) => [s, cx(r)])} }"""

FALLBACK_DISPLAY = """() => { const o = document.querySelector('.e2c-explorer').closest('.jp-OutputArea-child').previousElementSibling;
  return o.querySelector('.e2c-fallback') ? getComputedStyle(o).display : 'no fallback' }"""

def wait_hexes_change(page, old, timeout=SHORT):
    page.wait_for_function(f'(old) => {{ const h = ({HEXES})(); return h.length === 5 && h.join() !== old.join() }}', arg=old, timeout=timeout)
    return page.evaluate(HEXES)

def open_notebook(page, base):
    page.goto(f'{base}/lab/tree/{NB}')
    page.wait_for_function(KERNEL_IDLE, timeout=LONG, polling=250)
    assert page.locator('.jp-Dialog').count() == 0, 'JupyterLab asked something on opening (Select Kernel?)'


def test_explorer_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright
    from e2c.palette import Palette
    import e2c.export
    t0, base, errors = time.monotonic(), lab['base'], []
    def lap(what, t=[t0]): print(f'{what}: {time.monotonic() - t[0]:.1f} s', flush=True); t[0] = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        try:
            ctx = browser.new_context(viewport={'width': 1400, 'height': 1000}, accept_downloads=True)
            ctx.grant_permissions(['clipboard-read', 'clipboard-write'], origin=base)
            page = ctx.new_page()
            page.on('console', lambda m: m.type == 'error' and errors.append(m.text))
            page.on('pageerror', lambda e: errors.append(f'page error: {e}'))

            # open, run all: the explorer is on the page, live, and no cell failed
            open_notebook(page, base)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(ALL_RUN, timeout=LONG, polling=500)
            assert page.evaluate(ERROR_OUTPUTS) == []
            page.evaluate(SCROLL_TO_EXPLORER)
            page.wait_for_selector('.e2c-explorer .e2c-out-va .js-plotly-plot', timeout=SHORT)
            test_shot = lambda name: page.locator('.e2c-explorer').screenshot(path=str(tmp_path/f'{name}.png'))
            assert page.locator('.e2c-explorer').count() == 1
            assert page.evaluate(FALLBACK_DISPLAY) == 'none', 'the static fallback shows beside the live explorer'
            hexes = page.evaluate(HEXES)
            assert len(hexes) == 5

            lap('open and run all')
            # type a prompt
            box = page.locator('.e2c-explorer .e2c-prompt input')
            box.fill('a warm summer evening by the sea'); box.press('Enter')
            hexes = wait_hexes_change(page, hexes)
            page.wait_for_function("() => document.querySelector('.e2c-explorer .e2c-status').textContent.includes('seed')", timeout=SHORT)

            # move the temperature slider (a drag, released: one update)
            handle = page.locator('.e2c-explorer .e2c-temperature .noUi-handle')
            track = page.locator('.e2c-explorer .e2c-temperature .noUi-target').bounding_box()
            h = handle.bounding_box()
            page.mouse.move(h['x'] + h['width'] / 2, h['y'] + h['height'] / 2); page.mouse.down()
            page.mouse.move(track['x'] + 0.6 * track['width'], h['y'] + h['height'] / 2, steps=8); page.mouse.up()
            t = float(page.locator('.e2c-explorer .e2c-temperature .widget-readout').text_content())
            assert 0.4 < t < 0.8, t
            page.wait_for_function(f"() => document.querySelector('.e2c-explorer .e2c-status').textContent.includes('T {t:g}')", timeout=SHORT)
            hexes = page.evaluate(HEXES)

            # lock the second colour and resample: it stays, the others change
            page.locator('.e2c-explorer .e2c-lock').nth(1).click()
            page.wait_for_function("() => document.querySelectorAll('.e2c-explorer .e2c-swatches .e2c-swatch')[1].dataset.locked === '1'", timeout=SHORT)
            page.locator('.e2c-explorer .e2c-resample').click()
            new = wait_hexes_change(page, hexes)
            assert new[1] == hexes[1], (hexes, new)
            assert sum(a != b for a, b in zip(hexes, new)) >= 3, (hexes, new)
            hexes = new
            page.wait_for_function(f"(h) => ({FIGURES})() && ({FIGURES})().L.length === 5", timeout=SHORT)
            test_shot('explorer')

            # the lightness bars sit on their ticks, one bar per tick 1..5
            geo = page.evaluate(BARS_ON_TICKS)
            assert [s for s, _ in geo['ticks']] == ['1', '2', '3', '4', '5'], geo
            assert len(geo['bars']) == 5 and all(hgt > 1 for _, hgt in geo['bars']), geo
            for (bx, _), (_, tx) in zip(geo['bars'], geo['ticks']): assert abs(bx - tx) < 3, geo

            # a click copies a hex; the ASE button downloads the palette's file
            page.locator('.e2c-explorer .e2c-swatches .e2c-swatch').nth(3).click()
            page.wait_for_function("() => document.querySelectorAll('.e2c-explorer .e2c-swatches .e2c-hex')[3].textContent === 'copied'", timeout=SHORT)
            assert page.evaluate('navigator.clipboard.readText()') == hexes[3]
            with page.expect_download(timeout=SHORT) as dl:
                page.locator('.e2c-explorer .e2c-export[data-format="ase"]').click()
            assert Path(dl.value.path()).read_bytes() == Palette.from_hex(hexes).to_ase()
            assert page.locator('.e2c-explorer .e2c-a11y-row').count() == 4

            lap('interact')
            # reload while the kernel runs: the figures come back drawn, not empty
            figs = page.evaluate(FIGURES)
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=SHORT)
            page.reload()
            page.wait_for_function(KERNEL_IDLE, timeout=LONG, polling=250)
            page.evaluate(SCROLL_TO_EXPLORER)
            page.wait_for_function(f'() => {{ const f = ({FIGURES})(); return f && f.L.length === 5 }}', timeout=SHORT)
            again = page.evaluate(FIGURES)
            assert again['ab'] == 5 and all(l > 0 for l in again['L']) and again['star'] != [0, 0], again
            assert again == figs, (figs, again)
            assert page.evaluate(HEXES) == hexes

            lap('reload')
            # the saved notebook on a new kernel: the static fallback, no "model not found"
            kid = page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id")
            page.close()
            api(base, f'/api/kernels/{kid}', 'DELETE')
            page = ctx.new_page()
            stale = []
            page.on('console', lambda m: m.type == 'error' and (stale if 'widget model not found' in m.text else errors).append(m.text))
            page.on('pageerror', lambda e: errors.append(f'page error: {e}'))
            open_notebook(page, base)
            page.evaluate(SCROLL_TO_EXPLORER)
            fb = page.locator('.e2c-fallback').first
            fb.wait_for(state='visible', timeout=SHORT)
            assert fb.locator('.e2c-swatch').count() == 5
            page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output')].some(e => e.textContent.includes('model not found'))",
                                   timeout=SHORT)      # JupyterLab's widget manager gives up on the old model...
            gone = page.locator('.jp-OutputArea-output', has_text='model not found')
            assert gone.count() >= 1 and not any(gone.nth(i).is_visible() for i in range(gone.count()))   # ...its message stays hidden
            page.locator('.e2c-fallback').first.screenshot(path=str(tmp_path/'fallback.png'))
            lap('new kernel')
        finally:
            browser.close()
    assert not errors, 'console errors:\n' + '\n'.join(errors)
    print(f'browser test: {time.monotonic() - t0:.1f} s')
