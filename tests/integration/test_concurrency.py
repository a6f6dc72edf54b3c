# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Two onboard runs at the same time on the same inventory (two AWX jobs), on lab VMs 7 and 8
with a namespace of their own (as test_faults_vm does): one run waits for the other's lock (the
Lease of the workload namespace, then the lock of each VM), both succeed, and the end state is
one run's: the entries, the files, the sidecar running, and each ISTIO_* chain once. A Lease
held by a run that is not there makes the next run wait, then fail naming it, with nothing
changed. Issue #10."""
from __future__ import annotations

import datetime
import re
import subprocess
import tempfile
import threading
import time

import pytest
from kubernetes import client

from ansible_run import ansible_env, playbook_argv, run_playbook, run_playbook_acting
from faults import own_workload
from mesh_state import LEASE, interception, lease, wait

VMS = (7, 8)
NAME = "conc"
VM_LOCK = "/run/meshops-istio-vm.lock"
CHAINS = ("ISTIO_INBOUND", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT", "ISTIO_REDIRECT")


@pytest.fixture(scope="module")
def workload(lab, api_client, tmp_path_factory):
    """VMs 7 and 8 fresh, in one inventory (one workload, one namespace of their own, bundles and
    record in a directory of their own), as two AWX jobs of the same template would share it."""
    yield from own_workload(lab, api_client, tmp_path_factory.mktemp(NAME), VMS, NAME)


def start(inventory, lab, *extra):
    out = tempfile.TemporaryFile("w+")
    argv = playbook_argv(inventory, "onboard.yml", extra)
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=ansible_env(lab.kubeconfig)), out


def finish(proc_out, timeout=600):
    proc, out = proc_out
    rc = proc.wait(timeout=timeout)
    out.seek(0)
    text = out.read()
    out.close()
    return rc, text


class Holders(threading.Thread):
    """The holders of the namespace's Lease and of each VM's lock, read every 0.2 s while the runs
    go: (holder of the Lease, holder of VM 7's lock, of VM 8's), each change once. A VM whose SSH
    stalls (a new connection while its sidecar starts interception can hang) is unknown (None) in
    that sample, after 5 s: the Lease is still read every few seconds, not blinded for minutes."""

    def __init__(self, lab, api_client, namespace):
        super().__init__(daemon=True)
        self.lab, self.api_client, self.namespace = lab, api_client, namespace
        self.seen: list[tuple] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            found = lease(self.api_client, self.namespace)
            owners = [self.owner(n) for n in VMS]
            now = (found.spec.holder_identity if found else "", *owners)
            if not self.seen or self.seen[-1] != now:
                self.seen.append(now)
            self.stop.wait(0.2)

    def owner(self, n):
        try:
            return self.lab.ssh(n, "sed", "-n", "3p", f"{VM_LOCK}/owner", check=False, timeout=5).stdout.strip()
        except subprocess.TimeoutExpired:
            return None


def sidecar_starts(lab) -> dict:
    """When each VM's sidecar last started (monotonic): a restart changes it."""
    return {n: lab.ssh(n, "systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value",
                       "istio").stdout.strip() for n in VMS}


def take_over(api_client, namespace: str, other: str) -> None:
    """What another run's mesh_lock writes when it takes the namespace's Lease over: holder, times,
    one more transition."""
    found = lease(api_client, namespace)
    now = datetime.datetime.now(datetime.timezone.utc)
    found.spec.holder_identity, found.spec.acquire_time, found.spec.renew_time = other, now, now
    found.spec.lease_transitions = (found.spec.lease_transitions or 0) + 1
    client.CoordinationV1Api(api_client).replace_namespaced_lease(LEASE, namespace, found)


