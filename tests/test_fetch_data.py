"""`e2c-fetch-data` against a real HTTP server on 127.0.0.1 (an ephemeral port) serving synthetic files from a temp dir.

The server supports `Range` (or not, per test), can cut a response short, and logs every request, so the tests
check what went over the wire as well as what ended up on disk.
"""
import hashlib, re, shutil, socket, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from e2c.fetch import E2C_KNOWN, FetchError, e2c_fetch_data, fetch_data, fetch_file
from e2c.files import SUMS_FILE, sha256_file
from e2c.data import load_e2c, OKLAB_COLS


class Handler(BaseHTTPRequestHandler):
    "Serve files from `server.root`; honour `Range` when `server.range_ok`; cut bodies to `server.truncate[name]` bytes."
    def do_GET(self):
        srv, name = self.server, self.path.lstrip('/')
        rng = self.headers.get('Range')
        p = srv.root/name
        if not p.is_file():
            srv.log.append((name, rng, 404, 0)); self.send_error(404, 'File not found'); return
        data, start = p.read_bytes(), 0
        if rng and srv.range_ok:
            start = int(re.fullmatch(r'bytes=(\d+)-', rng)[1])
            if start >= len(data):
                srv.log.append((name, rng, 416, 0))
                self.send_response(416); self.send_header('Content-Range', f'bytes */{len(data)}')
                self.send_header('Content-Length', '0'); self.end_headers(); return
            self.send_response(206); self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else: self.send_response(200)
        body = data[start:]
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        sent = body[:srv.truncate[name]] if name in srv.truncate else body
        self.wfile.write(sent)
        srv.log.append((name, rng, 206 if start else 200, len(sent)))

    def log_message(self, *a): pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path/'upstream'; root.mkdir()
    srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    srv.root, srv.range_ok, srv.truncate, srv.log = root, True, {}, []
    srv.url = f'http://127.0.0.1:{srv.server_address[1]}/'
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True); t.start()
    yield srv
    srv.shutdown(); srv.server_close(); t.join(5)


def e2c_csv(n, seed=0) -> bytes:
    "A synthetic EmotionsToColor-format CSV of `n` rows (valid Oklab ranges, non-empty texts)."
    rng = np.random.default_rng(seed)
    lab = np.c_[rng.uniform(0, 1, (n, 5, 1)), rng.uniform(-0.3, 0.3, (n, 5, 2))].reshape(n, 15)
    rows = [','.join(f'{v:.4f}' for v in r) + f',"palette number {i}, synthetic",1.0' for i, r in enumerate(lab)]
    return ('\n'.join([','.join(OKLAB_COLS + ['text', 'weight'])] + rows) + '\n').encode()


def put(srv, name, data: bytes):
    (srv.root/name).write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def test_good_download_verified_and_loadable(server, tmp_path, monkeypatch):
    sha, size = put(server, 'train.csv', e2c_csv(2000))
    dest = tmp_path/'data'/'emotionstocolor'
    [r] = fetch_data(dest, server.url, ['train.csv'], known={'train.csv': (sha, size)}, progress=False)
    assert (r.status, r.size, r.sha256, r.verified) == ('downloaded', size, sha, 'size and sha256 match')
    assert sha256_file(dest/'train.csv') == sha
    assert sorted(p.name for p in dest.iterdir()) == [SUMS_FILE, 'train.csv']   # no temp file left behind
    assert (dest/SUMS_FILE).read_text() == f'{sha}  train.csv\n'
    assert server.log == [('train.csv', None, 200, size)]
    monkeypatch.setenv('E2C_DATA', str(tmp_path/'data'))
    ps = load_e2c('train')
    assert len(ps) == 2000 and ps.counts() == {'e2c_train': 2000}


def test_resume_partial_with_range(server, tmp_path):
    data = e2c_csv(3000)
    sha, size = put(server, 'train.csv', data)
    (tmp_path/'train.csv.part').write_bytes(data[:12345])
    r = fetch_file(server.url + 'train.csv', tmp_path/'train.csv', sha, size, progress=False)
    assert r.status == 'resumed'
    assert server.log == [('train.csv', 'bytes=12345-', 206, size - 12345)]   # only the rest went over the wire
    assert sha256_file(tmp_path/'train.csv') == sha and not (tmp_path/'train.csv.part').exists()


