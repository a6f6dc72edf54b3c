# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The requests the modules make from a VM (the package download of sidecar_package_file, the
readiness ask of vm_state_info) on a VM without ``~/.ansible/tmp``, as a fresh VM is with
pipelining: no module temporary directory, so no Ansible warning "Module remote_tmp ... did not
exist and was created", which fetch_url's use of it printed on every fresh onboard; and the
readiness asks with a proxy in the environment, which they do not take."""
from __future__ import annotations

import uuid

from ansible_run import vm_play as play

REMOTE_TMP = "/root/.ansible/tmp"
WARNING = "did not exist and was created"


def without_remote_tmp(lab):
    lab.ssh(1, "rm", "-rf", REMOTE_TMP)


def remote_tmp_exists(lab) -> bool:
    return lab.ssh(1, "test", "-e", REMOTE_TMP, check=False).returncode == 0


def test_the_package_download_needs_no_module_tmpdir(lab):
    from meshlab import hosts
    cache = f"/tmp/meshops-http-{uuid.uuid4().hex[:8]}"
    task = {"meshops.istio_vm.sidecar_package_file": {
        "path": f"{cache}/istio-sidecar.deb", "url": lab.cfg.pkg_url, "sha256": hosts.package_sha256(lab.cfg)},
        "register": "r0"}
    try:
        without_remote_tmp(lab)
        results, out = play(lab, [task])
        assert results["r0"]["changed"] and results["r0"]["attempts"] == 1, out[-3000:]
        assert not results["r0"].get("warnings") and WARNING not in out, out[-3000:]
        assert not remote_tmp_exists(lab)
    finally:
        lab.ssh(1, "rm", "-rf", cache, check=False)


def test_the_readiness_ask_needs_no_module_tmpdir(lab):
    # Nothing listens on port 9 of the VM: the answer is "no answer", worded as fetch_url words it.
    task = {"meshops.istio_vm.vm_state_info": {"ready_url": "http://127.0.0.1:9/healthz/ready", "ready_timeout": 2},
            "register": "r0"}
    without_remote_tmp(lab)
    results, out = play(lab, [task])
    ready = results["r0"]["ready"]
    assert ready["status"] == -1, ready
    assert ready["msg"].startswith("Status code was -1 and not [200]: Request failed: <urlopen error"), ready
    assert not results["r0"].get("warnings") and WARNING not in out, out[-3000:]
    assert not remote_tmp_exists(lab)


def test_the_readiness_asks_never_take_a_proxy_from_the_environment(lab):
    # A play's environment: (a proxy for the package download, say) reaches every module run on the VM.
    # The readiness endpoint is on the VM's own loopback, which no proxy reaches: both modules that ask
    # it go straight to it. The proxy here is a closed port of the VM's loopback; the endpoint a
    # Python HTTP server in a transient unit.
    name = f"meshops-ready-{uuid.uuid4().hex[:8]}"
    root = f"/tmp/{name}"
    port = 20000 + int(name[-4:], 16) % 10000
    url = f"http://127.0.0.1:{port}/"
    proxy = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
    tasks = [{"meshops.istio_vm.vm_state_info": {"ready_url": url, "ready_wait": 20, "ready_interval": 0.2},
              "environment": proxy, "register": "r0"},
             {"meshops.istio_vm.sidecar_package_info": {"path": f"{root}/none.deb", "service": f"{name}.service",
                                                        "ready_url": url},
              "environment": proxy, "register": "r1"},
             {"ansible.builtin.uri": {"url": url}, "environment": proxy, "register": "r2", "ignore_errors": True}]
    try:
        lab.ssh(1, "mkdir", "-p", root)
        lab.ssh(1, "systemd-run", "--collect", f"--unit={name}", "--", "python3", "-m", "http.server",
                "--bind", "127.0.0.1", "--directory", root, str(port))
        results, out = play(lab, tasks)
        assert results["r0"]["ready"]["status"] == 200, results["r0"]["ready"]
        assert results["r1"]["service"] == "active" and results["r1"]["ready"]["status"] == 200, results["r1"]
        # the proxy is real to a module that takes the environment's proxies: the request fails
        assert results["r2"]["failed"] and results["r2"]["status"] == -1, results["r2"]
    finally:
        lab.ssh(1, "systemctl", "stop", f"{name}.service", check=False)
        lab.ssh(1, "rm", "-rf", root, check=False)
