# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fault injection for the integration tests, without mocks: a reverse proxy in front of the real
kube-apiserver that answers the first requests with 429 or 503, a package server that accepts
and never sends the body, a small inventory of one lab VM, and a playbook run whose output the
test watches so that it can stop the API server at a chosen task."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from ansible_run import ANSIBLE_PLAYBOOK, ansible_env
from conftest import LAB, REPO, delete_namespace, fresh_vms
from meshlab.core import Proc

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


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

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):   # quiet
                pass

            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
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
                conn = http.client.HTTPSConnection(*proxy._upstream, context=proxy._tls, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                with proxy._lock:
                    proxy.requests.append((self.command, self.path, resp.status))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        return Handler

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


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
    variables, each VM's bundle and the group's record under ``directory`` (not the shared
    .bootstrap/), and ``host_vars`` (mesh_workload_namespace...) over the lab's on every VM."""
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


def lab_up() -> None:
    """Start what is down again (the API server a test stopped)."""
    up = subprocess.run([str(LAB), "up"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]


def run_stopping_apiserver(lab, argv: list[str], trigger: str, timeout: float = 600) -> tuple[int, str, float]:
    """Run ansible-playbook ``argv``; when its output matches the regular expression ``trigger``,
    stop kube-apiserver (by its recorded PID). Returns the exit code, the output and how long
    after the start the API server was stopped. The caller brings the API server back.

    The run (its own process group: ansible-playbook, its workers and their modules) is frozen
    with SIGSTOP from the moment the trigger shows until the API server is gone, so the fault
    lands right after the trigger however long kube-apiserver takes to shut down: at most a
    request already in flight completes."""
    apiserver = Proc(lab.cfg, "kube-apiserver")
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w+") as out:
        proc = subprocess.Popen([str(ANSIBLE_PLAYBOOK), *argv], stdout=out, stderr=subprocess.STDOUT,
                                env=ansible_env(lab.kubeconfig), start_new_session=True)
        pattern = re.compile(trigger, re.M)
        try:
            while not pattern.search(Path(out.name).read_text()):
                assert proc.poll() is None, "the run ended before " + trigger + ":\n" + Path(out.name).read_text()[-4000:]
                assert time.monotonic() - started < timeout, "no " + trigger + " in time"
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGSTOP)
            try:
                assert apiserver.stop(timeout=60), "kube-apiserver was not running"
            finally:
                os.killpg(proc.pid, signal.SIGCONT)
            stopped_at = time.monotonic() - started
            rc = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return rc, Path(out.name).read_text(), stopped_at
