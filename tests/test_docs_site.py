"""The docs site in a real headless Chromium, served over HTTP on 127.0.0.1.

Pages are rendered by Chromium driven through Playwright, two browsers at a time, each started once for its share
of the pages: load, then 5 s of the page's own (virtual) time, as `chromium --virtual-time-budget` gives; the DOM and
the uncaught errors are kept per page for the session. Screenshots come from `chromium --screenshot`.

The site is the one `tools/docs` builds. With E2C_DOCS_SITE set (a folder, absolute or relative
to the repository root; `.ci/test` sets it after building `site/`) the tests use that build;
otherwise they build one into a temporary folder first (this executes the notebooks: minutes).
Chromium is a requirement, not an option: `.ci/install` installs it.
"""
from concurrent.futures import ThreadPoolExecutor
import hashlib, importlib.util, io, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time
from functools import lru_cache, partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import urlopen

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image, ImageStat

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get('E2C_CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser') or '/usr/bin/chromium'
W, H = 1280, 2000

# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='session')
def site(tmp_path_factory) -> Path:
    "The built site: E2C_DOCS_SITE, or a fresh build by tools/docs."
    if env := os.environ.get('E2C_DOCS_SITE'):
        p = (ROOT/env).resolve()
        assert (p/'index.html').is_file(), f'E2C_DOCS_SITE={env}: no index.html in {p}; build the site with tools/docs'
        return p
    out = tmp_path_factory.mktemp('docs')/'site'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs'), '--out', str(out), '--build-dir', '_build/pytest-docs'],
                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=3600)
    assert r.returncode == 0, f'tools/docs failed:\n{r.stdout[-8000:]}'
    return out

class _Handler(SimpleHTTPRequestHandler):
    extra = {}                        # URL path → HTML: pages a test serves beside the site
    def log_message(self, *a): pass
    def do_GET(self):
        body = self.extra.get(urlsplit(self.path).path)
        if body is None: return super().do_GET()
        data = body.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):   # a browser that hung up
            super().handle_error(request, client_address)

@pytest.fixture(scope='session')
def server(site):
    "The site over HTTP on 127.0.0.1 (ephemeral port), in a thread."
    extra = {}
    handler = partial(type('Handler', (_Handler,), {'extra': extra}), directory=str(site))
    srv = _Server(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield SimpleNamespace(base=f'http://127.0.0.1:{srv.server_address[1]}/', site=site, extra=extra)
    finally:
        srv.shutdown(); srv.server_close(); t.join(10)

# --------------------------------------------------------------------------------------------- chromium
def chromium(url:str, *args, timeout:int=120) -> SimpleNamespace:
    "Run headless Chromium (fresh profile) on `url`; its whole process group is ended afterwards."
    if not Path(CHROMIUM).is_file():
        pytest.fail(f'Chromium not found ({CHROMIUM}): the docs tests need a real browser; run .ci/install '
                    '(apt-get install chromium) or set E2C_CHROMIUM', pytrace=False)
    prof = tempfile.mkdtemp(prefix='e2c-chromium-')
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-default-apps', '--disable-extensions', f'--user-data-dir={prof}',
           '--force-color-profile=srgb', '--hide-scrollbars', f'--window-size={W},{H}',
           '--enable-logging=stderr', '--v=0', *args, url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try: out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL); p.communicate()
        pytest.fail(f'chromium did not finish in {timeout}s on {url}', pytrace=False)
    finally:
        try: os.killpg(p.pid, signal.SIGKILL)     # helpers it left behind, in the group it leads
        except (ProcessLookupError, PermissionError): pass
        shutil.rmtree(prof, ignore_errors=True)
    errors = [l for l in err.splitlines() if 'CONSOLE' in l and 'Uncaught' in l]
    return SimpleNamespace(rc=p.returncode, out=out, err=err, js_errors=errors)

