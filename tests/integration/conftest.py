# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures for tests against the real lab (tests/lab).

The lab is started once per test session, or reused when it is already up; a lab that
this session started is stopped at the end unless MESHLAB_KEEP=1.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tests" / "lab" / "lab"
# Where the lab inventory's VMs get their bundles and the group its record: the defaults of
# mesh_workload_bootstrap_dir and mesh_workload_state_file, beside the inventory.
LAB_STATE = REPO / "inventories" / "lab" / ".meshops-istio-vm"
sys.path.insert(0, str(REPO / "tests" / "lab"))

# Every command the tests start (ansible-playbook, ssh, the lab) reads /dev/null, not the stdin
# pytest was given. The flag O_NONBLOCK belongs to the open file, shared by every process that
# inherited it: an ssh client killed elsewhere (it sets the flag and could not clear it) left it
# set, and ansible-playbook refused to start ("Ansible requires blocking IO on stdin/stdout/stderr.
# Non-blocking file handles detected: <stdin>"), seen once in a run started from a shared shell.
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)

from ansible_run import collections_path  # noqa: E402
from meshlab import hosts  # noqa: E402

sys.path.insert(0, str(collections_path()))
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins" / "module_utils"))  # cases.py
from meshlab.core import Config  # noqa: E402


# Runs on a VM (ssh_all): each argv of the JSON list in turn, as the user ssh logs in as; prints
# [[exit code, stdout], ...] as JSON.
_RUN_ALL = ("import json, subprocess, sys\n"
            "print(json.dumps([[r.returncode, r.stdout] for r in (subprocess.run(argv, stdout=subprocess.PIPE, "
            "stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, check=False) "
            "for argv in json.loads(sys.argv[1]))]))")


@dataclass
class Lab:
    cfg: Config
    kubeconfig: Path
    istiod_address: str
    inventory: Path
    vms: list[str]

    def ssh(self, n: int, *command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a command on VM n; arguments are quoted for the remote shell."""
        return subprocess.run(hosts.ssh_argv(self.cfg, n) + [shlex.join(command)], capture_output=True,
                              text=True, timeout=timeout, check=check)

    def ssh_all(self, n: int, *commands: list[str], timeout: float = 120) -> list[subprocess.CompletedProcess]:
        """Run each command (an argv) on VM n, one after the other, in one SSH session (each SSH
        connection costs about 0.3 s here); each one's exit code and stdout, in order."""
        res = self.ssh(n, "python3", "-c", _RUN_ALL, json.dumps(commands), timeout=timeout, check=False)
        # a command that cannot start (not installed) stops the runner with a traceback: shown here
        assert res.returncode == 0, f"VM {n}: {res.stderr[-3000:]}"
        return [subprocess.CompletedProcess(argv, code, out, "")
                for argv, (code, out) in zip(commands, json.loads(res.stdout), strict=True)]

    def write(self, n: int, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` on VM n (its directory must exist)."""
        subprocess.run(hosts.ssh_argv(self.cfg, n) + [f"cat > {shlex.quote(path)}"], input=data,
                       capture_output=True, timeout=120, check=True)


def _lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAB), *args], capture_output=True, text=True, check=False)


def fresh_vms(*numbers: int) -> None:
    """Remove VMs and boot them again from a fresh root: no sidecar, no files of an earlier run.
    They boot side by side."""
    for action in ("remove", "start"):
        res = _lab("vm", action, *map(str, numbers))
        assert res.returncode == 0, f"lab vm {action} {numbers}: {res.stdout}{res.stderr}"


def delete_namespace(api_client, name: str) -> None:
    """Delete a namespace (and so every object in it) and wait until it is gone."""
    from kubernetes import client
    from mesh_state import wait
    core = client.CoreV1Api(api_client)
    try:
        core.delete_namespace(name)
    except client.rest.ApiException as exc:
        if exc.status != 404:
            raise
    wait(f"namespace {name} gone", lambda: not core.list_namespace(field_selector=f"metadata.name={name}").items,
         120)


def forget_bootstrap(*names: str, root: Path) -> None:
    """Remove bundles and records under ``root`` (paths relative to it), the state directory of
    an inventory: LAB_STATE, or another inventory's .meshops-istio-vm/."""
    import shutil
    for name in names:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def lab() -> Lab:
    cfg = Config.from_env()
    started = False
    if _lab("status").returncode != 0:
        res = subprocess.run([str(LAB), "up"], text=True, check=False)
        assert res.returncode == 0, "tests/lab/lab up failed (see its output above)"
        started = True
    count = hosts.vm_count(cfg)
    yield Lab(cfg=cfg, kubeconfig=cfg.kubeconfig, istiod_address=cfg.istiod_address,
              inventory=REPO / "inventories" / "lab", vms=[cfg.vm_name(n) for n in range(1, count + 1)])
    if started and os.environ.get("MESHLAB_KEEP") != "1":
        _lab("down")


@pytest.fixture(scope="session")
def api_client(lab):
    from kubernetes import config
    return config.new_client_from_config(config_file=str(lab.kubeconfig))


@pytest.fixture
def namespace(api_client):
    """A fresh namespace, deleted afterwards (the lab runs the namespace controller)."""
    from kubernetes import client
    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def vmnet(lab):
    """The VM network and its east-west gateway (`lab vmnet up`, tests/lab/meshlab/vmnet.py) for
    one test file; taken down after it (with its VMs) unless it was up before."""
    from meshlab import vmnet as net
    was_up = net.is_up(lab.cfg)
    res = _lab("vmnet", "up")
    assert res.returncode == 0, f"lab vmnet up: {res.stdout}{res.stderr}"
    yield net
    if not was_up:
        res = _lab("vmnet", "down")
        assert res.returncode == 0, f"lab vmnet down: {res.stdout}{res.stderr}"
