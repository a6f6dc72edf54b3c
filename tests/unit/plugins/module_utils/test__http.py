# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_http.get against a real HTTP server on loopback, answer by answer the same as Ansible's own
fetch_url, and without the module's temporary directory; proxies from the environment taken as
fetch_url takes them, except by the readiness ask (_vmstate.ask_ready), which never takes one."""
from __future__ import annotations

import gzip
import os
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from ansible.module_utils import urls
from ansible.module_utils.urls import fetch_url, make_context
from cryptography.hazmat.primitives import serialization

from ansible_collections.meshops.istio_vm.plugins.module_utils._http import _context, get
from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import ask_ready
from ansible_collections.meshops.istio_vm.tests.unit.plugins.module_utils.certs import make

BODY = b"istio-sidecar"
# path -> (status, headers, body)
ANSWERS = {
    "/ok": (200, [("Content-Length", str(len(BODY))), ("X-Mesh", "a"), ("X-Mesh", "b")], BODY),
    "/missing": (404, [("Content-Length", "0")], b""),
    "/unready": (503, [("Content-Length", "4")], b"down"),
    "/gzip": (200, [("Content-Encoding", "gzip")], gzip.compress(BODY)),
    "/moved": (302, [("Location", "/ok"), ("Content-Length", "0")], b""),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/stall":
            self.server.stalled.wait(5)
            return
        status, headers, body = ANSWERS[self.path]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(name="server")
def fixture_server(no_proxy_env):  # pylint: disable=unused-argument
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    httpd.stalled = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_port
    httpd.stalled.set()
    httpd.shutdown()
    httpd.server_close()


class FetchModule:
    """What fetch_url reads of an AnsibleModule without URL options: the baseline to compare with."""

    def __init__(self, tmpdir):
        self.params = {}
        self.tmpdir = tmpdir

    def fail_json(self, **kwargs):
        raise AssertionError("fetch_url ended the module: %s" % kwargs)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("path,status,msg", [
    ("/ok", 200, "OK (13 bytes)"),
    ("/missing", 404, "HTTP Error 404: Not Found"),
    ("/unready", 503, "HTTP Error 503: Service Unavailable"),
    ("/gzip", 200, "OK (unknown bytes)"),
    ("/moved", 200, "OK (13 bytes)"),          # redirects followed
])
def test_answers_as_fetch_url_answers(server, tmp_path, path, status, msg):
    response, info = get(server + path, 5)
    expected_response, expected = fetch_url(FetchModule(str(tmp_path)), server + path, timeout=5)
    assert (info["status"], info["msg"]) == (status, msg)
    assert {k: v for k, v in info.items() if k not in ("date", "cookies", "cookies_string", "body")} == \
        {k: v for k, v in expected.items() if k not in ("date", "cookies", "cookies_string", "body")}
    if status == 200:
        assert response.read() == expected_response.read() == BODY        # gzip decoded
        response.close()
        expected_response.close()
    else:       # the HTTPError, closed, as fetch_url gives it
        assert type(response) is type(expected_response) is urllib.error.HTTPError and response.code == status
    assert list(tmp_path.iterdir()) == []


def test_a_repeated_header_is_joined(server):
    response, info = get(server + "/ok", 5)
    response.close()
    assert info["x-mesh"] == "a, b" and info["content-length"] == "13"


def test_no_answer(server, tmp_path):
    url = "http://127.0.0.1:%d/" % closed_port()
    response, info = get(url, 5)
    expected_response, expected = fetch_url(FetchModule(str(tmp_path)), url, timeout=5)
    assert response is None and expected_response is None and info["status"] == -1
    assert info["msg"] == expected["msg"] and info["msg"].startswith("Request failed: <urlopen error")


def test_a_stalled_answer_times_out(server, tmp_path):
    response, info = get(server + "/stall", 0.5)
    expected_response, expected = fetch_url(FetchModule(str(tmp_path)), server + "/stall", timeout=0.5)
    assert response is None and expected_response is None and info["status"] == -1
    assert info["msg"] == expected["msg"] == "Connection failure: timed out"


def test_a_bad_url_is_an_answer_not_the_end_of_the_module():
    response, info = get("nowhere/istio-sidecar.deb", 5)
    assert response is None and info["status"] == -1 and info["msg"] == "unknown url type: 'nowhere/istio-sidecar.deb'"


@pytest.fixture(name="dead_proxy")
def fixture_dead_proxy(no_proxy_env, monkeypatch):  # pylint: disable=unused-argument
    """A proxy from the environment that answers nothing (a closed port on loopback)."""
    proxy = "http://127.0.0.1:%d" % closed_port()
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def test_proxies_from_the_environment_are_used_as_fetch_url_uses_them(server, dead_proxy, tmp_path):
    response, info = get(server + "/ok", 5)
    expected_response, expected = fetch_url(FetchModule(str(tmp_path)), server + "/ok", timeout=5)
    assert response is None and expected_response is None and info["status"] == -1
    assert info["msg"] == expected["msg"] and "Connection refused" in info["msg"], (dead_proxy, info)


def test_without_proxy_the_request_goes_straight_to_the_server(server, dead_proxy):
    response, info = get(server + "/ok", 5, use_proxy=False)
    response.close()
    assert (info["status"], info["msg"]) == (200, "OK (13 bytes)"), (dead_proxy, info)


def test_the_readiness_ask_never_takes_a_proxy(server, dead_proxy):
    assert ask_ready(server + "/ok", 5) == {"status": 200, "msg": "OK (13 bytes)"}, dead_proxy
    assert ask_ready(server + "/unready", 5)["status"] == 503


@pytest.fixture(name="tls_server")
def fixture_tls_server(no_proxy_env, tmp_path):  # pylint: disable=unused-argument
    """An HTTPS server on loopback whose certificate no system CA signed."""
    cert = make("meshops-test", ca=False)
    (tmp_path / "cert.pem").write_text(cert.pem)
    (tmp_path / "key.pem").write_bytes(cert.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "https://127.0.0.1:%d" % httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_one_tls_context_checks_the_certificate_of_every_request_of_the_process(tls_server, tmp_path, monkeypatch):
    # open_url builds a context for each request; get builds one for all, and it checks certificates alike
    expected_response, expected = fetch_url(FetchModule(str(tmp_path / "fetch")), tls_server + "/ok", timeout=5)
    assert expected_response is None and "CERTIFICATE_VERIFY_FAILED" in expected["msg"], expected
    built = []
    monkeypatch.setattr(urls, "make_context", lambda *args, **kwargs: built.append(1) or make_context(*args, **kwargs))
    _context.cache_clear()
    answers = [get(tls_server + "/ok", 5), get(tls_server + "/ok", 5)]
    assert [(response, info["status"], info["msg"]) for response, info in answers] == [(None, -1, expected["msg"])] * 2
    assert built == [1]
    _context.cache_clear()


def test_a_module_that_asks_nothing_does_not_import_the_url_code():
    code = ("import sys; import ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate; "
            "print(sorted(m for m in ('ansible.module_utils.urls', 'http.client') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert res.stdout.strip() == "[]", res.stdout + res.stderr