_DOMS = {}
def _render(browser, url:str) -> tuple[str, list]:
    "(the DOM as HTML, the uncaught errors) of `url` in a fresh context of `browser`: loaded, then 5 s of the page's own time."
    ctx = browser.new_context(viewport={'width': W, 'height': H})
    try:
        page, errors, done = ctx.new_page(), [], []
        page.on('pageerror', lambda e: errors.append(f'Uncaught {e}'))
        page.goto(url, wait_until='load', timeout=120_000)
        cdp = ctx.new_cdp_session(page)      # then its timers run in virtual time, as chromium --virtual-time-budget runs them
        cdp.on('Emulation.virtualTimeBudgetExpired', lambda _: done.append(1))
        cdp.send('Emulation.setVirtualTimePolicy', {'policy': 'pauseIfNetworkFetchesPending', 'budget': 5000})
        end = time.monotonic() + 120
        while not done:
            if time.monotonic() > end: pytest.fail(f'{url}: the page did not settle within 120 s', pytrace=False)
            page.wait_for_timeout(5)
        root = cdp.send('DOM.getDocument', {'depth': 0})['root']['nodeId']
        return cdp.send('DOM.getOuterHTML', {'nodeId': root})['outerHTML'], errors
    finally: ctx.close()

def render(urls):
    "Render the pages not rendered yet: two browsers at a time (2 cores), each started once for its share of the pages."
    todo = [u for u in dict.fromkeys(urls) if u not in _DOMS]
    if not todo: return
    if not Path(CHROMIUM).is_file():
        pytest.fail(f'Chromium not found ({CHROMIUM}): the docs tests need a real browser; run .ci/install '
                    '(apt-get install chromium) or set E2C_CHROMIUM', pytrace=False)
    from playwright.sync_api import sync_playwright
    def share(urls):
        with sync_playwright() as pw:      # one per thread: Playwright's sync API stays in the thread that started it
            b = pw.chromium.launch(executable_path=CHROMIUM, args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-dev-shm-usage',
                                                                   '--force-color-profile=srgb', '--hide-scrollbars'])
            try:
                for u in urls: _DOMS[u] = _render(b, u)
            finally: b.close()
    parts = [todo[i::2] for i in range(min(2, len(todo)))]
    with ThreadPoolExecutor(len(parts)) as pool: list(pool.map(share, parts))

def dom(url:str) -> tuple:
    "The DOM after the page's scripts ran, parsed (a fresh copy); and the JS errors. A page of the site is rendered once per session."
    render([url])
    out, errors = _DOMS[url]
    return BeautifulSoup(out, 'html.parser'), list(errors)

def screenshot(url:str, path:Path) -> Image.Image:
    r = chromium(url, '--virtual-time-budget=5000', f'--screenshot={path}')
    assert r.rc == 0 and path.is_file(), f'chromium --screenshot failed on {url}:\n{r.err[-3000:]}'
    return Image.open(path).convert('RGB')

def assert_not_blank(im:Image.Image, what:str):
    "A rendered page: many colours, a fair share of non-background pixels, contrast."
    assert im.size == (W, H), f'{what}: screenshot is {im.size}'
    colours = im.getcolors(W*H)
    bg = max(colours)[0] / (W*H)
    std = ImageStat.Stat(im.convert('L')).stddev[0]
    assert len(colours) >= 50 and bg <= 0.97 and std >= 8, \
        f'{what} looks blank: {len(colours)} colours, background {bg:.1%} of the pixels, luminance std {std:.1f}'

def count_colour(im:Image.Image, rgb, tol:int=3) -> int:
    "Pixels within `tol` of `rgb` on every channel."
    return int((np.abs(np.asarray(im, dtype=np.int16) - np.array(rgb)) <= tol).all(-1).sum())

# --------------------------------------------------------------------------------------------- the site's pages
_SOUPS = {}
def static(site:Path, name:str) -> BeautifulSoup:
    "The page as built, parsed once per session (about 0.2 s a page here): read it, do not change it."
    if (site, name) not in _SOUPS: _SOUPS[site, name] = BeautifulSoup((site/name).read_text(), 'html.parser')
    return _SOUPS[site, name]

def pages(site:Path) -> list:
    "The site's pages in nav order (the home page first)."
    nav = [a['href'] for a in static(site, 'index.html').select('nav.md-nav--primary a.md-nav__link[href]')]
    seen = []
    for h in nav:
        h = urlsplit(h).path or 'index.html'
        if h.endswith('.html') and h not in seen: seen.append(h)
    return seen

