"""The thesis outputs of `e2c-eval` (the thesis-outputs chapter, `e2c.latex`), checked as the thesis will use them.

- Every key the notebooks cite (`[@key]` in nbs/*.ipynb) is in figures/e2c.bib, and every entry is cited.
- figures/tables/ and figures/snippets/ are what `write_latex` makes of figures/metrics.json now: none stale,
  none missing, every table and figure with a caption entry and a complete provenance.
- Each table's numbers equal metrics.json after the one rounding rule (`round(v, DIGITS)`, DIGITS decimals),
  read back from the .tex independently of how it was written.
- A small document that inputs every table and snippet, refers to every label and cites every entry compiles
  with pdflatex, bibtex, pdflatex, pdflatex without errors and without undefined references or citations.

pdflatex and bibtex come from Debian's texlive-latex-recommended (.ci/install). Without them the compile test
is skipped locally, and fails when the CI environment variable is set. E2C_FIGURES checks another folder
written by `e2c-eval --out DIR --figures DIR` instead of figures/.
"""
import json, math, os, re, shutil
from pathlib import Path
import pytest
from e2c.latex import (DIGITS, metric_tables, write_latex, table_cells, escape, slug, bib_keys, notebook_citations,
                       thesis_document, compile_latex)

ROOT = Path(__file__).resolve().parent.parent
FIG = Path(os.environ.get('E2C_FIGURES') or ROOT / 'figures')
BIB = ROOT / 'figures' / 'e2c.bib'


def metrics(): return json.loads((FIG / 'metrics.json').read_text())


def test_notebooks_cite_exactly_the_bibliography():
    cites = notebook_citations(ROOT / 'nbs')
    cited, bib = set().union(*cites.values()), bib_keys(BIB)
    assert len(bib) == len(set(bib)), f'duplicate keys in {BIB.name}'
    missing = {nb: sorted(k - set(bib)) for nb, k in cites.items() if k - set(bib)}
    assert not missing, f'cited in the notebooks but not in {BIB.name}: {missing}'
    assert not set(bib) - cited, f'in {BIB.name} but cited by no notebook: {sorted(set(bib) - cited)}'


def test_latex_outputs_are_current_and_captioned(tmp_path):
    "Regenerated from metrics.json, the tables and snippets are the committed ones, and nothing lacks a caption."
    shutil.copy(FIG / 'metrics.json', tmp_path / 'metrics.json')
    res = write_latex(tmp_path / 'metrics.json')
    assert res['problems'] == [], 'add caption entries to e2c.latex.CAPTIONS / rerun e2c-eval:\n' + '\n'.join(res['problems'])
    for folder in ('tables', 'snippets'):
        want = {p.name: p.read_text() for p in (tmp_path / folder).glob('*.tex')}
        have = {p.name: p.read_text() for p in (FIG / folder).glob('*.tex')}
        assert sorted(have) == sorted(want), f'{folder}/ does not match metrics.json: rerun e2c-eval'
        assert [n for n in want if have[n] != want[n]] == [], f'{folder}/ is stale: rerun e2c-eval'
    m = metrics()
    assert len(res['figures']) == len({Path(f).stem for f in m['figures'] if f.endswith('.pdf')}) > 0
    for p in res['figures']: assert (FIG / (p.stem + '.pdf')).exists(), p


def _cell_value(cell: str) -> float:
    assert re.fullmatch(r'(\$-\$)?\d+\.\d{%d}' % DIGITS, cell), f'not a {DIGITS}-decimal number: {cell!r}'
    return float(cell.replace('$-$', '-'))


def test_table_numbers_equal_metrics_json():
    m, n = metrics(), 0
    for name, df in metric_tables(m).items():
        rows = table_cells((FIG / 'tables' / f'{slug(name)}.tex').read_text())
        assert rows[0] == [''] + [escape(c) for c in df.columns], name
        assert [r[0] for r in rows[1:]] == [escape(i) for i in df.index], name
        for r, (key, vals) in zip(rows[1:], df.iterrows()):
            for cell, col in zip(r[1:], df.columns):
                v = vals[col]
                if isinstance(v, bool): assert cell == ('yes' if v else 'no'), (name, key, col)
                elif isinstance(v, int): assert int(cell.replace('{,}', '')) == v, (name, key, col)
                elif isinstance(v, float) and not math.isnan(v): assert _cell_value(cell) == round(v, DIGITS), (name, key, col, cell, v)
                elif v is None or isinstance(v, float): assert cell == '--', (name, key, col)
                else: assert cell == escape(v), (name, key, col)
                n += 1
    assert n > 50, f'only {n} table cells checked'


def test_tables_and_figures_compile_with_the_bibliography(tmp_path):
    missing = [t for t in ('pdflatex', 'bibtex') if not shutil.which(t)]
    if missing:
        msg = f"{' and '.join(missing)} not installed (Debian: apt-get install texlive-latex-recommended)"
        if os.environ.get('CI'): pytest.fail(msg + ': CI must install it (.ci/install)')
        pytest.skip(msg)
    doc = tmp_path / 'thesis.tex'
    doc.write_text(thesis_document(FIG, FIG, BIB, bib_keys(BIB)))
    problems = compile_latex(doc)
    assert problems == [], '\n'.join(problems)
    assert (tmp_path / 'thesis.pdf').read_bytes()[:5] == b'%PDF-'
    n = len(list((FIG / 'tables').glob('*.tex'))) + len(list((FIG / 'snippets').glob('*.tex')))
    assert doc.read_text().count(r'\input{') == n > 0
    bbl = (tmp_path / 'thesis.bbl').read_text()
    assert bbl.count(r'\bibitem') == len(bib_keys(BIB))
