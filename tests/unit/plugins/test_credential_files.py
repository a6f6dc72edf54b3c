# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cluster task run in Ansible's worker leaves no credential file behind.

The kubernetes library writes a kubeconfig's inline credentials (client-key-data and the
certificates) to temporary files and removes them at the exit of the process (atexit). Ansible's
workers end with os._exit: the action plugins remove them when the task is done. A real
ansible-playbook runs a cluster task against a kubeconfig with inline (fake) credentials and a plain
HTTP server on loopback: the task fails at once on TLS, after the library wrote the files; the
temporary directory must hold no file afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import ansible_collections

KEY = "FAKE-PRIVATE-KEY-marker-5501"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def kubeconfig(server: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": server,
                                                   "certificate-authority-data": b64("FAKE CA")}}],
            "users": [{"name": "u", "user": {"client-certificate-data": b64("FAKE CERT"),
                                             "client-key-data": b64(KEY)}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}


def test_a_cluster_task_in_the_worker_leaves_no_credential_file(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "https://127.0.0.1:%d" % server.server_address[1]
    temp = tmp_path / "tmp"
    temp.mkdir()
    play = [{"hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": [
        {"name": "Read the mesh", "meshops.istio_vm.mesh_info": {"kubeconfig": kubeconfig(url)},
         "ignore_errors": True}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    roots = [str(Path(p).parent) for p in ansible_collections.__path__]
    env = dict(os.environ, TMPDIR=str(temp), ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(roots),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1")
    try:
        res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                              str(tmp_path / "play.yml")], capture_output=True, text=True, check=False, env=env)
    finally:
        server.shutdown()
    assert res.returncode == 0 and "ignored=1" in res.stdout, res.stdout[-3000:] + res.stderr[-2000:]
    # it failed on the API call, with the client built from the kubeconfig
    assert "cannot reach the Kubernetes API" in res.stdout, res.stdout[-3000:]
    assert "FAKE" not in res.stdout
    left = {path.name: path.read_bytes() for path in temp.rglob("*") if path.is_file()}
    assert left == {}, sorted(left)