def test_two_onboard_runs_at_the_same_time_one_waits_and_the_end_state_is_one_runs(lab, api_client, workload):
    namespace, inventory = workload
    watcher = Holders(lab, api_client, namespace)
    watcher.start()
    started = time.monotonic()
    runs = [start(inventory, lab), start(inventory, lab)]
    results = [finish(run) for run in runs]
    took = time.monotonic() - started
    watcher.stop.set()
    watcher.join()
    print(f"two onboard runs at the same time: {took:.1f} s; holders seen: {watcher.seen}")
    for rc, text in results:
        assert rc == 0, text[-5000:]

    # each run held the Lease in turn, never both, and each held the VMs' locks inside its Lease
    leases = [held[0] for held in watcher.seen]
    holders = [h for i, h in enumerate(leases) if h and (i == 0 or leases[i - 1] != h)]
    assert len(holders) == 2 and holders[0] != holders[1], watcher.seen
    for held in watcher.seen:
        assert all(owner in ("", None, held[0]) for owner in held[1:]), f"a VM lock outside its run's Lease: {held}"
    assert lease(api_client, namespace) is None, "a run kept its Lease"
    for n in VMS:
        assert lab.ssh(n, "test", "-e", VM_LOCK, check=False).returncode != 0, "a run kept the VM's lock"

    # the end state of one run: one group, one auto-registered entry per VM, the sidecar running with
    # its files, and each interception chain once (neither run removed the other's)
    custom = client.CustomObjectsApi(api_client)
    groups = custom.list_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadgroups")["items"]
    assert [g["metadata"]["name"] for g in groups] == [NAME]
    expected = sorted(f"{NAME}-{lab.cfg.vm_ip(n)}-meshlab-net" for n in VMS)
    wait("one entry per VM", lambda: sorted(e["metadata"]["name"] for e in custom.list_namespaced_custom_object(
        "networking.istio.io", "v1", namespace, "workloadentries")["items"]) == expected, 60)
    for n in VMS:
        assert lab.ssh(n, "systemctl", "is-active", "istio").stdout.strip() == "active"
        assert lab.ssh(n, "systemctl", "show", "-p", "NRestarts", "--value", "istio").stdout.strip() == "0"
        assert lab.ssh(n, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://localhost:15021/healthz/ready").stdout == "200"
        for path in ("/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh", "/etc/certs/root-cert.pem",
                     "/var/run/secrets/tokens/istio-token"):
            assert lab.ssh(n, "test", "-s", path, check=False).returncode == 0, f"mlab-vm{n}: {path}"
        assert lab.ssh(n, "cat", "/etc/hosts").stdout.count("istiod.istio-system.svc") == 1
        rules = interception(lab, n)
        assert {f"nat: :{chain}" for chain in CHAINS} <= set(rules), f"mlab-vm{n}: {rules}"
        assert [r for r in rules if r.startswith("nat: -A OUTPUT ") and r.endswith(" -j ISTIO_OUTPUT")], rules
        assert len(rules) == len(set(rules)), f"mlab-vm{n}: interception set up twice: {rules}"


def test_a_lease_held_by_another_run_makes_the_run_wait_then_fail_naming_it(lab, api_client, workload):
    namespace, inventory = workload
    custom = client.CustomObjectsApi(api_client)
    try:     # onboarded (as the test above leaves it; run alone, onboarded here)
        custom.get_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadgroups", NAME)
    except client.ApiException as exc:
        assert exc.status == 404, exc
        res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", check=False)
        assert res.returncode == 0, res.stdout[-3000:]
    other = "awx job 999 on awx-task-0 started 2026-01-01T00:00:00Z run 0badc0de"
    now = datetime.datetime.now(datetime.timezone.utc)
    client.CoordinationV1Api(api_client).create_namespaced_lease(namespace, client.V1Lease(
        metadata=client.V1ObjectMeta(name=LEASE),
        spec=client.V1LeaseSpec(holder_identity=other, lease_duration_seconds=600, acquire_time=now,
                                renew_time=now)))
    before = custom.get_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadgroups", NAME)
    since = sidecar_starts(lab)
    try:
        started = time.monotonic()
        res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", "-e", "mesh_workload_lock_timeout=4",
                           check=False)
        took = time.monotonic() - started
        print(f"refused run: {took:.1f} s")
        text = " ".join(res.stdout.split())
        assert res.returncode != 0
        assert (f"Another run holds the lock of namespace {namespace} (Lease {namespace}/{LEASE}): {other}, "
                f"renewed until") in text, text[-3000:] + res.stderr[-3000:]
        assert re.search(r"Waited [4-9]s for it\.", text) and f"kubectl -n {namespace} delete lease {LEASE}" in text, text[-3000:]
        assert "PLAY [Create the mesh resources" not in text

        # nothing changed: the other run's Lease, the cluster objects, the sidecars
        held = lease(api_client, namespace)
        assert held.spec.holder_identity == other and held.spec.lease_transitions in (None, 0)
        after = custom.get_namespaced_custom_object("networking.istio.io", "v1", namespace, "workloadgroups", NAME)
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert sidecar_starts(lab) == since, "a sidecar restarted"
        for n in VMS:
            assert lab.ssh(n, "test", "-e", VM_LOCK, check=False).returncode != 0

        # check mode only reports the lock: no wait, no failure, the Lease untouched (the lock tasks
        # are tagged always: --tags preflight runs them and the checks, not the whole run)
        res = run_playbook(inventory, lab.kubeconfig, "onboard.yml", "--check", "--tags", "preflight", "--limit",
                           lab.cfg.vm_name(VMS[0]), check=False)
        assert res.returncode == 0, res.stdout[-3000:]
        assert f"The lock of namespace {namespace} is held by another run: {other}" in " ".join(
            (res.stdout + res.stderr).split()), res.stderr[-2000:]
        assert lease(api_client, namespace).metadata.resource_version == held.metadata.resource_version
    finally:
        client.CoordinationV1Api(api_client).delete_namespaced_lease(LEASE, namespace)


