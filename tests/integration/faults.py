# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fault injection for the integration tests, without mocks: a reverse proxy in front of the real
kube-apiserver that answers the first requests with 429 or 503, another (TLS, for a kubeconfig of
its own) that goes down after a chosen request, as a stopped API server would, a package server
that accepts and never sends the body, and a small inventory of one lab VM."""
from __future__ import annotations

import base64
import http.client
import json
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import yaml

from conftest import LAB, REPO, delete_namespace, fresh_vms

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _upstream(handler: BaseHTTPRequestHandler, body: bytes, upstream: tuple, context: ssl.SSLContext) -> tuple:
    """The request ``handler`` received, sent to the API server ``upstream`` (host, port) over TLS
    ``context``; returns its answer: (status, headers, body)."""
    conn = http.client.HTTPSConnection(*upstream, context=context, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
    conn.request(handler.command, handler.path, body=body or None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheaders(), data


def _reply(handler: BaseHTTPRequestHandler, status: int, headers: list, data: bytes) -> None:
    handler.send_response(status)
    for key, value in headers:
        if key.lower() not in HOP_BY_HOP | {"content-length"}:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _ProxyHandler(BaseHTTPRequestHandler):
    """A test proxy's request handler: HTTP/1.1, quiet, every method answered by ``_any``."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):   # quiet
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _any(self) -> None:
        raise NotImplementedError

    def _dispatch(self) -> None:
        self._any()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class FaultProxy:
    """Plain HTTP on 127.0.0.1 in front of the lab's kube-apiserver (TLS, the lab's admin client
    certificate). The first ``fail_first`` requests get ``status`` (with Retry-After when
    ``retry_after`` is set); the others are forwarded. ``requests`` lists (method, path, status)."""

    def __init__(self, cfg, fail_first: int, status: int = 503, retry_after: str | None = None) -> None:
        self.fail_first, self.status, self.retry_after = fail_first, status, retry_after
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._upstream = (cfg.host_ip, cfg.apiserver_port)
        self._tls = ssl.create_default_context(cafile=str(cfg.pki / "ca.crt"))
        self._tls.load_cert_chain(str(cfg.pki / "admin.crt"), str(cfg.pki / "admin.key"))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def injected(self) -> int:
        return sum(1 for _m, _p, status in self.requests if status == self.status)

    @property
    def forwarded(self) -> list[tuple[str, str, int]]:
        return self.requests[self.injected:]

    def _handler(self):
        proxy = self

        class Handler(_ProxyHandler):
            def _any(self):
                body = self._body()
                with proxy._lock:
                    inject = len(proxy.requests) < proxy.fail_first
                    if inject:
                        proxy.requests.append((self.command, self.path, proxy.status))
                if inject:
                    payload = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": proxy.status,
                                          "message": "injected by the test's fault proxy"}).encode()
                    self.send_response(proxy.status)
                    if proxy.retry_after is not None:
                        self.send_header("Retry-After", proxy.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, headers, data = _upstream(self, body, proxy._upstream, proxy._tls)
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, status))
                _reply(self, status, headers, data)

        return Handler

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class CutProxy:
    """The Kubernetes API going away in the middle of a run, at a chosen request, while the lab's
    kube-apiserver keeps running: TLS on 127.0.0.1 (a certificate for that address signed by the
    lab's CA) in front of the API server that ``kubeconfig`` names. ``self.kubeconfig`` is a copy
    of it that points here, with the same credentials; the proxy forwards each request with the
    kubeconfig's client certificate (a token, if any, goes through in the request's header).

    The first request for which ``cut_after(method, path)`` is true is forwarded and answered;
    then the proxy is down, as a stopped API server: the listening socket is closed (connection
    refused) and the open connections are dropped, a request on one unanswered. ``requests``
    lists (method, path, status) of the answered requests, ``cut`` the one after which it went
    down (None when the rule never matched)."""

    def __init__(self, cfg, kubeconfig: Path, cut_after: Callable[[str, str], bool]) -> None:
        self.cut_after = cut_after
        self.requests: list[tuple[str, str, int]] = []
        self.cut: tuple[str, str, int] | None = None
        self._down = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._dir = tempfile.TemporaryDirectory(prefix="cutproxy-")
        tmp = Path(self._dir.name)
        doc = yaml.safe_load(Path(kubeconfig).read_text())
        context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == context["user"])
        server = urlsplit(cluster["server"])
        self._upstream = (server.hostname, server.port or 443)
        self._tls = ssl.create_default_context(cafile=_pem(cluster, "certificate-authority", tmp))
        if user.get("client-certificate") or user.get("client-certificate-data"):
            self._tls.load_cert_chain(_pem(user, "client-certificate", tmp), _pem(user, "client-key", tmp))
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = "https://127.0.0.1:%d" % self._sock.getsockname()[1]
        self._serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._serving.load_cert_chain(*_serving_cert(cfg.pki, tmp, "127.0.0.1"))
        cluster["server"] = self.url
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.touch(mode=0o600)
        self.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._down:
            try:
                conn, addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:     # closed: the proxy is down
                return
            threading.Thread(target=self._connection, args=(conn, addr), daemon=True).start()

    def _connection(self, conn: socket.socket, addr) -> None:
        try:
            conn.settimeout(60)
            tls = self._serving.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
        with self._lock:
            if self._down:
                tls.close()
                return
            self._open.add(tls)
        try:
            self._handler()(tls, addr, self)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(tls)
            tls.close()

    def _go_down(self) -> None:
        """Close the listening socket and drop every open connection (the caller holds the lock)."""
        self._down = True
        for sock in [self._sock, *self._open]:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        self._sock.close()

    def _handler(self):
        proxy = self

        class Handler(_ProxyHandler):
            def _any(self):
                body = self._body()
                answer = None if proxy._down else _upstream(self, body, proxy._upstream, proxy._tls)
                with proxy._lock:
                    if answer is None or proxy._down:   # down: no answer, the connection goes
                        self.close_connection = True
                        return
                    proxy.requests.append((self.command, self.path, answer[0]))
                    last = proxy.cut_after(self.command, self.path)
                    if last:
                        proxy.cut = proxy.requests[-1]
                        proxy._down = True   # from now on no request gets an answer
                        self.close_connection = True
                _reply(self, *answer)
                self.wfile.flush()
                if last:
                    with proxy._lock:
                        proxy._go_down()

        return Handler

    def __enter__(self) -> "CutProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._go_down()
        self._thread.join(timeout=5)
        self._dir.cleanup()