def test_resume_without_known_checksum_records_sum(server, tmp_path):
    data = e2c_csv(500)
    sha, size = put(server, 'test.csv', data)
    (tmp_path/'test.csv.part').write_bytes(data[:100])
    r = fetch_file(server.url + 'test.csv', tmp_path/'test.csv', progress=False)
    assert (r.status, r.sha256) == ('resumed', sha)
    assert f'{sha}  test.csv' in (tmp_path/SUMS_FILE).read_text()


def test_server_without_range_support_redownloads(server, tmp_path):
    server.range_ok = False
    data = e2c_csv(1000)
    sha, size = put(server, 'train.csv', data)
    (tmp_path/'train.csv.part').write_bytes(data[:5000])
    r = fetch_file(server.url + 'train.csv', tmp_path/'train.csv', sha, size, progress=False)
    assert r.status == 'downloaded'
    assert server.log == [('train.csv', 'bytes=5000-', 200, size)]   # asked for a range, got (and took) the whole file
    assert sha256_file(tmp_path/'train.csv') == sha


def test_corrupt_partial_is_downloaded_again(server, tmp_path):
    data = e2c_csv(1000)
    sha, size = put(server, 'train.csv', data)
    (tmp_path/'train.csv.part').write_bytes(b'X' * 4000)   # right length for a prefix, wrong bytes
    r = fetch_file(server.url + 'train.csv', tmp_path/'train.csv', sha, size, progress=False)
    assert r.status == 'downloaded'
    assert [(rng, code) for _, rng, code, _ in server.log] == [('bytes=4000-', 206), (None, 200)]
    assert sha256_file(tmp_path/'train.csv') == sha


def test_partial_longer_than_file(server, tmp_path):
    data = e2c_csv(200)
    sha, size = put(server, 'val.csv', data)
    # known size: discarded before asking; unknown size: the server answers 416 and we start over
    (tmp_path/'a'/'val.csv.part').parent.mkdir(); (tmp_path/'a'/'val.csv.part').write_bytes(data + b'junk')
    assert fetch_file(server.url + 'val.csv', tmp_path/'a'/'val.csv', sha, size, progress=False).status == 'downloaded'
    assert server.log == [('val.csv', None, 200, size)]
    server.log.clear()
    (tmp_path/'b'/'val.csv.part').parent.mkdir(); (tmp_path/'b'/'val.csv.part').write_bytes(data + b'junk')
    assert fetch_file(server.url + 'val.csv', tmp_path/'b'/'val.csv', progress=False).status == 'downloaded'
    assert [(rng, code) for _, rng, code, _ in server.log] == [(f'bytes={size + 4}-', 416), (None, 200)]
    assert sha256_file(tmp_path/'b'/'val.csv') == sha


def test_truncated_response_keeps_partial_then_resumes(server, tmp_path):
    data = e2c_csv(2000)
    sha, size = put(server, 'train.csv', data)
    server.truncate['train.csv'] = 7000
    with pytest.raises(FetchError, match=rf'train.csv: download interrupted after 7,000 of {size:,} bytes; run again to resume'):
        fetch_file(server.url + 'train.csv', tmp_path/'train.csv', progress=False)
    assert not (tmp_path/'train.csv').exists()                      # no final file
    assert (tmp_path/'train.csv.part').stat().st_size == 7000        # the partial is kept for resuming
    del server.truncate['train.csv']
    r = fetch_file(server.url + 'train.csv', tmp_path/'train.csv', progress=False)
    assert r.status == 'resumed' and server.log[-1] == ('train.csv', 'bytes=7000-', 206, size - 7000)
    assert sha256_file(tmp_path/'train.csv') == sha


