"""A stand-in provincial one-stop API, run as its own process by the HTTP adapter tests.

    python onestop_server.py TOKEN        prints "PORT <n>" once listening on 127.0.0.1

It speaks a dialect unlike tongdai's (Vietnamese field names, nested applicant, dd/mm/yyyy
dates, text status codes), so the adapter's field and status mapping is exercised. The test
switches behaviour with POST /_mode/<mode>:

normal        answers from its data;            slow      sleeps SLOW_S, then answers;
error500      HTTP 500 with an HTML page;       malformed 200 with a truncated JSON body;
unknown       a status value it never had;      flaky     a 500 for one request, then normal.

GET /_stats returns {"requests": n}: requests to /dossiers since start.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

SLOW_S = 1.5

DOSSIERS = [
    {
        "MaHoSo": "000.00.14.H56-200203-0118",
        "TenThuTuc": "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        "MaThuTuc": "2.000591",
        "ChuHoSo": {"HoTen": "Công ty TNHH Biển Xanh", "SoDienThoai": "0912345678"},
        "NgayTiepNhan": "03/02/2020",
        "NgayHenTra": "2020-03-02T17:00:00",
        "TrangThai": "CHO_BO_SUNG",
        "DonViXuLy": "Sở Công thương",
        "supplements": [{"content": "Bổ sung bản vẽ mặt bằng", "requested_on": "2020-02-10"}],
    },
    {
        "MaHoSo": "000.00.15.H56-200203-0118",
        "TenThuTuc": "Đăng ký đất đai lần đầu",
        "MaThuTuc": "1.004227",
        "ChuHoSo": {"HoTen": "Trần Thị Lan", "SoDienThoai": "0987654321"},
        "NgayTiepNhan": "03/02/2020",
        "NgayHenTra": "",
        "TrangThai": "DA_TRA_KET_QUA",
        "DonViXuLy": "Sở Tài nguyên và Môi trường",
    },
]


class State:
    mode = "normal"
    requests = 0
    lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    token = ""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode())

    def do_POST(self) -> None:
        if self.path.startswith("/_mode/"):
            State.mode = self.path.removeprefix("/_mode/")
            self._json(200, {"mode": State.mode})
        else:
            self._json(404, {"error": "not found"})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/_stats":
            self._json(200, {"requests": State.requests})
            return
        with State.lock:
            State.requests += 1
            mode = State.mode
            if mode == "flaky":
                State.mode = "normal"
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._json(401, {"error": "bad token"})
            return
        if mode == "slow":
            time.sleep(SLOW_S)
        if mode in ("error500", "flaky"):
            self._send(500, b"<html>Internal Server Error</html>", "text/html")
            return
        if mode == "malformed":
            self._send(200, b'{"MaHoSo": "000.00.14.H56-200203-01')
            return
        items = [dict(d) for d in DOSSIERS]
        if mode == "unknown":
            for item in items:
                item["TrangThai"] = "TRANG_THAI_MOI_99"
        if url.path.startswith("/api/dossiers/"):
            code = unquote(url.path.removeprefix("/api/dossiers/"))
            found = [d for d in items if d["MaHoSo"] == code]
            if found:
                self._json(200, found[0])
            else:
                self._json(404, {"error": "no such dossier"})
        elif url.path == "/api/dossiers":
            tail = parse_qs(url.query).get("tail", [""])[0]
            found = [d for d in items if d["MaHoSo"].replace("-", "").endswith(tail)]
            self._json(200, {"items": found, "total": len(found)})
        else:
            self._json(404, {"error": "no route"})


def main() -> None:
    Handler.token = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