def expected_pages() -> list:
    "One page per notebook of nbs/ (as nbdev names them), less those left out with E2C_DOCS_SKIP."
    from fnmatch import fnmatch
    from nbdev.config import nbpath2html
    skip = os.environ.get('E2C_DOCS_SKIP', '').replace(',', ' ').split()
    nbs = [p for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')) + [ROOT/'nbs'/'index.ipynb']
           if not any(fnmatch(p.stem, s) or fnmatch(p.name, s) for s in skip)]
    return [nbpath2html(p).name for p in nbs]

def palette_page(site:Path) -> str:
    "The first page (nav order) that shows palette swatches."
    for p in pages(site):
        if 'class="e2c-swatch"' in (site/p).read_text(): return p
    pytest.fail('no page of the site shows a palette (.e2c-swatch): are the notebooks executed by the build?')

def load_docs_script():
    "`tools/docs` as a module, for the functions that turn outputs into HTML."
    from importlib.machinery import SourceFileLoader
    loader = SourceFileLoader('e2c_ci_docs', str(ROOT/'tools'/'docs'))
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(mod)
    return mod

# --------------------------------------------------------------------------------------------- tests
def test_home_page_is_the_readme(server, tmp_path):
    soup, errors = dom(server.base + 'index.html')
    readme = (ROOT/'README.md').read_text()
    title = re.match(r'#\s+(.*)', readme).group(1).strip()
    assert soup.title and title in soup.title.get_text(), soup.title
    h1 = soup.select_one('article h1, .md-content h1')
    assert h1 and h1.get_text(strip=True).rstrip('¶') == title
    summary = re.search(r'^>\s*(.*)$', readme, re.M).group(1)
    text = ' '.join(soup.get_text(' ').split())
    assert ' '.join(summary.split())[:60] in text, 'the README summary is not on the home page'
    for h2 in re.findall(r'^## (.*)$', readme, re.M): assert h2.strip() in text, f'README section {h2!r} missing'
    assert not errors, errors
    assert_not_blank(screenshot(server.base + 'index.html', tmp_path/'home.png'), 'home page')

def test_nav_has_every_notebook_and_resolves(server):
    soup, errors = dom(server.base + 'index.html')
    hrefs = [a['href'] for a in soup.select('nav.md-nav--primary a.md-nav__link[href]')]
    names = {urlsplit(h).path or 'index.html' for h in hrefs}
    missing = [p for p in expected_pages() + ['figures.html'] if p not in names]
    assert not missing, f'nav lacks {missing}; it has {sorted(names)}'
    for h in hrefs:
        url = urljoin(server.base + 'index.html', h)
        with urlopen(url, timeout=10) as r: assert r.status == 200, url
    assert not errors, errors

def test_every_internal_link_and_anchor_resolves(server):
    "All pages: each internal href answers 200, and each #fragment names an element of its page."
    bad, ids, status_of = [], {}, {}
    def page_ids(path):
        if path not in ids: ids[path] = {t['id'] for t in static(server.site, path).find_all(id=True)}
        return ids[path]
    for page in sorted(p.name for p in server.site.glob('*.html')):
        for a in static(server.site, page).find_all('a', href=True):
            h = a['href']
            if re.match(r'^(https?:|mailto:|javascript:|data:)', h): continue
            url = urljoin(server.base + page, h)
            path, frag = unquote(urlsplit(url).path).lstrip('/') or 'index.html', unquote(urlsplit(url).fragment)
            if (target := url.split('#')[0]) not in status_of:      # each URL asked once
                try:
                    with urlopen(target, timeout=10) as r: status_of[target] = r.status
                except HTTPError as e: status_of[target] = e.code
            status = status_of[target]
            if status != 200: bad.append(f'{page}: {h} → HTTP {status}'); continue
            if frag and path.endswith('.html') and frag not in page_ids(path): bad.append(f'{page}: {h} → no id {frag!r}')
    assert not bad, f'{len(bad)} broken links:\n' + '\n'.join(bad[:40])

def test_site_works_offline(server):
    "No page loads a script, style sheet, image or frame from the internet."
    ext = []
    for page in server.site.glob('*.html'):
        s = static(server.site, page.name)
        for t in s.select('script[src], img[src], iframe[src]'):
            if re.match(r'https?:', t['src']): ext.append(f'{page.name}: {t["src"]}')
        for t in s.select('link[href]'):
            if 'stylesheet' in t.get('rel', []) and re.match(r'https?:', t['href']): ext.append(f'{page.name}: {t["href"]}')
    assert not ext, '\n'.join(ext)

