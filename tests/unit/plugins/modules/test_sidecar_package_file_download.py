# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sidecar_package_file's download (open_download) from real servers on loopback: HTTP, and ftp,
which the module accepts (an ftp answer has no status). The lab's integration tests cover HTTP on a
VM; the lab serves no ftp."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._package import DownloadFailed
from ansible_collections.meshops.istio_vm.plugins.modules.sidecar_package_file import open_download

PACKAGE = b"!<arch>\n" + bytes(range(256)) * 64
REPLIES = {"USER": b"331 password\r\n", "PASS": b"230 logged in\r\n", "CWD": b"250 ok\r\n", "TYPE": b"200 ok\r\n"}


class FtpServer:
    """Just the ftp an urllib download speaks: anonymous login, CWD, TYPE I, PASV and RETR of one
    file, answered on loopback."""

    def __init__(self, files):
        self.files = files
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.listener.close()

    def _serve(self):
        try:
            control, _peer = self.listener.accept()
        except OSError:
            return
        with control, control.makefile("rwb", buffering=0) as stream:
            stream.write(b"220 ready\r\n")
            data = None
            for line in stream:
                command, _space, argument = line.decode().strip().partition(" ")
                command = command.upper()
                if command in REPLIES:
                    stream.write(REPLIES[command])
                elif command == "PASV":
                    data = socket.create_server(("127.0.0.1", 0))
                    port = data.getsockname()[1]
                    stream.write(b"227 Entering Passive Mode (127,0,0,1,%d,%d)\r\n" % (port >> 8, port & 255))
                elif command == "RETR" and argument.lstrip("/") in self.files:
                    body = self.files[argument.lstrip("/")]
                    stream.write(b"150 Opening BINARY mode data connection (%d bytes)\r\n" % len(body))
                    connection, _peer = data.accept()
                    with connection:
                        connection.sendall(body)
                    data.close()
                    stream.write(b"226 done\r\n")
                elif command == "QUIT":
                    stream.write(b"221 bye\r\n")
                    return
                else:
                    stream.write(b"550 no\r\n")


@pytest.fixture(name="http_url")
def fixture_http_url(no_proxy_env):  # pylint: disable=unused-argument

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/istio-sidecar.deb":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(PACKAGE)))
            self.end_headers()
            self.wfile.write(PACKAGE)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_http(http_url):
    assert b"".join(open_download(http_url + "/istio-sidecar.deb", 5)) == PACKAGE
    with pytest.raises(DownloadFailed) as failed:
        open_download(http_url + "/other.deb", 5)
    assert (failed.value.message, failed.value.status) == ("Request failed", 404)


@pytest.mark.usefixtures("no_proxy_env")
def test_ftp():
    with FtpServer({"istio-sidecar.deb": PACKAGE}) as server:
        chunks = open_download("ftp://127.0.0.1:%d/istio-sidecar.deb" % server.port, 5)
        assert b"".join(chunks) == PACKAGE