def _pem(entry: dict, key: str, directory: Path) -> str:
    """The file of a kubeconfig entry's ``key`` (certificate-authority, client-key...): its path,
    or its ``key``-data written to ``directory``."""
    if entry.get(key + "-data"):
        path = directory / key
        path.touch(mode=0o600)
        path.write_bytes(base64.b64decode(entry[key + "-data"]))
        return str(path)
    return entry[key]


def _serving_cert(pki: Path, directory: Path, ip: str) -> tuple[str, str]:
    """A server certificate for ``ip`` signed by the lab's CA (``pki``), as tests/lab makes them,
    written to ``directory`` (nothing is written to the lab's state). Returns (cert, key)."""
    key, csr, crt, ext = (directory / ("serving." + suffix) for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n")
    for argv in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", str(key), "-out", str(csr), "-subj", "/CN=meshops-test-cut-proxy"],
                 ["x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
                  "-set_serial", str(random.getrandbits(63)), "-days", "1", "-out", str(crt), "-extfile", str(ext)]):
        res = subprocess.run(["openssl", *argv], capture_output=True, text=True, check=False)
        assert res.returncode == 0, "openssl " + argv[0] + ": " + res.stderr
    return str(crt), str(key)


class StalledServer:
    """An HTTP server on the lab bridge that answers 200 with a Content-Length and then sends
    nothing: a stalled download. ``connections`` counts the attempts."""

    def __init__(self, host: str) -> None:
        self._sock = socket.create_server((host, 0))
        self.url = "http://%s:%d/istio-sidecar.deb" % (host, self._sock.getsockname()[1])
        self.connections = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            self._open.append(conn)
            conn.settimeout(5)
            try:
                conn.recv(65536)      # the request; the answer never comes whole
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: 50000000\r\n\r\n")
            except OSError:
                pass

    def __enter__(self) -> "StalledServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._open:
            conn.close()
        self._sock.close()


def vm_inventory(lab, directory: Path, *numbers: int, **host_vars) -> Path:
    """An inventory of lab VMs ``numbers`` alone, in group mesh_vms with the lab's group
    variables, each VM's bundle and the group's record under ``directory`` (not beside the
    lab's inventory), and ``host_vars`` (mesh_workload_namespace...) over the lab's on every VM."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "inventories" / "lab" / "group_vars", directory / "group_vars", dirs_exist_ok=True)
    lab_vars = yaml.safe_load((lab.cfg.state / "hosts.yml").read_text())["all"]["vars"]
    hosts = {lab.cfg.vm_name(n): {"ansible_host": lab.cfg.vm_ip(n),
                                  "mesh_workload_bootstrap_dir": str(directory / "bundles" / lab.cfg.vm_name(n)),
                                  "mesh_workload_state_file": str(directory / "bundles" / "managed.json"), **host_vars}
             for n in numbers}
    doc = {"all": {"children": {"mesh_vms": {"hosts": hosts}}, "vars": lab_vars}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory / "hosts.yml"


def own_workload(lab, api_client, directory: Path, numbers: tuple, name: str):
    """Fixture body: lab VMs ``numbers`` fresh, in one inventory of their own (workload ``name``
    in a namespace of its own, bundles and record under ``directory``). Yields (namespace,
    inventory path); afterwards deletes the namespace and removes the VMs."""
    fresh_vms(*numbers)
    namespace = f"t-{name}-{int(time.time()) % 100000}"
    yield namespace, vm_inventory(lab, directory, *numbers, mesh_workload_namespace=namespace, mesh_workload_name=name)
    delete_namespace(api_client, namespace)
    for n in numbers:
        subprocess.run([str(LAB), "vm", "remove", str(n)], capture_output=True, check=False)
