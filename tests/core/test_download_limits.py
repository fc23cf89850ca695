"""Downloads against a misbehaving loopback server the test runs: endless and lying bodies,
trickles, redirects to plain HTTP and loops, file:// to a device, cached files without a record.

Every server response is bounded (it stops on its own after a few MB or seconds), so a test that
fails does so quickly instead of filling the disk or hanging.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.core.checkpoint import from_pretrained
from gankit.core.download import DownloadLimits, check_url, download_file, record_path
from gankit.core.errors import BadInputError, GankitError, MissingWeightsError

PAYLOAD = b"the published file\n" * 10


class _Misbehaving(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: bytes, length: int | None) -> None:
        self.send_response(200)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        port = self.server.server_address[1]
        path = self.path.split("?")[0]
        if path.endswith("/good"):
            self._send(PAYLOAD, len(PAYLOAD))
        elif path.endswith("/endless") or path.endswith("/config.json"):
            self.send_response(200)
            self.end_headers()
            self.close_connection = True
            chunk = b"{" * 65536
            for _ in range(128):  # 8 MB, then the server gives up
                self.wfile.write(chunk)
        elif path.endswith("/liar"):
            self._send(b"ok", 100)
            self.close_connection = True
        elif path.endswith("/huge"):
            self._send(b"ok", 10**15)
            self.close_connection = True
        elif path.endswith("/trickle"):
            self.send_response(200)
            self.send_header("Content-Length", "60")
            self.end_headers()
            for _ in range(60):  # 12 s at most
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        elif "/to-plain-http" in path:
            self._redirect(f"http://0.0.0.0:{port}/good")  # not loopback, yet reachable here
        elif path.endswith("/redirect-with-trickling-body"):
            self.send_response(302)
            self.send_header("Location", "/good")
            self.end_headers()
            for _ in range(60):  # 12 s at most
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        elif path.endswith("/loop"):
            self._redirect(path)
        else:
            self.send_error(404)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hanging up on an endless body is the point of these tests


@pytest.fixture(scope="module")
def base():
    httpd = _Server(("127.0.0.1", 0), _Misbehaving)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _nothing_kept(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_endless_body_is_cut_at_the_cap(base, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DOWNLOAD_MAX_BYTES", str(1 << 20))
    with pytest.raises(BadInputError, match="GANKIT_DOWNLOAD_MAX_BYTES"):
        download_file(f"{base}/endless", tmp_path / "c" / "w.bin", progress=False)
    assert _nothing_kept(tmp_path / "c")


def test_config_of_a_url_model_is_capped_by_its_kind(base, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BadInputError, match="limit") as err:
        from_pretrained(f"{base}/model")  # config.json: an 8 MB stream, over the 4 MB cap
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "cache").rglob("config.json"))


def test_file_url_to_a_device_is_refused(tmp_path):
    # A child with a 32 MB file-size limit: without the check it would write /dev/zero forever.
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (32 << 20, 32 << 20))\n"
        "from gankit.core.download import download_file\n"
        "from gankit.core.errors import GankitError\n"
        "try:\n    download_file('file:///dev/zero', sys.argv[1], progress=False)\n"
        "except GankitError as err:\n    sys.exit(f'error: {err}')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "c" / "zero.bin")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 1 and "not a regular file" in proc.stderr, proc.stderr[-500:]
    assert _nothing_kept(tmp_path / "c")


def test_short_body_is_not_kept(base, tmp_path):
    dest = tmp_path / "c" / "w.bin"
    with pytest.raises(MissingWeightsError, match="incomplete download .2 of the 100 bytes"):
        download_file(f"{base}/liar", dest, progress=False)
    assert _nothing_kept(tmp_path / "c")


def test_declared_size_over_the_cap_or_the_free_space_is_refused_first(base, tmp_path, monkeypatch):
    dest = tmp_path / "c" / "w.bin"
    with pytest.raises(BadInputError, match="declares 1000000000000000 bytes"):
        download_file(f"{base}/huge", dest, progress=False)
    monkeypatch.setenv("GANKIT_DOWNLOAD_MAX_BYTES", str(10**16))
    with pytest.raises(MissingWeightsError, match="needs 1000000000000000 bytes but"):
        download_file(f"{base}/huge", dest, progress=False)
    assert _nothing_kept(tmp_path / "c")


def test_complete_download_records_its_sha256_and_the_cache_is_verified(base, tmp_path):
    dest = tmp_path / "c" / "w.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"ok")  # a cached file with no record (e.g. an earlier partial download)
    download_file(f"{base}/good", dest, progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert record_path(dest).read_text().strip() == hashlib.sha256(PAYLOAD).hexdigest()
    dest.write_bytes(PAYLOAD[:-1])  # the cached copy no longer matches its record
    download_file(f"{base}/good", dest, progress=False)
    assert dest.read_bytes() == PAYLOAD
    # a record-matching cache is used without the server
    assert download_file(f"{base}/absent", dest, progress=False) == dest


def test_trickle_stops_at_the_deadline(base, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DOWNLOAD_DEADLINE", "1.5")
    t0 = time.monotonic()
    with pytest.raises(MissingWeightsError, match="not finished after 1.5 s"):
        download_file(f"{base}/trickle", tmp_path / "c" / "w.bin", progress=False)
    assert time.monotonic() - t0 < 4
    assert _nothing_kept(tmp_path / "c")


def test_trickle_stops_below_the_minimum_rate(base, tmp_path):
    limits = DownloadLimits(max_bytes=1 << 20, deadline_s=60, min_rate=100, rate_window_s=0.8)
    t0 = time.monotonic()
    with pytest.raises(MissingWeightsError, match=r"bytes/s over 0.8 s, below the minimum"):
        download_file(f"{base}/trickle", tmp_path / "c" / "w.bin", progress=False, limits=limits)
    assert time.monotonic() - t0 < 4


def test_bad_limit_settings_are_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_DOWNLOAD_MIN_RATE", "fast")
    with pytest.raises(GankitError, match="GANKIT_DOWNLOAD_MIN_RATE='fast'"):
        download_file("https://example.invalid/x", tmp_path / "x", progress=False)


def test_every_redirect_hop_is_checked(base, tmp_path):
    with pytest.raises(BadInputError, match=r"0\.0\.0\.0.*redirected from .*use https"):
        download_file(f"{base}/to-plain-http", tmp_path / "c" / "w.bin", progress=False)
    assert _nothing_kept(tmp_path / "c")


def test_redirect_to_loopback_http_only_from_loopback_http():
    check_url("http://127.0.0.1:8000/b", redirected_from="http://localhost/a")
    with pytest.raises(BadInputError, match="redirected from https://example.org/a"):
        check_url("http://127.0.0.1:8000/b", redirected_from="https://example.org/a")
    with pytest.raises(BadInputError, match="use https"):
        check_url("file:///etc/passwd", redirected_from="http://127.0.0.1/a")


def test_a_redirect_body_is_not_read(base, tmp_path):
    t0 = time.monotonic()
    dest = download_file(f"{base}/redirect-with-trickling-body", tmp_path / "w.bin", progress=False)
    assert dest.read_bytes() == PAYLOAD and time.monotonic() - t0 < 3


def test_redirect_loop_is_one_line_exit_2(base, tmp_path, monkeypatch, capsys):
    with pytest.raises(BadInputError, match="more than 10 redirects"):
        download_file(f"{base}/loop", tmp_path / "c" / "w.bin", progress=False)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    assert main(["pggan", "download", f"{base}/loop", "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "redirects" in err and "\n" not in err


def test_vgg19_weights_come_through_the_same_checks(base, tmp_path, monkeypatch):
    from gankit.losses import perceptual

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(perceptual, "VGG19_URL", f"{base}/to-plain-http/vgg19-dcbb9e9d.pth")
    with pytest.raises(MissingWeightsError, match="VGG19.*0\\.0\\.0\\.0.*use https"):
        perceptual.vgg19_conv4_4(progress=False)
    assert _nothing_kept(tmp_path / "torch")