def scripts(site:Path, page:str) -> tuple:
    "What a page runs: each script's source file (less its content hash) or inline text's digest; plotly data as one marker."
    sig = []
    for t in static(site, page).find_all('script'):
        if t.get('src'): sig.append(re.sub(r'\.[0-9a-f]{8}\.', '.', t['src']))
        elif 'e2c-plotly-data' in (t.get('class') or []): sig.append('plotly data')
        else: sig.append(hashlib.sha1(t.get_text().encode()).hexdigest())
    return tuple(dict.fromkeys(sig))

TEX = re.compile(r'\$\$.+?\$\$|\$[^$\s][^$]*?\\[A-Za-z]+[^$]*?\$', re.S)     # $$…$$, or $…\command…$

def prose(soup:BeautifulSoup) -> str:
    "The text of a page's markdown cells, without code and without what MathJax made or keeps (the soup is left as it is)."
    skip = set(map(id, soup.select('script, pre, code, .MathJax, .MathJax_Display, .MathJax_Preview, .MathJax_CHTML, mjx-container')))
    return ' '.join(t for e in soup.select('.jp-RenderedMarkdown') for t in e.strings if not any(id(a) in skip for a in t.parents))

@lru_cache(None)
def math_pages(site:Path) -> dict:
    "page → the TeX in its prose, for the pages that have some."
    tex = {p: TEX.findall(prose(static(site, p))) for p in pages(site)}
    return {p: t for p, t in tex.items() if t}

def test_notebook_pages_render(server):
    """Every chapter has its title, nav, a heading and notebook cells, and runs in the browser without a JS error.
    The browser takes about 2 s a page here, so by default it renders one chapter of each set that loads the same
    scripts, and those with mathematics or plotly figures (which the tests below render anyway); every chapter
    with E2C_SLOW_TESTS=1."""
    todo = [p for p in pages(server.site)[1:] if p != 'figures.html']
    for page in todo:
        soup = static(server.site, page)
        assert soup.title and 'e2c' in soup.title.get_text(), page
        assert soup.select('nav.md-nav--primary a.md-nav__link'), f'{page}: no nav'
        assert soup.select_one('.md-content h1'), f'{page}: no title'
        assert soup.select('.jp-Notebook .jp-Cell'), f'{page}: no notebook cells'
    if not os.environ.get('E2C_SLOW_TESTS'):
        first = {}
        for page in todo: first.setdefault(scripts(server.site, page), page)
        extra = set(math_pages(server.site)) | {p for p in todo if 'e2c-plotly-data' in (server.site/p).read_text()}
        todo = [p for p in todo if p in extra or p in first.values()]
    render([server.base + p for p in todo])
    for page in todo:
        soup, errors = dom(server.base + page)
        assert soup.select('.jp-Notebook .jp-Cell'), f'{page}: no notebook cells once rendered'
        assert not errors, f'{page}: {errors}'

def test_palette_page_shows_swatches_and_api(server, tmp_path):
    page = palette_page(server.site)
    soup, errors = dom(server.base + page)
    assert not errors, errors
    sw = soup.select('.e2c-palette .e2c-swatch')
    assert len(sw) >= 5, f'{page}: {len(sw)} swatches'
    # the API reference: show_doc blocks are headings followed by a signature
    api = [h for h in soup.select('.jp-RenderedMarkdown h3[id]')
           if (pre := h.find_next('pre')) and re.match(r'\s*(def|class) ', pre.get_text())]
    assert api, f'{page}: no show_doc block'
    # the swatches are visible: the first palette's five colours fill many pixels of a screenshot
    # with the palette in view (scrolled inside a same-origin frame: a headless screenshot of a
    # page scrolled to a #fragment comes out shifted)
    first = static(server.site, page).select_one('.e2c-palette')
    server.extra['/__e2c_palette_view.html'] = (
        '<!doctype html><html><head><style>html,body{margin:0;overflow:hidden}'
        f'iframe{{border:0;width:{W}px;height:{H}px;display:block}}</style></head><body>'
        f'<iframe id="f" src="{page}"></iframe><script>'
        "document.getElementById('f').addEventListener('load', function () {"
        "  var el = this.contentDocument.querySelector('.e2c-palette'); if (el) el.scrollIntoView({block: 'center'}); });"
        '</script></body></html>')
    url = server.base + '__e2c_palette_view.html'
    im = screenshot(url, tmp_path/'palette.png')
    assert_not_blank(im, page)
    for s in first.select('.e2c-swatch'):
        hx = re.search(r'background:\s*#([0-9a-fA-F]{6})', s['style']).group(1)
        n = count_colour(im, [int(hx[i:i + 2], 16) for i in (0, 2, 4)])
        assert n >= 500, f'{page}: swatch #{hx} covers {n} pixels of the screenshot with the palette in view'

