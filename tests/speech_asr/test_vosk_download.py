"""The model download helper fails with a clear message, never a traceback: unreachable
server, something that is not a zip, a hostile archive, an archive without a model."""

from __future__ import annotations

import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from speech.vosk_engine import ModelDownloadError, download_model

PAYLOADS: dict[str, bytes] = {}


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAYLOADS.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    PAYLOADS.update(
        {
            "/junk.zip": b"<html>captive portal</html>",
            "/slip.zip": _zip({"../evil.txt": b"x"}),
            "/empty.zip": _zip({"readme/README": b"no model here"}),
        }
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_says_what_to_do(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/vosk-model-small-vn-0.4.zip"
    with pytest.raises(ModelDownloadError) as caught:
        download_model(tmp_path, url=url, timeout_s=5.0)
    message = str(caught.value)
    assert url in message
    assert "vosk-model-small-vn-0.4.zip" in message and "TONGDAI_SPEECH__VOSK_MODEL_DIR" in message


def test_not_found_and_not_a_zip(tmp_path: Path, server: str) -> None:
    with pytest.raises(ModelDownloadError, match="404"):
        download_model(tmp_path, url=f"{server}/missing.zip", timeout_s=5.0)
    with pytest.raises(ModelDownloadError, match="not a zip"):
        download_model(tmp_path, url=f"{server}/junk.zip", timeout_s=5.0)


def test_archive_entries_cannot_escape(tmp_path: Path, server: str) -> None:
    dest = tmp_path / "models"
    with pytest.raises(ModelDownloadError, match="outside"):
        download_model(dest, url=f"{server}/slip.zip", timeout_s=5.0)
    assert not (tmp_path / "evil.txt").exists()


def test_archive_without_a_model(tmp_path: Path, server: str) -> None:
    with pytest.raises(ModelDownloadError, match="no vosk model"):
        download_model(tmp_path, url=f"{server}/empty.zip", timeout_s=5.0)