def test_a_run_that_lost_its_lease_between_plays_stops_at_the_next_renewal(lab, api_client, workload):
    """The run's Lease taken over by another run between two plays (as when a play outlasts
    mesh_workload_lock_duration and another run takes the expired Lease): the renewal at the next
    play's start fails at once, saying so, and the VMs are not touched; the other run keeps its Lease.
    The Lease is taken over once the run prints its second play, which has no renewal and takes
    seconds, against the 0.1 s in which run_playbook_acting sees the line."""
    namespace, inventory = workload
    other = "awx job 998 on awx-task-1 started 2026-01-01T00:00:00Z run 7a4e11ed"
    coordination = client.CoordinationV1Api(api_client)
    since = sidecar_starts(lab)

    try:
        res = run_playbook_acting(inventory, lab.kubeconfig, "onboard.yml", "-e", "mesh_workload_lock_timeout=120",
                                  once_said="PLAY [Create the mesh resources", act=lambda: take_over(api_client, namespace, other), check=False)
        text = " ".join(res.stdout.split())
        assert res.returncode != 0, text[-3000:]
        assert (f"This run lost the lock of namespace {namespace}: its Lease {namespace}/{LEASE} is held by another "
                f"run now: {other}.") in text, text[-3000:] + res.stderr[-3000:]
        assert "Another run holds the lock" not in text            # failed at once, no wait for it
        vm_play = text[text.index("PLAY [Install and start the Istio sidecar"):]
        assert "TASK [meshops.istio_vm.vm_sidecar" not in vm_play, vm_play[:3000]
        assert sidecar_starts(lab) == since, "a sidecar restarted"
        for n in VMS:
            assert lab.ssh(n, "test", "-e", VM_LOCK, check=False).returncode != 0
        assert lease(api_client, namespace).spec.holder_identity == other
    finally:
        if lease(api_client, namespace) is not None:
            coordination.delete_namespaced_lease(LEASE, namespace)
    # (the next test's run, after it, goes through its VM play)


def test_a_run_that_lost_its_lease_during_its_last_play_fails_when_it_gives_it_back(lab, api_client, workload):
    """The run's Lease taken over by another run during the VM play, after its renewal: the run does
    its work, gives back what it holds, leaves the other run's Lease, and fails saying so."""
    namespace, inventory = workload
    other = "awx job 997 on awx-task-2 started 2026-01-01T00:00:00Z run 5ca1ab1e"
    coordination = client.CoordinationV1Api(api_client)

    try:
        res = run_playbook_acting(inventory, lab.kubeconfig, "onboard.yml",
                                  once_said="TASK [meshops.istio_vm.vm_sidecar : Take or give back the lock of the VM]",
                                  act=lambda: take_over(api_client, namespace, other), check=False)
        text = " ".join(res.stdout.split())
        assert res.returncode != 0, text[-3000:]
        assert (f"This run lost the lock of namespace {namespace}: its Lease {namespace}/{LEASE} is held by another "
                f"run now: {other}. That run may have changed the namespace's workloads while this run did.") in text, \
            text[-3000:] + res.stderr[-3000:]
        # the release failed, nothing before it (a VM task failing would give the Leases back and only warn)
        assert text.count("fatal: [") == 1 and text.index("fatal: [") > text.index(
            "TASK [meshops.istio_vm.mesh_workload : Take or give back the lock of the workload namespaces]",
            text.index("PLAY [Install and start the Istio sidecar")), text[-3000:]
        assert "PLAY [Verify" not in text                   # the run stops there
        for n in VMS:                                       # the VM play ran to its end, and gave the VM locks back
            assert lab.ssh(n, "systemctl", "is-active", "istio").stdout.strip() == "active"
            assert lab.ssh(n, "test", "-e", VM_LOCK, check=False).returncode != 0
        assert lease(api_client, namespace).spec.holder_identity == other
    finally:
        if lease(api_client, namespace) is not None:
            coordination.delete_namespaced_lease(LEASE, namespace)