def test_figures_gallery(server, tmp_path):
    soup, errors = dom(server.base + 'figures.html')
    assert not errors, errors
    figs = sorted(p for p in (server.site/'figures').rglob('*') if p.is_file()) if (server.site/'figures').exists() else []
    if not figs:
        assert 'No figures yet' in soup.get_text(), 'figures.html: neither figures nor the note that there are none'
        return
    srcs = {img['src'] for img in soup.select('figure.e2c-figure img[src]')}
    links = {a['href'] for a in soup.select('figure.e2c-figure a[href]')}
    for p in figs:
        rel = 'figures/' + p.relative_to(server.site/'figures').as_posix()
        assert rel in links, f'figures.html does not link {rel}'
        with urlopen(urljoin(server.base, rel), timeout=10) as r: data = r.read()
        if p.suffix == '.png': Image.open(io.BytesIO(data)).verify()
        if p.suffix == '.svg': assert b'<svg' in data[:5000], rel
    assert srcs, 'figures.html shows no image'
    assert_not_blank(screenshot(server.base + 'figures.html', tmp_path/'figures.png'), 'figures.html')

def test_plotly_figures_render_offline(server, tmp_path):
    "Plotly outputs as the build writes them render in Chromium from the site's own plotly.js."
    import plotly.graph_objects as go
    docs = load_docs_script()
    fig = go.Figure(go.Bar(x=['a', 'b', 'c'], y=[3, 1, 2], marker_color='#e0662b'))
    html = docs.Plotly()(json.loads(fig.to_json()), 'check')
    server.extra['/__e2c_plotly_check.html'] = (
        f'<!doctype html><html><head><title>plotly check</title></head><body>{html}'
        f'<script src="assets/e2c.js"></script></body></html>')
    soup, errors = dom(server.base + '__e2c_plotly_check.html')
    assert not errors, errors
    assert soup.select('.plotly-graph-div svg.main-svg'), 'the plotly figure did not render'
    im = screenshot(server.base + '__e2c_plotly_check.html', tmp_path/'plotly.png')
    assert count_colour(im, (0xe0, 0x66, 0x2b)) >= 2000, 'the bars are not on the screenshot'
    # and every plotly figure of the notebooks renders
    todo = [p for p in pages(server.site) if 'e2c-plotly-data' in (server.site/p).read_text()]
    render([server.base + p for p in todo])
    for page in todo:
        soup, errors = dom(server.base + page)
        divs = soup.select('.plotly-graph-div')
        assert divs and all(d.select('svg.main-svg') for d in divs), f'{page}: a plotly figure did not render'
        assert not errors, f'{page}: {errors}'

def test_math_renders_offline(server):
    "Every page whose prose holds TeX gets it typeset by the site's own MathJax: no raw TeX is left, no JS error."
    pages_tex = math_pages(server.site)
    assert pages_tex, 'no page of the site has mathematics: is the TeX pattern right?'
    assert (server.site/'assets'/'mathjax'/'MathJax.js').is_file(), 'MathJax is not in the site'
    render([server.base + p for p in pages_tex])
    for page, tex in pages_tex.items():
        soup, errors = dom(server.base + page)
        assert not errors, f'{page}: {errors}'
        made = soup.select('.MathJax, .MathJax_Display, .MathJax_CHTML, mjx-container')
        assert len(made) >= len(tex), f'{page}: {len(tex)} formulas in the source, {len(made)} typeset'
        left = TEX.findall(prose(soup))
        assert not left, f'{page}: raw TeX left on the page: {left[:3]}'
