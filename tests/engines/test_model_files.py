"""The YuNet detector file: --models-dir, the download cache, and the sha256 check that keeps a
wrong or tampered file from ever being used. Downloads come from a server on 127.0.0.1 (tests
never reach the network)."""
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from auvid.io import model_files
from auvid.errors import ModelError
from tests.conftest import MODELS, clip, needs_shared, read_csv, run_cli

WRONG = Path(__file__).read_bytes()  # any bytes that are not the detector


@contextmanager
def serving(payload: bytes):
    """A local HTTP server answering every GET with ``payload``; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        requests = 0

        def do_GET(self):  # noqa: N802  (http.server's naming)
            Handler.requests += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{model_files.YUNET.name}", Handler
    finally:
        server.shutdown()
        server.server_close()


def _local(url: str) -> model_files.ModelFile:
    return model_files.ModelFile(model_files.YUNET.name, model_files.YUNET.sha256, url)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("AUVID_MODELS_DIR", raising=False)
    monkeypatch.setenv("AUVID_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_download_with_the_wrong_sha256_is_refused_and_not_kept(empty_cache):
    with serving(WRONG) as (url, handler):
        with pytest.raises(ModelError, match="sha256"):
            model_files.resolve(_local(url))
        assert handler.requests == 1
    assert not empty_cache.exists() or list(empty_cache.iterdir()) == []  # neither the file nor a .part


def test_a_tampered_cached_file_is_never_used(empty_cache):
    empty_cache.mkdir(parents=True)
    (empty_cache / model_files.YUNET.name).write_bytes(WRONG)
    with serving(WRONG) as (url, handler):
        with pytest.raises(ModelError, match="sha256.*delete it"):
            model_files.resolve(_local(url))
        assert handler.requests == 0  # refused, not silently re-downloaded over


@needs_shared
def test_the_right_file_is_downloaded_once_then_read_from_the_cache(empty_cache):
    good = (MODELS / model_files.YUNET.name).read_bytes()
    with serving(good) as (url, handler):
        path = model_files.resolve(_local(url))
        assert path == empty_cache / model_files.YUNET.name and path.read_bytes() == good
        assert model_files.resolve(_local(url)) == path
        assert handler.requests == 1
    assert sorted(p.name for p in empty_cache.iterdir()) == [model_files.YUNET.name]


@needs_shared
def test_models_dir_through_the_cli(tmp_path):
    """--models-dir is used, and only a good copy in it: with no AUVID_MODELS_DIR and an empty
    cache, a folder without the file or with a tampered one is a one-line error, not a download."""
    no_env = {"AUVID_MODELS_DIR": None, "AUVID_CACHE_DIR": str(tmp_path / "cache")}
    good, empty, bad = tmp_path / "good", tmp_path / "empty", tmp_path / "bad"
    for folder in (good, empty, bad):
        folder.mkdir()
    (good / model_files.YUNET.name).write_bytes((MODELS / model_files.YUNET.name).read_bytes())
    (bad / model_files.YUNET.name).write_bytes(WRONG)
    out = tmp_path / "a.csv"
    result = run_cli("process", str(clip("single_face.mp4")), "--out", str(out), "--quiet", "--models-dir", str(good),
                     env=no_env)
    assert result.returncode == 0, result.stderr
    assert read_csv(out)["success"].all()
    for folder, message in ((empty, "not found in"), (bad, "sha256")):
        result = run_cli("process", str(clip("single_face.mp4")), "--out", str(tmp_path / "b.csv"),
                         "--models-dir", str(folder), env=no_env)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "cache").exists()  # nothing was fetched
