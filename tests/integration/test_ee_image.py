# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution-environment image as AWX runs it (issue #13). Only with MESHOPS_EE_TEST=1
(`make test-ee`): the image build costs about 2 minutes cold.

`make ee-lab` builds the image with ansible-builder and podman on a local Debian base image (no
registry here), then ansible-runner runs onboard, then offboard, inside it (--process-isolation,
podman, host network to reach 10.213.0.x) against lab VMs 9 and 10 in a namespace of their own:
the collection comes from the image, the cluster credential from the job's environment, the SSH
key from the job's machine credential, as in AWX. The end state is read back with the same
checks as the direct runs (mesh_state)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import LAB, REPO, delete_namespace, fresh_vms
from mesh_state import assert_offboarded, assert_onboarded, recap

pytestmark = pytest.mark.skipif(os.environ.get("MESHOPS_EE_TEST") != "1",
                                reason="builds the EE image (about 2 min): MESHOPS_EE_TEST=1 or make test-ee")

IMAGE = os.environ.get("EE_LAB_TAG", "localhost/meshops-istio-vm-ee:lab")
CONTAINERS_CONF = REPO / "tools" / "ee-containers.conf"
IN_IMAGE = "/usr/share/ansible/collections/ansible_collections/meshops/istio_vm"
VMS = (9, 10)
NAME = "ee"


def podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False,
                          env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)))


@pytest.fixture(scope="module")
def image():
    started = time.monotonic()
    res = subprocess.run(["make", "-s", "ee-lab", f"EE_LAB_TAG={IMAGE}"], cwd=REPO, capture_output=True, text=True,
                         check=False, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    print(f"\nmake ee-lab: {time.monotonic() - started:.0f} s; {IMAGE}: {size / 1e6:.0f} MB")
    listed = podman("run", "--rm", "--network", "host", IMAGE, "ansible-galaxy", "collection", "list", "meshops.istio_vm")
    assert listed.returncode == 0, listed.stderr
    assert "meshops.istio_vm" in listed.stdout and str(Path(IN_IMAGE).parents[2]) in listed.stdout
    return IMAGE


@pytest.fixture(scope="module")
def job_dir(lab, api_client, tmp_path_factory):
    """An AWX-style private data directory for lab VMs 9 and 10 (fresh), paths as the container
    sees them (/runner): inventory, the cluster credential as K8S_AUTH_KUBECONFIG, the machine
    credential as env/ssh_key, a project whose playbooks import the image's playbooks."""
    fresh_vms(*VMS)
    namespace = f"t-{NAME}-{int(time.time()) % 100000}"
    pdd = tmp_path_factory.mktemp("ee-job")
    for sub in ("env", "inventory", "project"):
        (pdd / sub).mkdir()
    shutil.copyfile(lab.kubeconfig, pdd / "kubeconfig")
    (pdd / "kubeconfig").chmod(stat.S_IRUSR | stat.S_IWUSR)
    (pdd / "env" / "ssh_key").write_text((lab.cfg.state / "ssh" / "id_ed25519").read_text())
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({
        "K8S_AUTH_KUBECONFIG": "/runner/kubeconfig", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "False"}))
    group_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    group_vars.pop("mesh_workload_kubeconfig")  # the job's credential, as in AWX
    group_vars.update({
        "ansible_user": "root",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   "-o ServerAliveInterval=5 -o ServerAliveCountMax=12",
        "ansible_pipelining": True,
        "ansible_python_interpreter": "/usr/bin/python3",
        "meshlab_istiod_ip": lab.cfg.host_ip,
        "meshlab_package_url": lab.cfg.pkg_url,
        "meshlab_package_sha256": (lab.cfg.state / "www" / "istio-sidecar.deb.sha256").read_text().split()[0],
        "mesh_workload_namespace": namespace,
        "mesh_workload_name": NAME,
        "mesh_workload_state_file": "/runner/bootstrap/managed.json",
    })
    hosts = {lab.cfg.vm_name(n): {"ansible_host": lab.cfg.vm_ip(n),
                                  "mesh_workload_bootstrap_dir": f"/runner/bootstrap/{lab.cfg.vm_name(n)}"}
             for n in VMS}
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"mesh_vms": {"hosts": hosts}}, "vars": group_vars}}, sort_keys=False))
    for name in ("onboard", "offboard"):
        (pdd / "project" / f"{name}.yml").write_text(
            f"---\n- name: The image's {name} playbook\n  ansible.builtin.import_playbook: meshops.istio_vm.{name}\n")
    yield namespace, pdd
    delete_namespace(api_client, namespace)
    for n in VMS:
        subprocess.run([str(LAB), "vm", "remove", str(n)], capture_output=True, check=False)


def run_in_image(image, pdd: Path, playbook: str) -> tuple[str, float]:
    """ansible-runner --process-isolation: ansible-playbook in a podman container of the image."""
    argv = [str(REPO / ".venv" / "bin" / "ansible-runner"), "run", str(pdd), "-p", f"{playbook}.yml",
            "--ident", playbook, "--cmdline=-vv",
            "--process-isolation", "--process-isolation-executable", "podman", "--container-image", image,
            # host network: the lab's addresses; root in the container: the job directory is root's
            "--container-option=--network=host", "--container-option=--user=0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_")) and k != "KUBECONFIG"}
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    started = time.monotonic()
    with open(pdd / f"{playbook}.runner.log", "w+") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900, check=False)
    took = time.monotonic() - started
    artifacts = pdd / "artifacts" / playbook
    stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else \
        (pdd / f"{playbook}.runner.log").read_text()
    assert proc.returncode == 0 and (artifacts / "status").read_text().strip() == "successful", stdout[-6000:]
    command = json.loads((artifacts / "command").read_text())["command"]
    assert command[:2] == ["podman", "run"] and image in command, command
    assert recap(stdout) and all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(stdout).values())
    # the tasks came from the collection inside the image
    assert f"task path: {IN_IMAGE}/roles/mesh_workload/tasks/" in stdout
    assert str(REPO) not in stdout
    return stdout, took


def test_onboard_and_offboard_in_the_image(lab, api_client, image, job_dir):
    namespace, pdd = job_dir
    onboard_s = run_in_image(image, pdd, "onboard")[1]
    assert_onboarded(lab, api_client, namespace, NAME, NAME, VMS)
    offboard_s = run_in_image(image, pdd, "offboard")[1]
    assert_offboarded(lab, api_client, namespace, NAME, VMS)
    print(f"\nin the image, VMs {VMS}: onboard {onboard_s:.1f} s, offboard {offboard_s:.1f} s")
