# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mesh_lock on the lab's API server: which Lease of a run that is gone it takes over at once, and
which it waits for. A holder is gone only when its ansible-playbook process ran on this controller,
in this boot and PID namespace, and has ended; the host name alone proves nothing."""
from __future__ import annotations

import datetime
import hashlib
import os
import socket
import subprocess

import pytest
from kubernetes import client

from ansible_run import run_modules
from mesh_state import LEASE

ME = "ansible-playbook on test pid 1 started 2026-01-01T00:00:00Z run 0000test"


def this_space() -> str:
    """The PID space the holder names (the kernel's boot ID and this process's PID namespace)."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        boot = handle.read().strip()
    return hashlib.sha256(f"{boot} {os.readlink('/proc/self/ns/pid')}".encode()).hexdigest()[:16]


def ended_pid() -> int:
    """The PID of a process of this machine that has ended (and was reaped)."""
    done = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True, check=True)
    pid = int(done.stdout)
    assert not os.path.exists(f"/proc/{pid}")
    return pid


def hold(api_client, namespace: str, holder: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    client.CoordinationV1Api(api_client).create_namespaced_lease(namespace, client.V1Lease(
        metadata=client.V1ObjectMeta(name=LEASE),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=600, acquire_time=now,
                                renew_time=now)))


@pytest.mark.parametrize("in_process", [True, False], ids=["in_process", "module"])
def test_a_lease_of_an_ended_run_is_taken_over_only_when_its_pid_space_is_this_one(lab, api_client, in_process):
    core = client.CoreV1Api(api_client)
    host, dead = socket.gethostname(), ended_pid()
    holders = {
        # this controller, this boot and PID namespace, the process has ended: gone
        "gone": f"ansible-playbook on {host} pid {dead} in {this_space()} started 2026-01-01T00:00:00Z run 1",
        # the same host name and PID, another machine or container (or an older name without the
        # space): nothing proves it has ended
        "elsewhere": f"ansible-playbook on {host} pid {dead} in 0123456789abcdef started 2026-01-01T00:00:00Z run 2",
        "unnamed": f"ansible-playbook on {host} pid {dead} started 2026-01-01T00:00:00Z run 3",
        # this space, a process that runs (this test)
        "running": f"ansible-playbook on {host} pid {os.getpid()} in {this_space()} started 2026-01-01T00:00:00Z run 4",
    }
    names = {case: f"t-lock-{case}-{os.urandom(3).hex()}" for case in holders}
    try:
        for case, namespace in names.items():
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
            hold(api_client, namespace, holders[case])
        results = run_modules(lab.kubeconfig, [("mesh_lock", {"namespaces": [names[case]], "holder": ME, "timeout": 1})
                                               for case in holders], in_process=in_process)
        for case, result in zip(holders, results):
            held = client.CoordinationV1Api(api_client).read_namespaced_lease(LEASE, names[case]).spec
            if case == "gone":
                assert not result["failed"] and result["changed"], result
                assert held.holder_identity == ME and held.lease_transitions == 1
            else:
                assert result["failed"], (case, result)
                assert f"Another run holds the lock of namespace {names[case]}" in result["msg"], result["msg"]
                assert held.holder_identity == holders[case], case
    finally:
        for namespace in names.values():
            core.delete_namespace(namespace)
