"""The package's shape: no import cycles between `e2c` modules (imports inside functions included),
no module over 450 lines, and each shared concept defined in one place."""
import ast, re
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / 'e2c'
MODULES = sorted(p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx'))


def e2c_imports(path: Path) -> set[str]:
    "The e2c modules `path` imports anywhere in its body (top level, functions, methods)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1: base = mod                      # from .x import y / from . import x
            elif node.level == 0 and (mod == 'e2c' or mod.startswith('e2c.')): base = mod[4:]
            else: continue
            if base: out.add(base.split('.')[0])
            else: out |= {a.name for a in node.names if a.name in MODULES}   # from . import train
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('e2c.')}
    return out & set(MODULES)


def graph() -> dict[str, set[str]]:
    return {m: e2c_imports(PKG / f'{m}.py') - {m} for m in MODULES}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    "One import cycle of `g` as a list of modules (first == last), or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 'open'; stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 'open': return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)): return c
        state[m] = 'done'; stack.pop()
    for m in sorted(g):
        if m not in state and (c := visit(m)): return c
    return None


def test_cycle_finder_finds_cycles():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set(), 'c': {'a', 'b'}}) is None


def test_import_walker_sees_function_level_imports(tmp_path):
    p = tmp_path / 'x.py'
    p.write_text('from .train import fit\nimport numpy\ndef f():\n    from e2c.affect import g\n    import e2c.model\n')
    assert e2c_imports(p) == {'train', 'affect', 'model'}


def test_no_import_cycles():
    c = find_cycle(graph())
    assert c is None, 'import cycle: ' + ' -> '.join(c)


def test_modules_are_short():
    long = {m: n for m in MODULES if (n := len((PKG / f'{m}.py').read_text().splitlines())) > 450}
    assert not long, f'modules over 450 lines: {long}'


ONCE = {  # a concept: a pattern that only its definition contains (all hits in one module)
    'hex encoding': r"06x|02x\}",
    'lightness sort': r"\[\.\.\., 0\]\.argsort|argsort\(labs|_sorted\(",
    'circumplex kernel': r"2 \* sigma \*\* 2|0\.25 \*\* 2",
    'probability check': r"def \w*check_probs",
    'file sha256': r"def \w*sha256_file",
    'Oklab output head': r"0\.5 \* (torch|np)\.tanh",
    'dropout lookup': r"trunk\[3\]\.p",
}


def test_concepts_defined_once():
    hits = {k: [f'{m}:{i}' for m in MODULES for i, line in enumerate((PKG / f'{m}.py').read_text().splitlines(), 1)
                if re.search(pat, line)] for k, pat in ONCE.items()}
    assert all(v and len({h.split(':')[0] for h in v}) == 1 for k, v in hits.items() if k != 'dropout lookup'), hits
    assert hits['dropout lookup'] == [], hits


def code_cell_lines() -> list[int]:
    "Lines of every code cell of the chapters (directives included)."
    import json
    nbs = sorted((PKG.parent / 'nbs').glob('[0-9]*.ipynb'))
    return [len(''.join(c['source']).strip().splitlines()) for nb in nbs for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']


def test_cells_are_small():
    "A median of at most 6 lines per code cell (fastcore's 01_basics has 4): one behaviour per cell."
    import statistics
    n = code_cell_lines()
    assert len(n) > 500 and statistics.median(n) <= 6, (len(n), statistics.median(n))
