"""Shared test helpers: a real tmpfs mount, for the tests of full disks and read-only folders."""
import contextlib, subprocess
from pathlib import Path
import pytest

@contextlib.contextmanager
def _mounted_tmpfs(path:Path, opts:str):
    "A real tmpfs at `path` (root only; the test is skipped where mounting is not allowed)."
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(path)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here: {r.stderr.strip()}')
    try: yield path
    finally: subprocess.run(['umount', '-l', str(path)], check=False)

@pytest.fixture
def mounted_tmpfs():
    "`mounted_tmpfs(path, opts)`: a context manager mounting a real tmpfs at `path` for the test."
    return _mounted_tmpfs