def test_wrong_size_is_refused_and_deleted(server, tmp_path):
    data = e2c_csv(300)
    sha, size = put(server, 'val.csv', data[:-10])   # the server's copy is short, but consistently so
    with pytest.raises(FetchError, match=rf'val.csv: the download does not verify \(size {size:,} bytes, expected {size + 10:,}\); it was deleted'):
        fetch_file(server.url + 'val.csv', tmp_path/'val.csv', hashlib.sha256(data).hexdigest(), size + 10, progress=False)
    assert list(tmp_path.glob('val.csv*')) == [] and not (tmp_path/SUMS_FILE).exists()


def test_wrong_sha_leaves_existing_good_file_untouched(server, tmp_path):
    good = e2c_csv(300)
    (tmp_path/'val.csv').write_bytes(good)
    put(server, 'val.csv', e2c_csv(300, seed=1)[:len(good)].ljust(len(good), b'\n'))   # same size, other bytes
    known = {'val.csv': (hashlib.sha256(good).hexdigest(), len(good))}
    with pytest.raises(FetchError, match=r'does not verify \(sha256 .*the existing file was left untouched'):
        fetch_data(tmp_path, server.url, ['val.csv'], known=known, force=True, progress=False)
    assert (tmp_path/'val.csv').read_bytes() == good and not (tmp_path/'val.csv.part').exists()


def test_default_checksum_refuses_a_fake_val_csv(server, tmp_path):
    put(server, 'val.csv', e2c_csv(10))   # not the upstream val.csv, whose sha256 and size are pinned
    with pytest.raises(FetchError, match=rf"size [\d,]+ bytes, expected {E2C_KNOWN['val.csv'][1]:,}"):
        fetch_data(tmp_path/'d', server.url, ['val.csv'], progress=False)
    assert list((tmp_path/'d').iterdir()) == []


def test_404_is_one_clear_line(server, tmp_path):
    with pytest.raises(FetchError) as ei:
        fetch_data(tmp_path/'d', server.url, ['train.csv'], progress=False)
    msg = str(ei.value)
    assert msg == f'{server.url}train.csv: HTTP 404 File not found: no such file at this URL (check --base-url and --files)'
    assert list((tmp_path/'d').iterdir()) == []


def test_connection_refused(tmp_path):
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]   # closed again: nobody listens
    with pytest.raises(FetchError, match=rf'cannot reach http://127.0.0.1:{port}/train.csv: .*refused'):
        fetch_data(tmp_path, f'http://127.0.0.1:{port}/', ['train.csv'], timeout=5, progress=False)


def test_present_files_are_skipped(server, tmp_path):
    sha, size = put(server, 'train.csv', e2c_csv(100))
    fetch_data(tmp_path, server.url, ['train.csv'], progress=False)
    n = len(server.log)
    [r] = fetch_data(tmp_path, server.url, ['train.csv'], progress=False)     # verified against SHA256SUMS
    assert (r.status, r.verified) == ('skipped', 'present and verified') and len(server.log) == n
    (tmp_path/'other.csv').write_bytes(b'a,b\n1,2\n')                          # no checksum anywhere: kept, said so
    put(server, 'other.csv', b'x,y\n')
    [r] = fetch_data(tmp_path, server.url, ['other.csv'], progress=False)
    assert r.status == 'skipped' and 'no checksum known' in r.verified and len(server.log) == n
    (tmp_path/'train.csv').write_bytes(b'damaged')                             # fails its recorded sum: fetched again
    [r] = fetch_data(tmp_path, server.url, ['train.csv'], progress=False)
    assert r.status == 'downloaded' and sha256_file(tmp_path/'train.csv') == sha


def test_fetch_data_carries_on_past_a_failure(server, tmp_path):
    put(server, 'test.csv', e2c_csv(50))
    with pytest.raises(FetchError) as ei:
        fetch_data(tmp_path, server.url, ['nope.csv', 'test.csv'], progress=False)
    assert len(ei.value.errors) == 1 and 'nope.csv: HTTP 404' in ei.value.errors[0]
    assert [r.name for r in ei.value.results] == ['test.csv'] and (tmp_path/'test.csv').is_file()


