# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The preflight of role meshops.istio_vm.vm_sidecar on a lab VM, with a bootstrap bundle that is
incomplete or names no istiod: the role stops with the host, the directory and what to do, after
reading the VM and before changing it; a dry run before the bundle exists is allowed and says so."""
from __future__ import annotations

import json
import subprocess

import pytest

from ansible_run import ANSIBLE_PLAYBOOK, ansible_env

HOSTS = "10.213.0.1 istiod.istio-system.svc\n"
FULL = {"root-cert.pem": "root\n", "cluster.env": "CANONICAL_SERVICE='x'\n", "mesh.yaml": "defaultConfig: {}\n",
        "hosts": HOSTS, "istio-token": "tkn.never.used"}
# What the VM has where the role would write (it must be the same after a failed preflight).
STATE = ("ls -la /var/lib/istio /etc/istio /var/cache/meshops-istio-vm /etc/systemd/system/istio.service.d 2>&1;"
         " dpkg-query -W -f='${db:Status-Abbrev}|${Version}' istio-sidecar 2>&1; systemctl is-active istio")


def run_role(lab, bundle, *extra: str) -> subprocess.CompletedProcess:
    play = [{"hosts": lab.vms[0], "gather_facts": False, "become": True,
             "roles": [{"role": "meshops.istio_vm.vm_sidecar", "vars": {"vm_sidecar_bundle_dir": str(bundle)}}]}]
    playbook = bundle.parent / "play.yml"
    playbook.write_text(json.dumps(play))
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(lab.inventory), str(playbook), *extra],
                          capture_output=True, text=True, env=ansible_env(None), timeout=300, check=False)


@pytest.mark.parametrize("name,files,message", [
    ("incomplete", {k: v for k, v in FULL.items() if k not in ("cluster.env", "istio-token")},
     "the bootstrap bundle in {dir} lacks cluster.env, istio-token: run meshops.istio_vm.mesh_workload first "
     "(vm_sidecar_bundle_dir must match mesh_workload_bootstrap_dir)."),
    ("no-istiod", dict(FULL, hosts=""),
     "{dir}/hosts is empty (the gateway publishes a hostname, istio/istio#31624): set mesh_workload_ingress_ip."),
])
def test_a_bad_bundle_stops_the_role_before_any_change(lab, tmp_path, name, files, message):
    bundle = tmp_path / name / "vm"
    bundle.mkdir(parents=True)
    for file, text in files.items():
        (bundle / file).write_text(text)
    before = lab.ssh(1, "sh", "-c", STATE, check=False).stdout
    res = run_role(lab, bundle)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert f"{lab.vms[0]}: " + message.format(dir=bundle) in " ".join(out.split()), out[-3000:]
    check = "TASK [meshops.istio_vm.vm_sidecar : Check the VM, the package for it and the bootstrap bundle]"
    assert check in out and "TASK [" not in out.split(check)[1], "the role went on after its check"
    assert lab.ssh(1, "sh", "-c", STATE, check=False).stdout == before, "the VM changed"


def test_a_dry_run_before_the_bundle_says_so(lab, tmp_path):
    bundle = tmp_path / "empty" / "vm"
    bundle.mkdir(parents=True)
    before = lab.ssh(1, "sh", "-c", STATE, check=False).stdout
    res = run_role(lab, bundle, "--check")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"Check mode: no bundle in {bundle} yet (root-cert.pem, cluster.env, mesh.yaml, hosts, istio-token)" \
        in " ".join(out.split()), out[-3000:]
    assert lab.ssh(1, "sh", "-c", STATE, check=False).stdout == before, "the dry run changed the VM"
