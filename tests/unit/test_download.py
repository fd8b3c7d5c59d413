"""Reference-file downloads (s1's MSC rubric) from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s1flow.download import download_file, download_rubric
from s1flow.errors import InputFileError
from s1flow.judges import load_rubric
from s1flow.stages.labels import run_download_rubric


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence the default stderr log
        pass


@contextlib.contextmanager
def serve_dir(root: Path) -> Iterator[str]:
    """Serve the files under `root` over HTTP on 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


GOOD = [{"code": "11", "title": "Number theory", "descriptions": [" Primes"],
         "prompt": "### Number theory\n* Code: 11\n* Description: Primes"}]


@pytest.fixture
def site(tmp_path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "good.json").write_text(json.dumps(GOOD))
    (root / "page.html").write_text("<!DOCTYPE html><html><body>data/msc.json on GitHub</body></html>")
    (root / "object.json").write_text(json.dumps({"code": "11", "title": "Number theory"}))
    (root / "nokeys.json").write_text(json.dumps([{"code": "11", "title": "Number theory"}]))
    return root


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.realdata
def test_download_s1s_rubric(tmp_path, shared_data, site):
    shutil.copy(shared_data / "s1" / "msc.json", site / "msc.json")
    out = tmp_path / "resources" / "msc.json"
    with serve_dir(site) as url:
        assert download_rubric(f"{url}/msc.json", out) == out
    assert out.read_bytes() == (shared_data / "s1" / "msc.json").read_bytes()
    rubric = load_rubric(out)
    assert len(rubric) == 61 and leftovers(out.parent) == ["msc.json"]


def test_download_rubric_writes_the_file(tmp_path, site):
    out = tmp_path / "resources" / "msc.json"
    with serve_dir(site) as url:
        download_rubric(f"{url}/good.json", out)
    assert [r.code for r in load_rubric(out)] == ["11"]


@pytest.mark.parametrize("name, match", [
    ("page.html", "page.html: cannot read the rubric as JSON"),
    ("object.json", "object.json: the rubric must be a non-empty JSON list"),
    ("nokeys.json", r"nokeys.json: entry 0 \(code '11'\) lacks key\(s\) \['descriptions', 'prompt'\]"),
    ("missing.json", "GET http://127.0.0.1:[0-9]+/missing.json: HTTP 404"),
])
def test_bad_download_leaves_no_file(tmp_path, site, name, match):
    out = tmp_path / "resources" / "msc.json"
    with serve_dir(site) as url, pytest.raises(InputFileError, match=match):
        download_rubric(f"{url}/{name}", out)
    assert leftovers(out.parent) == []
    # a file already there is left as it was
    out.parent.mkdir(parents=True)
    out.write_text("mine")
    with serve_dir(site) as url, pytest.raises(InputFileError):
        download_rubric(f"{url}/{name}", out)
    assert out.read_text() == "mine" and leftovers(out.parent) == ["msc.json"]


def test_download_errors_name_the_config_key(tmp_path, site):
    out = tmp_path / "out" / "msc.json"
    with serve_dir(site) as url, pytest.raises(InputFileError, match="features.msc_rubric_url.*cannot read"):
        run_download_rubric(f"{url}/page.html", out)
    with pytest.raises(InputFileError, match="expected an http"):
        download_file("ftp://example.invalid/msc.json", out)
    assert leftovers(out.parent) == []


def test_unreachable_server_is_a_clear_error(tmp_path, site):
    with serve_dir(site) as url:
        pass  # the port is closed again
    out = tmp_path / "out" / "msc.json"
    with pytest.raises(InputFileError, match="cannot download"):
        download_file(f"{url}/good.json", out, timeout=5)
    assert leftovers(out.parent) == []