def _cli(tmp_path):
    "The installed console script, or (for a checkout without one) a copy of what pip generates."
    exe = Path(sys.executable).parent/'e2c-fetch-data'
    if exe.is_file(): return [sys.executable, str(exe)]
    runner = tmp_path/'e2c-fetch-data'
    runner.write_text('import sys\nfrom e2c.fetch import e2c_fetch_data\nif __name__ == "__main__":\n    sys.exit(e2c_fetch_data())\n')
    return [sys.executable, str(runner)]


def test_cli_subprocess(server, tmp_path):
    cmd = _cli(tmp_path)
    h = subprocess.run(cmd + ['--help'], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0 and all(s in h.stdout for s in ('--base-url', '--no-resume', '--force', 'sha256', 'E2C_DATA'))
    sha, _ = put(server, 'train.csv', e2c_csv(100))
    ok = subprocess.run(cmd + ['--base-url', server.url, '--dest', str(tmp_path/'d'), '--files', 'train.csv', '--quiet'],
                        capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, '', '')
    assert sha256_file(tmp_path/'d'/'train.csv') == sha
    bad = subprocess.run(cmd + ['--base-url', server.url, '--dest', str(tmp_path/'d'), '--files', 'missing.csv'],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr
    assert bad.stderr.splitlines() == [f'e2c-fetch-data: error: {server.url}missing.csv: HTTP 404 File not found: '
                                       'no such file at this URL (check --base-url and --files)']


def test_cli_as_a_function(server, tmp_path, capsys):
    put(server, 'train.csv', e2c_csv(20))
    assert e2c_fetch_data(dest=str(tmp_path), base_url=server.url, files='train.csv', quiet=True) == 0
    assert e2c_fetch_data(dest=str(tmp_path), base_url=server.url, files='train.csv') == 0
    assert 'train.csv: skipped' in capsys.readouterr().out
    assert e2c_fetch_data(dest=str(tmp_path), base_url=server.url, files=' , ') == 2
    assert capsys.readouterr().err == 'e2c-fetch-data: error: --files names no file; list them comma-separated, e.g. --files train.csv,val.csv\n'


def test_file_names_cannot_leave_dest(server, tmp_path, capsys):
    "--files ../x.csv (or an absolute path) would write outside --dest: refused with one line, exit 2, nothing written."
    put(server, 'x.csv', e2c_csv(5))
    work = tmp_path/'work'; work.mkdir(); dest = work/'a'/'b'/'dest'
    for names in ('../../x.csv', '../x.csv', str(work/'x.csv'), 'sub/x.csv', '.x.csv', 'x.csv\0'):
        assert e2c_fetch_data(dest=str(dest), base_url=server.url, files=names, quiet=True) == 2, names
        err = capsys.readouterr().err
        assert err.startswith('e2c-fetch-data: error: --files: ') and 'is not a plain file name' in err and err.count('\n') == 1, err
    with pytest.raises(ValueError, match='not a plain file name'): fetch_data(dest, server.url, ['../../x.csv'], progress=False)
    assert list(work.rglob('*')) == []     # nothing anywhere: not even dest was made


def test_a_full_disk_is_one_line_and_resumable(server, tmp_path, capsys):
    "A real 64 KiB tmpfs as --dest (root only; skipped where mounting is not allowed): one line saying so, the partial file kept."
    put(server, 'big.csv', e2c_csv(3000))                   # a few hundred KiB
    mnt = tmp_path/'full'; mnt.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mnt)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here: {r.stderr.strip()}')
    try:
        assert e2c_fetch_data(dest=str(mnt), base_url=server.url, files='big.csv', quiet=True) == 1
        err = capsys.readouterr().err
        assert err.count('\n') == 1 and 'Traceback' not in err, err
        assert err.startswith('e2c-fetch-data: error: big.csv: No space left on device after ') and 'free some space and run again to resume' in err, err
        assert [p.name for p in mnt.iterdir()] == ['big.csv.part']
    finally: subprocess.run(['umount', '-l', str(mnt)], check=False)
