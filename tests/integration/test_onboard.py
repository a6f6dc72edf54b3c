# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The roles and playbooks end to end on the lab: check mode, onboard, idempotence, health,
drift, reboot, offboard. The tests of this file build on each other, in file order."""
from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import stat
import time
from datetime import datetime, timezone

import pytest
import yaml
from cryptography import x509
from kubernetes import client

from ansible_run import run_playbook, run_playbook_acting
from conftest import LAB_STATE, REPO, fresh_vms
from mesh_state import CONNTRACK_MARK, GROUP, NS, SA, assert_offboarded, assert_onboarded, entries, group, reset_lab_inventory, healthy, recap, wait
from meshlab import hosts
from meshlab.core import Proc


@pytest.fixture(scope="module", autouse=True)
def clean_start(lab, api_client):
    reset_lab_inventory(lab, api_client)


def converged(lab, api_client) -> bool:
    """Whether the lab inventory's VMs are onboarded and nothing is left over from a test: the
    WorkloadGroup, each VM's token record on the controller and no token, and on each VM the sidecar
    enabled, active and ready."""
    if group(api_client) is None or controller_tokens():
        return False
    for n, vm in enumerate(lab.vms, 1):
        if not (BOOTSTRAP / vm / "istio-token.claims").is_file():
            return False
        state = lab.ssh(n, "sh", "-c", "systemctl is-enabled istio; systemctl is-active istio; "
                        "curl -s -o /dev/null -w '%{http_code}' http://localhost:15021/healthz/ready", check=False)
        if state.stdout.split() != ["enabled", "active", "200"]:
            return False
    return True


@pytest.fixture
def onboarded(lab, api_client):
    """The lab inventory onboarded, whatever ran before in this file (or nothing: a test run alone)."""
    if not converged(lab, api_client):
        res = playbook(lab, "onboard.yml")
        assert converged(lab, api_client), res.stdout[-3000:]


BOOTSTRAP = LAB_STATE  # the defaults: beside the lab inventory
VM_TOKEN = "/var/lib/istio/tokens/istio-token"


def playbook(lab, name, *extra, check=True):
    return run_playbook(lab.inventory, lab.kubeconfig, name, *extra, check=check)


def controller_tokens() -> list:
    """Every token file left in the controller's bootstrap tree."""
    return sorted(str(p.relative_to(BOOTSTRAP)) for p in BOOTSTRAP.rglob("istio-token"))


def record(host: str) -> dict:
    """vm_bootstrap's record of the token it last wrote or kept (claims only)."""
    return json.loads((BOOTSTRAP / host / "istio-token.claims").read_text())


def vm_token(lab, n: int) -> str:
    return lab.ssh(n, "cat", VM_TOKEN).stdout.strip()


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_private(path):
    """A file of mode 0600 whose directories up to BOOTSTRAP are 0700."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {stat.S_IMODE(path.stat().st_mode):o}"
    for directory in [path.parent, *path.parent.parents]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, f"{directory} is {stat.S_IMODE(directory.stat().st_mode):o}"
        if directory == BOOTSTRAP:
            break


def test_bad_inventory_fails_before_any_change(lab, api_client):
    res = playbook(lab, "onboard.yml", "-e", "mesh_workload_mode=bogus", check=False)
    assert res.returncode != 0
    assert "mesh_workload_mode" in res.stdout and "bogus" in res.stdout
    assert group(api_client) is None
    assert lab.ssh(1, "test", "-e", "/var/lib/istio/envoy", check=False).returncode != 0


@pytest.mark.parametrize("extra,message", [
    ("vm_sidecar_token_path='/var/lib/istio/t; touch /tmp/pwned'",
     "vm_sidecar_token_path: '/var/lib/istio/t; touch /tmp/pwned' has characters other than"),
    ("vm_sidecar_package_cache_dir=/var/..", "vm_sidecar_package_cache_dir: '/var/..' is the root directory"),
    ("vm_sidecar_bundle_dir=relative/dir", "vm_sidecar_bundle_dir: 'relative/dir' is not an absolute path"),
    ("mesh_workload_bootstrap_dir='/tmp/b d'", "mesh_workload_bootstrap_dir: '/tmp/b d' has characters other than"),
    ("mesh_workload_bootstrap_dir=/tmp/shared-bundle/",
     "Bootstrap directory /tmp/shared-bundle is shared by mlab-vm1, mlab-vm2"),
])
def test_unsafe_or_shared_paths_fail_before_any_change(lab, api_client, extra, message):
    res = playbook(lab, "onboard.yml", "-e", extra, check=False)
    assert res.returncode != 0
    assert message in " ".join(res.stdout.split()), res.stdout[-3000:]
    assert "PLAY [Create the mesh resources" not in res.stdout
    assert group(api_client) is None
    assert lab.ssh(1, "test", "-e", "/var/lib/istio/envoy", check=False).returncode != 0


def test_check_mode_changes_nothing_on_either_side(lab, api_client):
    res = playbook(lab, "onboard.yml", "--check", "--diff", check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert set(recap(res.stdout)) == set(lab.vms)
    assert "+++ after" in res.stdout, "check mode showed no diff"
    assert group(api_client) is None and entries(api_client) == []
    assert client.CoreV1Api(api_client).list_namespace(field_selector=f"metadata.name={NS}").items == []
    for n in (1, 2):
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "grep", "-c", "istiod", "/etc/hosts", check=False).stdout.strip() == "0"


def test_wrong_package_checksum_leaves_no_sidecar_running(lab):
    res = playbook(lab, "onboard.yml", "-e", "vm_sidecar_package_sha256=" + "0" * 64, check=False)
    assert res.returncode != 0
    # the role's own message for each VM, with get_url's reason: the checksum, not another error
    for vm in lab.vms:
        assert f"{vm} could not download the istio-sidecar package from {lab.cfg.pkg_url}" in res.stdout, \
            res.stdout[-3000:]
    assert res.stdout.count("did not match " + "0" * 64) >= len(lab.vms), res.stdout[-3000:]
    for n in (1, 2):
        assert lab.ssh(n, "dpkg", "-s", "istio-sidecar", check=False).returncode != 0
        assert lab.ssh(n, "systemctl", "is-active", "istio", check=False).stdout.strip() != "active"
    # The VM play failed: each VM's token stays on the controller for the re-run, private.
    assert controller_tokens() == [f"{vm}/istio-token" for vm in lab.vms]
    for vm in lab.vms:
        assert_private(BOOTSTRAP / vm / "istio-token")
        assert_private(BOOTSTRAP / vm / "istio-token.claims")


def test_onboard(lab, api_client):
    started = time.monotonic()
    res = playbook(lab, "onboard.yml")
    took = time.monotonic() - started
    print(f"onboard of {len(lab.vms)} VMs: {took:.1f} s")
    counts = recap(res.stdout)
    assert set(counts) == set(lab.vms), counts
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in counts.values())
    assert_onboarded(lab, api_client)
    # The role started each sidecar and read the VM once it answered ready: verify.yml took that read
    # (its report passed: certificate, token, cluster.env, /etc/hosts and readiness) without a second one.
    assert all(f"ok: [{vm}]" in task_output(res.stdout, READY_WAIT) for vm in lab.vms), res.stdout[-3000:]
    read = task_output(res.stdout, VERIFY_READ)
    assert all(f"skipping: [{vm}]" in read for vm in lab.vms), read[:2000]
    # The lab's VMs have every package istio-sidecar depends on: dpkg installed it alone (apt-get
    # keeps a history of what it ran; dpkg logs every install, whoever calls it).
    for n in range(1, len(lab.vms) + 1):
        assert "status installed istio-sidecar" in lab.ssh(n, "cat", "/var/log/dpkg.log").stdout
        assert "istio-sidecar" not in lab.ssh(n, "cat", "/var/log/apt/history.log", check=False).stdout, \
            "apt-get installed the sidecar"
        # Connection tracking was turned on before interception started: the inert rule, once.
        saved = lab.ssh(n, "iptables-legacy-save", "-t", "filter").stdout
        assert saved.count(f"-A OUTPUT -m conntrack --ctstate INVALID -m comment --comment \"{CONNTRACK_MARK}\" "
                           "-j RETURN") == 1, saved
    # The re-run after the failed one: the VMs have their tokens, the controller none (the
    # records stay: claims only, no token).
    assert controller_tokens() == [], "a token was left on the controller"
    for n, vm in enumerate(lab.vms, 1):
        assert_private(BOOTSTRAP / vm / "istio-token.claims")
        kept = record(vm)
        assert set(kept) == {"iss", "sub", "aud", "exp"}
        assert {key: claims_of(vm_token(lab, n))[key] for key in kept} == kept


READY_WAIT = "meshops.istio_vm.vm_sidecar : Wait for the sidecar's readiness endpoint"
VERIFY_READ = "Read cluster.env, /etc/hosts, the certificate, the token's claims and readiness on the VM"
FIRST_READ_TAKEN = "meshops.istio_vm.vm_sidecar : Take the read of the VM from before the run's changes"


def task_output(stdout: str, task: str) -> str:
    """What a run printed under the task whose name starts with ``task``, up to the next task."""
    return stdout.split("TASK [" + task, 1)[1].split("\nTASK [", 1)[0]


def test_second_run_changes_nothing_and_never_prints_the_token(lab, onboarded):
    records = {vm: (BOOTSTRAP / vm / "istio-token.claims").read_bytes() for vm in lab.vms}
    tokens = [vm_token(lab, n) for n in range(1, len(lab.vms) + 1)]
    res = playbook(lab, "onboard.yml", "-vvv")
    counts = recap(res.stdout)
    assert set(counts) == set(lab.vms), counts
    for host, count in counts.items():
        assert count["changed"] == 0, f"{host} changed on the second run"
    # onboard's bootstrap (verify, after onboard, compares with its result): no token requested
    assert res.stdout.count('"action": "delivered"') == len(lab.vms) and '"action": "renewed"' not in res.stdout
    assert {vm: (BOOTSTRAP / vm / "istio-token.claims").read_bytes() for vm in lab.vms} == records
    assert controller_tokens() == []
    for token in tokens:
        assert len(token) > 100
        assert res.stdout.count(token) == 0 and res.stderr.count(token) == 0
    assert [vm_token(lab, n) for n in range(1, len(lab.vms) + 1)] == tokens
    # verify.yml alone renders the expected bundles in check mode: no token requested either
    verified = playbook(lab, "verify.yml", "-vvv")
    assert verified.stdout.count('"action": "delivered"') == len(lab.vms), verified.stdout[-3000:]
    assert '"action": "renewed"' not in verified.stdout
    assert all(verified.stdout.count(t) == 0 and verified.stderr.count(t) == 0 for t in tokens)
    # each sidecar answered ready when the run read its VM, and nothing restarted it: no second wait
    waited = task_output(res.stdout, READY_WAIT)
    assert all(f"skipping: [{vm}]" in waited for vm in lab.vms), waited[:2000]
    # and the run changed nothing on them: the role took its first read of each VM as the ready read,
    # and verify.yml did not read the VMs again (its report passed: the same read, the same checks)
    taken = task_output(res.stdout, FIRST_READ_TAKEN)
    assert all(f"ok: [{vm}]" in taken for vm in lab.vms), taken[:2000]
    read = task_output(res.stdout, VERIFY_READ)
    assert all(f"skipping: [{vm}]" in read for vm in lab.vms), read[:2000]
    lines = report(res.stdout)
    for vm in lab.vms:
        assert row(lines, vm)[1:3] == ["yes", f"spiffe://cluster.local/ns/{NS}/sa/{SA}"], lines


def test_a_sidecar_unit_disabled_by_hand_is_enabled_again(lab, onboarded):
    """An unchanged run skips the unit's enable/start task only when the unit was active and
    enabled as wanted: one disabled by hand is enabled again, the one change of the run."""
    lab.ssh(1, "systemctl", "disable", "istio")
    assert lab.ssh(1, "systemctl", "is-enabled", "istio", check=False).stdout.strip() == "disabled"
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 1, res.stdout[-3000:]
    assert "changed: [mlab-vm1]" in res.stdout.split("TASK [meshops.istio_vm.vm_sidecar : Enable and start istio.service]")[1][:400]
    # the run started (enabled) the unit: it waits for the sidecar's readiness again
    assert "ok: [mlab-vm1]" in task_output(res.stdout, READY_WAIT), res.stdout[-3000:]
    assert lab.ssh(1, "systemctl", "is-enabled", "istio").stdout.strip() == "enabled"
    assert lab.ssh(1, "systemctl", "is-active", "istio").stdout.strip() == "active"


def test_a_vm_set_up_as_the_istio_guide_says_is_taken_back_by_root(lab, onboarded):
    """The istio.io VM guide chowns /var/lib/istio and the sidecar's directories to istio-proxy: the
    run gives root back what root sources or runs, /var/lib/istio itself included (istio-proxy could
    otherwise swap envoy/ or tokens/ in it for directories of its own)."""
    lab.ssh(1, "chown", "-R", "istio-proxy:istio-proxy", "/var/lib/istio", "/etc/certs")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert res.returncode == 0, res.stdout[-3000:]
    stats = lab.ssh(1, "stat", "-c", "%n %U %a", "/var/lib/istio", "/var/lib/istio/envoy",
                    "/var/lib/istio/config").stdout.split("\n")
    assert stats[:3] == ["/var/lib/istio root 755", "/var/lib/istio/envoy root 755",
                         "/var/lib/istio/config root 755"], stats
    assert lab.ssh(1, "runuser", "-u", "istio-proxy", "--", "mv", "/var/lib/istio/envoy", "/var/lib/istio/old",
                   check=False).returncode != 0, "istio-proxy can rename root's envoy directory"
    # what root sources: the bundle's cluster.env and the package's sidecar.env
    assert lab.ssh(1, "stat", "-c", "%U %a", "/var/lib/istio/envoy/cluster.env",
                   "/var/lib/istio/envoy/sidecar.env").stdout.split("\n")[:2] == ["root 640", "root 644"]


def test_a_sidecar_env_istio_proxy_could_have_written_is_not_given_to_root(lab, onboarded):
    """istio-start.sh sources sidecar.env as root. While istio-proxy owns it (the guide's chown) or its
    directory (the package's postinst), it may write anything there: the run gives it to root only with
    the bytes the package shipped (dpkg's MD5 of it), as a new file; otherwise it fails and leaves it."""
    env = "/var/lib/istio/envoy/sidecar.env"
    shipped = lab.ssh(1, "cat", env).stdout
    lab.ssh(1, "chown", "-R", "istio-proxy:istio-proxy", "/var/lib/istio/envoy")
    lab.ssh(1, "runuser", "-u", "istio-proxy", "--", "sh", "-c", f"echo 'ISTIO_AGENT_FLAGS=--planted' >> {env}")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)
    assert res.returncode != 0, res.stdout[-3000:]
    text = " ".join(res.stdout.split())
    assert (f"{env} can be written by istio-proxy (its owner), and it is not the file package istio-sidecar "
            "installed (its MD5 is") in text, res.stdout[-3000:]
    assert lab.ssh(1, "stat", "-c", "%U", env).stdout.strip() == "istio-proxy"
    assert "--planted" in lab.ssh(1, "cat", env).stdout
    # the directory is root's again (the run set up the directories first): istio-proxy writes in place
    assert lab.ssh(1, "stat", "-c", "%U", "/var/lib/istio/envoy").stdout.strip() == "root"
    # the package's bytes again, still istio-proxy's: handed to root as a new file
    lab.ssh(1, "runuser", "-u", "istio-proxy", "--", "sh", "-c",
            f"head -n -1 {env} > /tmp/sidecar.env.kept && cat /tmp/sidecar.env.kept > {env}")
    inode = lab.ssh(1, "stat", "-c", "%i %U", env).stdout.split()
    assert inode[1] == "istio-proxy"
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert res.returncode == 0, res.stdout[-3000:]
    after = lab.ssh(1, "stat", "-c", "%i %U %a", env).stdout.split()
    assert after[1:] == ["root", "644"] and after[0] != inode[0], (inode, after)
    assert lab.ssh(1, "cat", env).stdout == shipped


def root_fingerprints(text: str) -> list:
    return sorted(c.fingerprint(c.signature_hash_algorithm).hex() for c in x509.load_pem_x509_certificates(text.encode()))


def test_a_root_certificate_the_mesh_no_longer_has_is_replaced(lab, onboarded):
    """istio-agent rewrites /etc/certs/root-cert.pem in its own way, so the run leaves a file that holds
    the bundle's root. One that lacks it (the mesh's root changed while the sidecar was down: it can
    no longer reach istiod) is replaced, and the sidecar restarted with it."""
    cert = "/etc/certs/root-cert.pem"
    bundle = (BOOTSTRAP / "mlab-vm1" / "root-cert.pem").read_text()
    agent = lab.ssh(1, "cat", cert).stdout
    assert agent != bundle and root_fingerprints(agent) == root_fingerprints(bundle), "the agent's copy is no longer different"
    lab.ssh(1, "sh", "-c", f"openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -subj /O=another-mesh "
            f"-days 1 -out {cert} 2>/dev/null && chown istio-proxy:root {cert} && chmod 600 {cert}")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--diff")
    assert recap(res.stdout)["mlab-vm1"]["changed"] >= 1, res.stdout[-3000:]
    restart = res.stdout.split("RUNNING HANDLER [meshops.istio_vm.vm_sidecar : Restart istio]")[1][:300]
    assert "changed: [mlab-vm1]" in restart, res.stdout[-3000:]
    assert root_fingerprints(lab.ssh(1, "cat", cert).stdout) == root_fingerprints(bundle)
    assert lab.ssh(1, "systemctl", "is-active", "istio").stdout.strip() == "active"
    # the agent's own copy of the same root after the restart: left as it is
    again = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert recap(again.stdout)["mlab-vm1"]["changed"] == 0, again.stdout[-3000:]


OLD_ROOT_CHAIN = """set -e
d=$(mktemp -d); cd "$d"
ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'
openssl req -x509 $ec -keyout root.key -out root.pem -days 2 -subj /O=old-mesh-root 2>/dev/null
openssl req -new $ec -keyout key.pem -out leaf.csr -subj /O=old-mesh -addext "subjectAltName=$1" 2>/dev/null
openssl x509 -req -in leaf.csr -CA root.pem -CAkey root.key -CAcreateserial -copy_extensions copy -days 2 \
  -out leaf.pem 2>/dev/null
cat leaf.pem root.pem > /etc/certs/cert-chain.pem
cp key.pem /etc/certs/key.pem
chown istio-proxy:root /etc/certs/cert-chain.pem /etc/certs/key.pem
chmod 600 /etc/certs/cert-chain.pem /etc/certs/key.pem
cd /; rm -rf "$d"
"""


def test_a_workload_certificate_of_a_root_the_mesh_no_longer_has_is_replaced(lab, onboarded):
    """The mesh's root changed while the VM was away: its workload certificate, of its own identity and
    valid for two days, was issued by the old root (its root-cert.pem, which the agent follows, holds the
    mesh's: only the certificate says it). istio-agent asks istiod for certificates with the certificate it
    holds while that is valid, and istiod no longer trusts it. verify.yml names it; the run removes it with
    its key before the restart; its token is due (renew_before), and the lasting certificate no longer keeps
    it: the VM gets a new token, the agent asks with it, and the VM's new certificate is of the mesh's root."""
    bundle = (BOOTSTRAP / "mlab-vm1" / "root-cert.pem").read_text()
    san, pid = spiffe_ids(lab, 1), unit(lab, 1, "MainPID")["MainPID"]
    assert san.startswith("URI:spiffe://"), san
    token = vm_token(lab, 1)
    try:
        lab.ssh(1, "sh", "-c", OLD_ROOT_CHAIN, "plant", san)
        planted = lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout
        assert spiffe_ids(lab, 1) == san and root_fingerprints(planted.split("-----END CERTIFICATE-----\n", 1)[1]) \
            != root_fingerprints(bundle)
        # verify.yml names it
        checked = playbook(lab, "verify.yml", "--limit", "mlab-vm1", check=False)
        assert checked.returncode != 0 and "the workload certificate chains to a root the mesh no longer has" in \
            " ".join(checked.stdout.split()), checked.stdout[-3000:]
        # the token is due, the planted certificate would last: only its root says that the VM needs a new token
        renew = ("-e", "vm_sidecar_token_renew_before=7200", "-e", "mesh_workload_token_renew_before=3599")
        # a dry run says so and changes nothing; with the check turned off there is nothing to say
        dry = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check", *renew)
        assert RESTART_HANDLER in dry.stdout, dry.stdout[-3000:]
        off = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check", *renew, "-e", "vm_sidecar_cert_root_check=false")
        assert recap(off.stdout)["mlab-vm1"]["changed"] == 0, off.stdout[-3000:]
        assert lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout == planted
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", *renew)
    except Exception:
        # a VM left with a certificate istiod does not trust stays out of the mesh: put it back for the next tests
        lab.ssh(1, "rm", "-f", "/etc/certs/cert-chain.pem", "/etc/certs/key.pem")
        playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)
        raise
    assert RESTART_HANDLER in res.stdout and unit(lab, 1, "MainPID")["MainPID"] != pid, res.stdout[-3000:]
    assert vm_token(lab, 1) != token and controller_tokens() == []
    assert "0 of 1 VMs drift" in " ".join(res.stdout.split()), res.stdout[-3000:]
    chain = lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout
    assert chain != planted and spiffe_ids(lab, 1) == san
    assert root_fingerprints(chain.split("-----END CERTIFICATE-----\n", 1)[1]) == root_fingerprints(bundle)
    assert root_fingerprints(lab.ssh(1, "cat", "/etc/certs/root-cert.pem").stdout) == root_fingerprints(bundle)
    again = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert recap(again.stdout)["mlab-vm1"]["changed"] == 0, again.stdout[-3000:]


def test_rotate_replaces_a_workload_certificate_of_a_root_the_mesh_no_longer_has(lab, onboarded):
    """rotate.yml, run on a schedule, repairs the VM whose lasting certificate an old root issued (the mesh's
    root changed while it was away): it gives it a new token and removes the certificate with its key before
    the restart, so that the agent asks istiod with the token; the next rotate has nothing to do."""
    bundle = (BOOTSTRAP / "mlab-vm1" / "root-cert.pem").read_text()
    san, token = spiffe_ids(lab, 1), vm_token(lab, 1)
    try:
        lab.ssh(1, "sh", "-c", OLD_ROOT_CHAIN, "plant", san)
        planted = lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout
        # valid for two days, more than rotate_threshold_seconds: only its root calls for a new token
        dry = playbook(lab, "rotate.yml", "--limit", "mlab-vm1", "--check")
        report = " ".join(task_output(dry.stdout, "Report the certificate").split())
        assert "Certificate of a root the mesh no longer has, valid until" in report and "renewing the token" in report, \
            dry.stdout[-3000:]
        assert "changed: [mlab-vm1]" in task_output(dry.stdout, "meshops.istio_vm.vm_sidecar : Install the mesh token")
        assert lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout == planted and vm_token(lab, 1) == token
        res = playbook(lab, "rotate.yml", "--limit", "mlab-vm1")
    except Exception:
        # a VM left with a certificate istiod does not trust stays out of the mesh: put it back for the next tests
        lab.ssh(1, "rm", "-f", "/etc/certs/cert-chain.pem", "/etc/certs/key.pem")
        playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)
        raise
    assert "renewing the token" in task_output(res.stdout, "Report the certificate"), res.stdout[-3000:]
    assert vm_token(lab, 1) != token and controller_tokens() == []
    chain = lab.ssh(1, "cat", "/etc/certs/cert-chain.pem").stdout
    assert chain != planted and spiffe_ids(lab, 1) == san
    assert root_fingerprints(chain.split("-----END CERTIFICATE-----\n", 1)[1]) == root_fingerprints(bundle)
    again = playbook(lab, "rotate.yml", "--limit", "mlab-vm1")
    assert "nothing to do" in task_output(again.stdout, "Report the certificate"), again.stdout[-3000:]
    assert recap(again.stdout)["mlab-vm1"]["changed"] == 0, again.stdout[-3000:]
    assert "0 of 2 VMs drift" in " ".join(playbook(lab, "verify.yml").stdout.split())
    # an inventory ahead of the cluster (a service account onboard has not applied yet): the bundle cannot be
    # rendered, the certificate is left unchecked, and the scheduled run still goes through, changing nothing
    ahead = playbook(lab, "rotate.yml", "--limit", "mlab-vm1", "-e", "mesh_workload_service_account=renamed-sa")
    report = " ".join(task_output(ahead.stdout, "Report the certificate").split())
    assert "nothing to do. Its identity and root are not checked: the bundle could not be rendered (" in report, \
        ahead.stdout[-3000:]
    assert recap(ahead.stdout)["mlab-vm1"]["changed"] == 0 and recap(ahead.stdout)["mlab-vm1"]["failed"] == 0


def test_rotate_checks_the_sidecar_paths_before_any_change(lab, onboarded):
    """rotate.yml makes the token's directory istio-proxy's: a path that onboard.yml refuses stops it too,
    before the lock or any VM is touched."""
    before = lab.ssh(1, "stat", "-c", "%U %a", "/etc").stdout
    res = playbook(lab, "rotate.yml", "--limit", "mlab-vm1", "-e", "vm_sidecar_token_path=/etc/istio-token",
                   "-e", "rotate_force=true", check=False)
    assert res.returncode != 0
    assert "vm_sidecar_token_path: the role makes the directory of '/etc/istio-token' istio-proxy's" in \
        " ".join(res.stdout.split()), res.stdout[-3000:]
    assert "Take or give back the lock" not in res.stdout, "got past the checks"
    assert all(counts.get("changed", 0) == 0 for counts in recap(res.stdout).values())
    assert lab.ssh(1, "stat", "-c", "%U %a", "/etc").stdout == before
    assert lab.ssh(1, "test", "-e", "/etc/istio-token", check=False).returncode != 0


def spiffe_ids(lab, n: int) -> str:
    """The SPIFFE IDs of VM n's workload certificate."""
    return lab.ssh(n, "openssl", "x509", "-in", "/etc/certs/cert-chain.pem", "-noout", "-ext",
                   "subjectAltName").stdout.split("\n", 1)[1].strip()


def test_a_new_service_account_is_dry_run_then_becomes_the_vms_identity(lab, api_client, onboarded):
    """The workload's service account changed in the inventory. --check renders the bundle from the
    WorkloadGroup the run would apply (it failed on the live group's old account), shows the removal of
    each VM's certificate of the old identity, and writes nothing.
    The run then gives the VMs certificates of the new identity: istio-agent asks for certificates with
    the one it holds, so the role removes a certificate of another identity before the restart (else
    istiod refuses the VM: 'no identities ([.../sa/lab-app]) matched lab-vms/renamed-sa')."""
    core = client.CoreV1Api(api_client)
    bundle = {p.name: p.read_bytes() for p in (BOOTSTRAP / "mlab-vm1").iterdir()}
    renamed = ("-e", "mesh_workload_service_account=renamed-sa")
    res = playbook(lab, "onboard.yml", "--check", "--diff", *renamed)
    text = " ".join((res.stdout + res.stderr).split())     # warnings are on stderr
    assert "SERVICE_ACCOUNT='lab-app'" in text and "SERVICE_ACCOUNT='renamed-sa'" in text, res.stdout[-3000:]
    assert "ServiceAccount lab-vms/renamed-sa (the planned WorkloadGroup's template.serviceAccount) does not exist yet" in text
    # the VM side compares with the new identity: each VM's certificate of the old one goes, and the sidecar restarts
    vm_files = res.stdout.split("TASK [meshops.istio_vm.vm_sidecar : Install the bundle", 1)[1].split("\nTASK [", 1)[0]
    assert vm_files.count("+++ after: /etc/certs/cert-chain.pem\n@@ -1 +1 @@\n-state: present\n+state: absent") == 2, vm_files
    assert "changed: [mlab-vm1]" in vm_files and "changed: [mlab-vm2]" in vm_files
    assert RESTART_HANDLER in res.stdout
    # the token of the new identity comes with the cluster play's bundle, as in the run: none is requested again
    request = res.stdout.split("TASK [Request a token for VMs that need one the controller no longer holds]", 1)[1]
    assert "included:" not in request.split("\nTASK [", 1)[0], request[:600]
    assert group(api_client)["spec"]["template"]["serviceAccount"] == SA
    assert [a.metadata.name for a in core.list_namespaced_service_account(NS).items if a.metadata.name == "renamed-sa"] == []
    assert {p.name: p.read_bytes() for p in (BOOTSTRAP / "mlab-vm1").iterdir()} == bundle
    try:
        playbook(lab, "onboard.yml", *renamed)
        assert group(api_client)["spec"]["template"]["serviceAccount"] == "renamed-sa"
        for n in (1, 2):
            assert spiffe_ids(lab, n) == "URI:spiffe://cluster.local/ns/lab-vms/sa/renamed-sa"
        # the ServiceAccount deleted since, the group unchanged: a dry run would create it again, and
        # renders the bundles with a warning (not "not found: create it first"); the run creates it
        core.delete_namespaced_service_account("renamed-sa", NS)
        res = playbook(lab, "onboard.yml", "--check", *renamed)
        text = " ".join((res.stdout + res.stderr).split())
        assert "ServiceAccount lab-vms/renamed-sa (the planned WorkloadGroup's template.serviceAccount) does not exist yet" \
            in text, res.stdout[-3000:]
        playbook(lab, "onboard.yml", *renamed)
        core.read_namespaced_service_account("renamed-sa", NS)
    finally:
        playbook(lab, "onboard.yml")
        core.delete_namespaced_service_account("renamed-sa", NS)
    for n in (1, 2):
        assert spiffe_ids(lab, n) == f"URI:spiffe://cluster.local/ns/lab-vms/sa/{SA}"


def test_a_dry_run_compares_the_vm_with_the_bundle_the_run_would_write(lab, onboarded):
    """A dry run writes no bundle on the controller, so the VM side compares the VM with the bundle as the
    run would write it (vm_bootstrap's planned_bundle): a new label shows as the VM's cluster.env and mesh
    config to be rewritten and its sidecar to be restarted. Nothing changes on either side. A dry run that renders
    no bundle for the VM (its new WorkloadGroup does not exist yet) leaves its configure steps out, with a note."""
    bundle = {p.name: p.read_bytes() for p in (BOOTSTRAP / "mlab-vm1").iterdir()}
    env, pid = lab.ssh(1, "cat", "/var/lib/istio/envoy/cluster.env").stdout, unit(lab, 1, "MainPID")["MainPID"]
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check", "--diff",
                   "-e", '{"mesh_workload_labels": {"app": "lab-app", "tier": "dry"}}')
    vm_files = res.stdout.split("TASK [meshops.istio_vm.vm_sidecar : Install the bundle", 1)[1].split("\nTASK [", 1)[0]
    assert "changed: [mlab-vm1]" in vm_files, res.stdout[-3000:]
    for path in ("/var/lib/istio/envoy/cluster.env", "/etc/istio/config/mesh"):
        after = vm_files.split("+++ after: " + path, 1)[1].split("\n\n", 1)[0]
        assert [line for line in after.splitlines() if line.startswith("+")] \
            and all('"tier":"dry"' in line for line in after.splitlines() if line.startswith("+")), vm_files
    assert RESTART_HANDLER in res.stdout
    # the controller's bundle, one unified diff per file under its path
    written = res.stdout.split("TASK [meshops.istio_vm.mesh_workload : Write each VM's bootstrap bundle", 1)[1].split("\nTASK [", 1)[0]
    for name in ("cluster.env", "mesh.yaml"):
        after = written.split("+++ after: %s" % (BOOTSTRAP / "mlab-vm1" / name), 1)[1].split("\n\n", 1)[0]
        assert [line for line in after.splitlines() if line.startswith("+") and '"tier":"dry"' in line], written
    assert {p.name: p.read_bytes() for p in (BOOTSTRAP / "mlab-vm1").iterdir()} == bundle
    assert lab.ssh(1, "cat", "/var/lib/istio/envoy/cluster.env").stdout == env
    assert unit(lab, 1, "MainPID")["MainPID"] == pid
    # unchanged, the dry run finds nothing to do on the VM
    same = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check")
    assert recap(same.stdout)["mlab-vm1"]["changed"] == 0, same.stdout[-3000:]
    # a new workload: the dry run renders no bundle for its group, which does not exist yet, and the VM is not
    # compared with the controller's bundle of its old group
    moved = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check", "-e", "mesh_workload_name=other-app")
    assert "Check mode: the bundle this run would write is not known (its WorkloadGroup does not exist before the " \
        "run); the configure, service and verify steps are skipped." in moved.stdout, moved.stdout[-3000:]
    assert "skipping: [mlab-vm1]" in moved.stdout.split("TASK [meshops.istio_vm.vm_sidecar : Install the bundle", 1)[1][:300]
    assert RESTART_HANDLER not in moved.stdout


def test_a_dry_run_on_a_controller_without_bundles_compares_the_vms_with_the_token_the_run_would_request(
        lab, onboarded, tmp_path):
    """A controller without the last run's bundles and record (an AWX job without a volume for them): the run
    writes each VM's bundle with a new token before the VM's turn, and a VM keeps its own token while it is good for
    that identity. The dry run compares the VMs with that, instead of skipping their configure steps for want of a
    token: nothing to do on VMs that hold their token, the token to install on one that lost it, and the package and
    every file on a new VM of the workload. It writes nothing."""
    fresh = ("-e", f"mesh_workload_bootstrap_dir={tmp_path / 'bundles'}/{{{{ inventory_hostname }}}}",
             "-e", f"mesh_workload_state_file={tmp_path / 'state.json'}")
    files_task = "meshops.istio_vm.vm_sidecar : Install the bundle, the token"
    res = playbook(lab, "onboard.yml", "--check", "--diff", *fresh)
    assert "configure, service and verify steps are skipped" not in res.stdout, res.stdout[-3000:]
    vm_files = task_output(res.stdout, files_task)
    assert "ok: [mlab-vm1]" in vm_files and "ok: [mlab-vm2]" in vm_files, vm_files
    assert RESTART_HANDLER not in res.stdout
    # the cluster play's bundle brings the token, as in the run: none is requested again
    assert "included:" not in task_output(res.stdout, "Request a token for VMs that need one"), res.stdout[-3000:]
    lab.ssh(1, "mv", VM_TOKEN, VM_TOKEN + ".kept")
    try:
        res = playbook(lab, "onboard.yml", "--check", "--diff", *fresh)
        vm_files = task_output(res.stdout, files_task)
        assert "changed: [mlab-vm1]" in vm_files and "ok: [mlab-vm2]" in vm_files, vm_files
        assert RESTART_HANDLER in res.stdout
        assert lab.ssh(1, "test", "-e", VM_TOKEN, check=False).returncode == 1, "the dry run wrote the token"
    finally:
        lab.ssh(1, "mv", VM_TOKEN + ".kept", VM_TOKEN)
    # a new VM of the workload (built from scratch, no record of a token on the controller)
    fresh_vms(2)
    try:
        res = playbook(lab, "onboard.yml", "--check", "--diff", "--limit", "mlab-vm2", *fresh)
        assert "configure, service and verify steps are skipped" not in res.stdout, res.stdout[-3000:]
        assert "changed: [mlab-vm2]" in task_output(res.stdout, "meshops.istio_vm.vm_sidecar : Download istio-sidecar")
        vm_files = task_output(res.stdout, files_task)
        assert "changed: [mlab-vm2]" in vm_files, vm_files
        assert "+++ after: /var/lib/istio/envoy/cluster.env" in vm_files and "+++ after: /etc/certs/root-cert.pem" in vm_files
        assert RESTART_HANDLER in res.stdout
        assert lab.ssh(2, "test", "-e", "/var/lib/istio", check=False).returncode == 1, "the dry run wrote on the VM"
    finally:    # the VM onboarded again for the tests after this one, whatever failed above
        playbook(lab, "onboard.yml", "--limit", "mlab-vm2")
    assert list(tmp_path.rglob("*")) == [], "the dry run wrote on the controller"


def test_the_vm_lock_works_without_the_lease(lab, api_client, onboarded):
    """mesh_workload_lock=false (a credential without rights on leases, docs/architecture.md): the run
    writes no Lease, and each VM's own lock still takes the run's name and is given back."""
    leases = client.CoordinationV1Api(api_client)
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "-e", "mesh_workload_lock=false", check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 0, res.stdout[-3000:]
    taken = task_output(res.stdout, "meshops.istio_vm.vm_sidecar : Take or give back the lock of the VM")
    assert "ok: [mlab-vm1]" in taken, taken[:2000]
    lease_tasks = res.stdout.split("TASK [meshops.istio_vm.mesh_workload : Take or give back the lock of the workload "
                                   "namespaces]")[1:]
    assert lease_tasks and all(t.split("\nTASK [", 1)[0].count("ok: [") == 0 for t in lease_tasks), "the Lease was touched"
    assert [x.metadata.name for x in leases.list_namespaced_lease(NS).items if x.metadata.name == "meshops-istio-vm"] == []
    assert lab.ssh(1, "test", "-e", "/run/meshops-istio-vm.lock", check=False).returncode == 1, "the VM lock was kept"


TOKEN_DROPIN = "/etc/systemd/system/istio.service.d/10-meshops-token.conf"


def unit(lab, n: int, *properties: str) -> dict:
    """Properties of VM n's istio.service, as systemd has them loaded."""
    out = lab.ssh(n, "systemctl", "show", "istio.service", "--property=" + ",".join(properties)).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def test_the_restart_loads_a_rewritten_drop_in_and_enables_the_unit_as_wanted(lab, onboarded):
    """The restart handler, one raw command: connection tracking on, a daemon-reload when a drop-in
    changed, the unit enabled or disabled as vm_sidecar_enabled says, then the restart."""
    def restart_with(*extra):
        before = unit(lab, 1, "MainPID")["MainPID"]
        lab.ssh(1, "rm", "-f", TOKEN_DROPIN)       # systemd keeps it loaded until a daemon-reload
        assert unit(lab, 1, "NeedDaemonReload")["NeedDaemonReload"] == "yes"
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", *extra)
        restart = res.stdout.split("RUNNING HANDLER [meshops.istio_vm.vm_sidecar : Restart istio]")[1][:300]
        assert "changed: [mlab-vm1]" in restart, res.stdout[-3000:]
        loaded = unit(lab, 1, "NeedDaemonReload", "DropInPaths", "MainPID", "ActiveState")
        assert loaded["NeedDaemonReload"] == "no" and TOKEN_DROPIN in loaded["DropInPaths"].split(), loaded
        assert loaded["ActiveState"] == "active" and loaded["MainPID"] not in ("0", before), (before, loaded)
        return lab.ssh(1, "systemctl", "is-enabled", "istio", check=False).stdout.strip()

    # enabled already: the daemon-reload is the handler's own (systemctl enable would reload too)
    assert restart_with() == "enabled"
    assert restart_with("-e", "vm_sidecar_enabled=false") == "disabled"
    # wanted enabled again: an unchanged run enables it (tasks/service_start.yml), its one change
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 1, res.stdout[-3000:]
    assert lab.ssh(1, "systemctl", "is-enabled", "istio").stdout.strip() == "enabled"


def test_a_unit_file_a_package_upgrade_changed_is_loaded_by_the_restart(lab, onboarded):
    """Istio's package reloads nothing when it replaces istio.service: the restart reloads systemd when
    the unit needs it, or the sidecar would start again with the old unit."""
    unit_file = "/lib/systemd/system/istio.service"
    original = lab.ssh(1, "cat", unit_file).stdout
    lab.ssh(1, "sed", "-i", r"s/^\[Service\]$/[Service]\nEnvironment=MESHOPS_UPGRADED=1/", unit_file)
    try:
        assert unit(lab, 1, "NeedDaemonReload")["NeedDaemonReload"] == "yes"
        res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1")
        assert res.returncode == 0, res.stdout[-3000:]
        loaded = unit(lab, 1, "NeedDaemonReload", "Environment", "ActiveState")
        assert loaded["NeedDaemonReload"] == "no" and "MESHOPS_UPGRADED=1" in loaded["Environment"], loaded
        assert loaded["ActiveState"] == "active"
    finally:
        lab.write(1, unit_file, original.encode())
        lab.ssh(1, "systemctl", "daemon-reload")


# istio-proxy owns /var/run/secrets (the package's unit makes it so), where the token's link goes.
SWAP_TOKENS_FOR_A_LINK = """
mkdir -p /var/lib/victim
runuser -u istio-proxy -- sh -c 'rm -rf /var/run/secrets/tokens && ln -s /var/lib/victim /var/run/secrets/tokens'
"""


def test_the_token_link_is_made_as_istio_proxy_so_a_link_of_its_own_leads_root_nowhere(lab, onboarded):
    """The drop-in's commands run before every start: as root, they would follow a link the sidecar's
    user put in place of the token's directory, and hand it (and a link) whatever it points to."""
    lab.ssh(1, "sh", "-c", SWAP_TOKENS_FOR_A_LINK)
    try:
        lab.ssh(1, "systemctl", "restart", "istio", check=False)    # fails: istio-proxy cannot link there
        assert lab.ssh(1, "stat", "-c", "%U:%G %a", "/var/lib/victim").stdout.strip() == "root:root 755"
        assert lab.ssh(1, "ls", "-A", "/var/lib/victim").stdout == ""
    finally:
        lab.ssh(1, "rm", "-rf", "/var/run/secrets/tokens", "/var/lib/victim")
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    assert lab.ssh(1, "stat", "-c", "%U %F", "/var/run/secrets/tokens").stdout.strip() == "istio-proxy directory"
    assert lab.ssh(1, "readlink", "/var/run/secrets/tokens/istio-token").stdout.strip() == \
        "/var/lib/istio/tokens/istio-token"


def test_a_fifo_istio_proxy_puts_at_the_token_or_certificate_path_fails_the_run_instead_of_hanging_it(lab, onboarded):
    """istio-proxy owns the token's directory and /etc/certs. Reading a FIFO there would wait for a writer
    forever (a run that never ends, and holds its locks); the run fails for the VM instead, saying what is
    in the way, and converges once it is gone."""
    token, cert = "/var/lib/istio/tokens/istio-token", "/etc/certs/cert-chain.pem"
    lab.ssh(1, "runuser", "-u", "istio-proxy", "--", "sh", "-c", f"rm -f {token} {cert} && mkfifo {token} {cert}")
    try:
        started = time.monotonic()
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)   # 900 s: TimeoutExpired
        assert res.returncode != 0 and time.monotonic() - started < 300, res.stdout[-3000:]
        assert f"{token} exists and is not a regular file" in res.stdout, res.stdout[-3000:]
    finally:
        lab.ssh(1, "rm", "-f", token, cert)
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert res.returncode == 0, res.stdout[-3000:]
    assert lab.ssh(1, "stat", "-c", "%F", token, cert).stdout.split("\n")[:2] == ["regular file"] * 2


def test_a_prune_setting_does_not_refuse_a_limited_verify_rotate_or_offboard(lab, onboarded, tmp_path):
    """An inventory that prunes on every onboard (mesh_workload_prune in its group_vars) still verifies,
    rotates and offboards one VM with --limit: those playbooks never prune."""
    (tmp_path / "hosts.yml").write_text((REPO / "inventories" / "lab" / "hosts.yml").read_text())
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").symlink_to(REPO / "inventories" / "lab" / "group_vars" / "all.yml")
    (tmp_path / "group_vars" / "mesh_vms.yml").write_text(yaml.safe_dump({
        "meshlab_state": str(REPO / ".lab"), "mesh_workload_prune": True,
        "mesh_workload_state_file": str(LAB_STATE / "mesh_vms.managed.json"),
        "mesh_workload_bootstrap_dir": str(LAB_STATE) + "/{{ inventory_hostname }}"}))
    for name, extra in (("verify.yml", ()), ("rotate.yml", ("--check",)), ("offboard.yml", ("--check",))):
        res = run_playbook(tmp_path / "hosts.yml", lab.kubeconfig, name, "--limit", "mlab-vm1", *extra, check=False)
        assert "mesh_workload_prune=true needs the whole group" not in res.stdout, f"{name}: refused"
        assert res.returncode == 0, f"{name}: " + res.stdout[-3000:]
    res = run_playbook(tmp_path / "hosts.yml", lab.kubeconfig, "onboard.yml", "--limit", "mlab-vm1", "--check",
                       check=False)
    assert res.returncode != 0 and "mesh_workload_prune=true needs the whole group" in res.stdout, "onboard prunes"


def test_verify_reports_a_workload_group_behind_the_inventory(lab, onboarded):
    """The inventory changed the workload's ports, onboard has not run: the live group, and the cluster.env
    rendered from it, still match the VM, but the group does not match the inventory."""
    res = playbook(lab, "verify.yml", "--limit", "mlab-vm1", "-e", '{"mesh_workload_ports": {"http": 9080}}',
                   check=False)
    assert res.returncode != 0, res.stdout[-3000:]
    assert f"WorkloadGroup {NS}/{GROUP} differs from the inventory in spec.template.ports (run onboard.yml)" \
        in res.stdout, res.stdout[-3000:]
    assert "cluster.env differs" not in res.stdout


def test_verify_changes_nothing_when_a_run_would_renew_the_token(lab, onboarded):
    """verify.yml renders the expected bundle in check mode; a bundle whose token a run would renew by
    now (here: a renewal threshold longer than the token has left) is no change that verify.yml makes."""
    res = playbook(lab, "verify.yml", "--limit", "mlab-vm1", "--diff", "-e", "mesh_workload_token_duration=100000000",
                   "-e", "mesh_workload_token_renew_before=99999999")
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 0, res.stdout[-3000:]
    assert "(new token)" not in res.stdout


def test_health_follows_the_probe(lab, api_client, onboarded):
    name = f"{GROUP}-10.213.0.11-meshlab-net"

    def state():
        return {e["metadata"]["name"]: healthy(e) for e in entries(api_client)}.get(name)

    wait("Healthy=True", lambda: state() == "True")
    lab.ssh(1, "systemctl", "stop", "lab-app")
    try:
        wait("Healthy=False after the probed port closed", lambda: state() == "False")
    finally:
        lab.ssh(1, "systemctl", "start", "lab-app")
    wait("Healthy=True again", lambda: state() == "True")


def report(stdout: str):
    """What verify.yml's 'Report per VM' task printed (the verify_report filter's output)."""
    block = stdout[stdout.index("TASK [Report per VM]"):]
    block = block[block.index("=> ") + 3:]
    return json.loads(block[:block.index("\n}\n") + 2])["msg"]


def row(lines: list, vm: str) -> list:
    """The cells of ``vm``'s row of the table (columns are two or more spaces apart)."""
    return [re.split(r"\s{2,}", line) for line in lines if line.startswith(vm + "  ")][0]


def test_drift_is_reported_then_fixed(lab, api_client, onboarded):
    name = f"{GROUP}-10.213.0.12-meshlab-net"
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        "networking.istio.io", "v1", NS, "workloadentries", name, {"spec": {"labels": {"app": "hand-edited"}}},
        _content_type="application/merge-patch+json")
    res = playbook(lab, "verify.yml", check=False)
    assert res.returncode != 0 and f"WorkloadEntry {NS}/{name} differs from the inventory" in res.stdout
    assert "1 of 2 VMs drift" in res.stdout
    # the table: a row per VM, then the drifting VM's findings
    lines = report(res.stdout)
    assert re.split(r"\s{2,}", lines[0]) == ["VM", "READY", "CERT SAN", "CERT EXPIRES", "TOKEN EXPIRES",
                                             "ENTRY HEALTHY", "DRIFT"]
    spiffe = f"spiffe://cluster.local/ns/{NS}/sa/{SA}"
    for vm, drift in (("mlab-vm1", "none"), ("mlab-vm2", "1 (below)")):
        cells = row(lines, vm)
        assert cells[:3] == [vm, "yes", spiffe] and cells[5:] == ["yes", drift], cells
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\dZ \(in \d+(d\d\dh|h\d\dm|m)\)", cells[3]), cells
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\dZ \(in \d+(d\d\dh|h\d\dm|m)\)", cells[4]), cells
    findings = lines[lines.index("mlab-vm2 drifts:") + 1:-1]
    assert len(findings) == 1 and findings[0].startswith(f"  - WorkloadEntry {NS}/{name} differs from the inventory")
    assert lines[-1] == "2 VMs: 1 in line with the inventory, 1 drifting (mlab-vm2)"
    playbook(lab, "onboard.yml")
    entry = [e for e in entries(api_client) if e["metadata"]["name"] == name][0]
    assert entry["spec"]["labels"]["app"] == GROUP
    # the same report as JSON, printed and written for monitoring; read each VM back to compare
    out = REPO / "tests" / "output" / "verify-report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    res = playbook(lab, "verify.yml", "-e", "verify_format=json", "-e", f"verify_report_path={out}")
    assert "0 of 2 VMs drift" in res.stdout
    doc = json.loads(out.read_text())
    assert report(res.stdout) == doc
    assert doc["summary"]["vms"] == 2 and doc["summary"]["ok"] == 2 and doc["summary"]["drifting"] == []
    assert [r["vm"] for r in doc["vms"]] == ["mlab-vm1", "mlab-vm2"]
    for n, rec in enumerate(doc["vms"], start=1):
        cert = x509.load_pem_x509_certificate(lab.ssh(n, "cat", "/etc/certs/cert-chain.pem").stdout.encode())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert rec["cert_san"] == [str(u) for u in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        assert rec["cert_san"] == [spiffe] and rec["cert_san_ok"] is True
        assert rec["cert_expires"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        exp = claims_of(vm_token(lab, n))["exp"]
        token_expires = datetime.strptime(rec["token_expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs(token_expires.timestamp() - exp) <= 60, (rec["token_expires"], exp)
        assert rec["token_seconds_left"] > 0 and rec["cert_seconds_left"] > 0
        assert (rec["ok"], rec["sidecar_ready"], rec["entry_healthy"], rec["drift"]) == (True, True, True, [])
        assert rec["entry"] == f"{NS}/{GROUP}-{lab.cfg.vm_ip(n)}-meshlab-net"
    out.unlink()


def test_rotate_renews_the_token_only_when_asked_or_needed(lab, onboarded):
    before = vm_token(lab, 1)
    res = playbook(lab, "rotate.yml")
    assert "nothing to do" in res.stdout
    assert all(c["changed"] == 0 for c in recap(res.stdout).values()), "rotate changed fresh VMs"
    assert vm_token(lab, 1) == before and controller_tokens() == []

    # a dry run requests no token, and reports the token it would install
    res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1", "--check")
    assert "changed: [mlab-vm1]" in task_output(res.stdout, "meshops.istio_vm.vm_sidecar : Install the mesh token"), \
        res.stdout[-3000:]
    assert vm_token(lab, 1) == before and controller_tokens() == []

    res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1", "-vvv")
    after = vm_token(lab, 1)
    assert after != before, "rotate_force did not give the VM a new token"
    assert res.stdout.count(after) == 0 and res.stdout.count(before) == 0, "a token was printed"
    assert recap(res.stdout)["mlab-vm1"]["changed"] >= 2 and "mlab-vm2" not in recap(res.stdout)
    assert controller_tokens() == [], "rotate left the new token on the controller"
    assert record("mlab-vm1")["exp"] == claims_of(after)["exp"] != claims_of(before)["exp"]
    assert lab.ssh(1, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                   "http://localhost:15021/healthz/ready").stdout == "200"
    assert "0 of 2 VMs drift" in playbook(lab, "verify.yml").stdout


RESTART_HANDLER = "RUNNING HANDLER [meshops.istio_vm.vm_sidecar : Restart istio]"


def test_a_token_about_to_expire_is_kept_while_the_certificate_lasts(lab, onboarded):
    """istio-agent renews its certificate with the certificate: a VM whose token has no more than
    vm_sidecar_token_renew_before seconds left, but whose certificate of the same identity has more, keeps
    its token and its running sidecar; without a certificate it gets a new token, and a restart."""
    # 7200 s: more than the token's hour (mesh_workload_token_duration), less than the certificate's day;
    # on the controller 3599 s (less than the hour, as validation wants): the bundle's record says the
    # token handed out is due for renewal
    renew = ("-e", "vm_sidecar_token_renew_before=7200", "-e", "mesh_workload_token_renew_before=3599")
    before, pid = vm_token(lab, 1), unit(lab, 1, "MainPID")["MainPID"]
    assert claims_of(before)["exp"] - time.time() <= 3600
    record_before = (BOOTSTRAP / "mlab-vm1" / "istio-token.claims").read_bytes()
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", *renew)
    assert RESTART_HANDLER not in res.stdout, res.stdout[-3000:]
    # and the cluster play requested no token for it either: nothing changed anywhere
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 0, res.stdout[-3000:]
    assert (BOOTSTRAP / "mlab-vm1" / "istio-token.claims").read_bytes() == record_before
    assert "changed: [mlab-vm1]" not in task_output(res.stdout, "meshops.istio_vm.vm_sidecar : Install the bundle")
    assert vm_token(lab, 1) == before and unit(lab, 1, "MainPID")["MainPID"] == pid
    assert controller_tokens() == []

    # without its certificate the VM needs a token: a new one, and a restart (the agent then asks with it)
    lab.ssh(1, "rm", "-f", "/etc/certs/cert-chain.pem")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", *renew)
    after = vm_token(lab, 1)
    assert RESTART_HANDLER in res.stdout and after != before and claims_of(after)["sub"] == claims_of(before)["sub"]
    assert unit(lab, 1, "MainPID")["MainPID"] != pid and controller_tokens() == []
    assert res.stdout.count(after) == 0 and "0 of 1 VMs drift" in " ".join(res.stdout.split())
    assert lab.ssh(1, "test", "-s", "/etc/certs/cert-chain.pem", check=False).returncode == 0


PENDING_RESTART = "meshops.istio_vm.vm_sidecar : Restart the sidecar that started before the files it reads"


def test_files_changed_after_the_sidecar_started_restart_it_at_the_next_run(lab, onboarded):
    """A run that wrote the sidecar's files, or upgraded its package, and ended before its restart (failed,
    cut off: Ansible drops the handlers it notified) leaves the files in place and the sidecar running
    without them. Touched here (a change of their ctime, as a write makes): the next run restarts it, once."""
    pid = unit(lab, 1, "MainPID")["MainPID"]
    lab.ssh(1, "touch", "/var/lib/istio/envoy/cluster.env", "/usr/local/bin/pilot-agent")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    said = " ".join(task_output(res.stdout, PENDING_RESTART).split())
    assert "changed: [mlab-vm1]" in said, res.stdout[-3000:]
    assert ("mlab-vm1: istio.service started before /usr/local/bin/pilot-agent, /var/lib/istio/envoy/cluster.env "
            "last changed") in said, said
    assert RESTART_HANDLER in res.stdout and unit(lab, 1, "MainPID")["MainPID"] != pid
    assert "changed: [mlab-vm1]" not in task_output(res.stdout, "meshops.istio_vm.vm_sidecar : Install the bundle")
    # once: the sidecar started after them now
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert "skipping: [mlab-vm1]" in task_output(res.stdout, PENDING_RESTART) and RESTART_HANDLER not in res.stdout
    # a dry run reports the restart it would do, and does none
    pid = unit(lab, 1, "MainPID")["MainPID"]
    lab.ssh(1, "touch", "/etc/istio/config/mesh")
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check")
    assert "changed: [mlab-vm1]" in task_output(res.stdout, PENDING_RESTART) and RESTART_HANDLER in res.stdout
    assert unit(lab, 1, "MainPID")["MainPID"] == pid
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert RESTART_HANDLER in res.stdout and unit(lab, 1, "MainPID")["MainPID"] != pid


DPKG_INSTALL = "meshops.istio_vm.vm_sidecar : Install istio-sidecar from the .deb with dpkg"


DPKG_LOCKED, DPKG_RELEASE = "/run/meshops-test-dpkg-locked", "/run/meshops-test-dpkg-release"
# Holds dpkg's lock (as unattended-upgrades would) until DPKG_RELEASE exists, 10 minutes at most.
DPKG_HOLD = (f"import fcntl, os, time\nf = open('/var/lib/dpkg/lock-frontend', 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
             f"open('{DPKG_LOCKED}', 'w').close()\nwhile not os.path.exists('{DPKG_RELEASE}'):\n    time.sleep(0.1)\n")


@contextlib.contextmanager
def dpkg_locked(lab, n: int):
    """dpkg's lock held on VM n by another process until the caller lets it go (the function
    yielded), or leaves the block."""
    lab.ssh(n, "rm", "-f", DPKG_LOCKED, DPKG_RELEASE)
    lab.ssh(n, "systemd-run", "--unit=meshops-test-dpkg-lock", "--collect", "--property=RuntimeMaxSec=600",
            "python3", "-c", DPKG_HOLD)
    try:
        lab.ssh(n, "sh", "-c", f"until [ -e {DPKG_LOCKED} ]; do sleep 0.1; done", timeout=60)
        yield lambda: lab.ssh(n, "touch", DPKG_RELEASE)
    finally:
        lab.ssh(n, "systemctl", "stop", "meshops-test-dpkg-lock", check=False)
        lab.ssh(n, "rm", "-f", DPKG_LOCKED, DPKG_RELEASE)


def test_the_package_install_waits_for_the_dpkg_lock_another_process_holds(lab, onboarded):
    """dpkg does not wait for its lock, which unattended-upgrades or cloud-init hold on a VM's first boot:
    the role tries again while dpkg says it is locked, up to vm_sidecar_package_lock_timeout seconds.
    The lock is let go once the install has been refused, not after a guessed time."""
    retrying = "FAILED - RETRYING: [mlab-vm1]: " + DPKG_INSTALL.split(" : ")[1]
    lab.ssh(1, "dpkg", "--remove", "istio-sidecar")          # (its files stay; the install runs again)
    with dpkg_locked(lab, 1) as release:
        res = run_playbook_acting(lab.inventory, lab.kubeconfig, "onboard.yml", "--limit", "mlab-vm1",
                                  once_said=retrying, act=release, check=False)
    said = task_output(res.stdout, DPKG_INSTALL)
    assert res.returncode == 0, res.stdout[-3000:]
    assert retrying in said and "changed: [mlab-vm1]" in said, said
    assert lab.ssh(1, "dpkg-query", "--show", "--showformat=${db:Status-Abbrev}", "istio-sidecar").stdout.strip() == "ii"
    assert lab.ssh(1, "systemctl", "is-active", "istio.service").stdout.strip() == "active"

    # with no time to wait, it fails with dpkg's own error
    lab.ssh(1, "dpkg", "--remove", "istio-sidecar")
    with dpkg_locked(lab, 1):
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "-e", "vm_sidecar_package_lock_timeout=0", check=False)
    assert res.returncode != 0 and "locked by another process" in task_output(res.stdout, DPKG_INSTALL), res.stdout[-3000:]
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert lab.ssh(1, "systemctl", "is-active", "istio.service").stdout.strip() == "active"


PORT_START_BACK = "meshops.istio_vm.vm_sidecar : Set the unprivileged port start back"


def test_an_unprivileged_port_start_unset_again_is_set_back(lab, onboarded):
    """vm_sidecar_unprivileged_port_start set once, then unset: the role's sysctl file goes, and the value
    becomes what the VM's own sysctl settings give (here none: the kernel's 1024), not 0 for good."""
    port_start, conf = "/proc/sys/net/ipv4/ip_unprivileged_port_start", "/etc/sysctl.d/60-meshops-istio.conf"
    try:
        playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "-e", "vm_sidecar_unprivileged_port_start=0")
        assert lab.ssh(1, "cat", port_start).stdout.strip() == "0"
        # a dry run reports the removal and the reset, and makes neither
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", "--check")
        assert "changed: [mlab-vm1]" in task_output(res.stdout, PORT_START_BACK), res.stdout[-3000:]
        assert lab.ssh(1, "cat", port_start).stdout.strip() == "0" and lab.ssh(1, "test", "-e", conf, check=False).returncode == 0
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
        assert "changed: [mlab-vm1]" in task_output(res.stdout, PORT_START_BACK), res.stdout[-3000:]
        assert lab.ssh(1, "cat", port_start).stdout.strip() == "1024"
        assert lab.ssh(1, "test", "-e", conf, check=False).returncode != 0
        assert lab.ssh(1, "systemctl", "is-active", "istio.service").stdout.strip() == "active"
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
        assert "skipping: [mlab-vm1]" in task_output(res.stdout, PORT_START_BACK) and RESTART_HANDLER not in res.stdout
    finally:
        lab.ssh(1, "sh", "-c", f"rm -f {conf} && sysctl -q -w net.ipv4.ip_unprivileged_port_start=1024")


def test_keep_token_leaves_a_private_copy_on_the_controller(lab, onboarded):
    playbook(lab, "rotate.yml", "-e", "rotate_force=true", "-e", "mesh_workload_keep_token=true",
             "--limit", "mlab-vm1")
    token_file = BOOTSTRAP / "mlab-vm1" / "istio-token"
    assert controller_tokens() == ["mlab-vm1/istio-token"]
    assert_private(token_file)
    assert token_file.read_text().strip() == vm_token(lab, 1), "the kept token is not the VM's"
    # The next run without the option removes it; the VM keeps that token.
    res = playbook(lab, "onboard.yml")
    assert recap(res.stdout)["mlab-vm1"]["changed"] == 1 and recap(res.stdout)["mlab-vm2"]["changed"] == 0
    assert controller_tokens() == []
    assert claims_of(vm_token(lab, 1))["exp"] == record("mlab-vm1")["exp"]


FAILING_START = "/run/systemd/system/istio.service.d/99-meshops-test-failing-start.conf"
FAIL_ONCE = "/run/meshops-test-fail-start"


def failing_start(lab, n: int, *, once: bool, restart: str = "always") -> None:
    """Give VM n's istio.service a start step that fails (a drop-in in /run: gone at the next boot),
    once (it removes its marker) or every time; ``restart`` is the unit's Restart= while it is there."""
    fail = "echo meshops-test: start refused >&2; exit 3"
    step = f"if [ -e {FAIL_ONCE} ]; then rm -f {FAIL_ONCE}; {fail}; fi" if once else fail
    lab.ssh(n, "mkdir", "-p", FAILING_START.rsplit("/", 1)[0])
    lab.write(n, FAILING_START, f"[Service]\nRestart={restart}\nExecStartPre=/bin/sh -c '{step}'\n".encode())
    lab.ssh(n, "sh", "-c", f"touch {FAIL_ONCE} && systemctl daemon-reload")


def mend_start(lab, n: int) -> None:
    lab.ssh(n, "sh", "-c", f"rm -f {FAILING_START} {FAIL_ONCE} && systemctl daemon-reload "
                           "&& systemctl reset-failed istio.service; systemctl start istio.service",
            check=False)


def restarts(lab, n: int) -> int:
    return int(lab.ssh(n, "systemctl", "show", "istio.service", "--property=NRestarts", "--value").stdout)


def test_rotate_waits_out_a_start_that_systemd_retries_itself(lab, onboarded):
    before, restarted = vm_token(lab, 1), restarts(lab, 1)
    failing_start(lab, 1, once=True)
    try:
        res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1", check=False)
        restarted = restarts(lab, 1) - restarted
    finally:
        mend_start(lab, 1)
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Unable to restart service istio.service" in out, out[-3000:]
    assert f"ExecStartPre=/bin/sh -c if [ -e {FAIL_ONCE} ]" in out and "(code=exited, status=3)" in out, out[-3000:]
    assert "SubState=auto-restart" in out and "systemd will not start it again" not in out
    assert restarted == 1, "systemd did not start the unit again"
    after = vm_token(lab, 1)
    assert after != before and out.count(after) == 0 and out.count(before) == 0
    assert claims_of(after)["exp"] == record("mlab-vm1")["exp"] and controller_tokens() == []
    assert lab.ssh(1, "curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                   "http://localhost:15021/healthz/ready").stdout == "200"


def run_while_the_start_fails(lab, name: str, *extra: str):
    """Run playbook ``name`` on mlab-vm1 while each start of its istio.service fails and systemd does not
    start it again: the run, its output on one line, and the unit's state after it."""
    failing_start(lab, 1, once=False, restart="no")
    try:
        res = playbook(lab, name, "--limit", "mlab-vm1", *extra, check=False)
        state = lab.ssh(1, "systemctl", "is-active", "istio.service", check=False).stdout.strip()
    finally:
        mend_start(lab, 1)
    return res, " ".join(res.stdout.split()), state


def test_rotate_fails_with_the_journal_when_the_sidecar_stays_down(lab, onboarded):
    res, out, state = run_while_the_start_fails(lab, "rotate.yml", "-e", "rotate_force=true")
    assert res.returncode != 0 and state == "failed", (state, out[-3000:])
    assert ("mlab-vm1: istio.service did not start (Unable to restart service istio.service: Job for "
            "istio.service failed because the control process exited with error code.") in out, out[-3000:]
    said = re.search(r"and systemd will not start it again \(([^)]*)\)", out)
    assert said and sorted(said[1].split(", ")) == ["ActiveState=failed", "Restart=no", "Result=exit-code",
                                                    "SubState=failed"], out[-3000:]
    assert "ExecStartPre=/bin/sh -c echo meshops-test: start refused >&2; exit 3 (code=exited, status=3)" in out
    assert "Wait for the sidecar to become ready" not in out
    # mended, the next rotate converges and takes the token off the controller
    res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1")
    assert recap(res.stdout)["mlab-vm1"]["failed"] == 0 and controller_tokens() == []
    assert lab.ssh(1, "systemctl", "is-active", "istio.service").stdout.strip() == "active"


RESTART_SHOWN = "RUNNING HANDLER [meshops.istio_vm.vm_sidecar : Show a failed restart"


def test_onboard_waits_out_a_start_that_systemd_retries_itself(lab, onboarded):
    """The restart handler's start fails once (as systemd's own 219/CGROUP was seen to, on the lab):
    systemd starts the unit again itself, so the run shows the failure and waits for readiness."""
    restarted = restarts(lab, 1)
    lab.ssh(1, "rm", "-f", TOKEN_DROPIN)       # a file to write again: the handler restarts
    failing_start(lab, 1, once=True)
    try:
        res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1", check=False)
        restarted = restarts(lab, 1) - restarted
    finally:
        mend_start(lab, 1)
    out = " ".join(res.stdout.split())
    assert res.returncode == 0, res.stdout[-3000:]
    shown = " ".join(res.stdout.split(RESTART_SHOWN, 1)[1].split("RUNNING HANDLER", 1)[0].split())
    assert "ok: [mlab-vm1]" in shown and "systemd starts it again itself" in shown, out[-3000:]
    assert "meshops.istio_vm: systemctl restart istio.service failed (exit status 1)" in shown, shown
    assert "SubState=auto-restart" in shown and "Restart=always" in shown, shown
    assert f"ExecStartPre=/bin/sh -c if [ -e {FAIL_ONCE} ]" in shown and "(code=exited, status=3)" in shown, shown
    assert restarted == 1, "systemd did not start the unit again"
    assert "ok: [mlab-vm1]" in task_output(res.stdout, READY_WAIT)
    assert recap(res.stdout)["mlab-vm1"]["failed"] == 0 and "0 of 1 VMs drift" in out


def test_onboard_fails_with_the_units_status_when_systemd_will_not_start_it_again(lab, onboarded):
    lab.ssh(1, "rm", "-f", TOKEN_DROPIN)
    res, out, state = run_while_the_start_fails(lab, "onboard.yml")
    assert res.returncode != 0 and state == "failed", (state, out[-3000:])
    assert ("mlab-vm1: the restart of istio.service failed (exit status 1), and systemd will not start "
            "the unit again. The command printed:") in out, out[-3000:]
    assert "SubState=failed" in out and "Restart=no" in out
    assert "ExecStartPre=/bin/sh -c echo meshops-test: start refused >&2; exit 3 (code=exited, status=3)" in out
    assert READY_WAIT not in res.stdout
    # mended, the next onboard converges
    res = playbook(lab, "onboard.yml", "--limit", "mlab-vm1")
    assert recap(res.stdout)["mlab-vm1"]["failed"] == 0
    assert lab.ssh(1, "systemctl", "is-active", "istio.service").stdout.strip() == "active"


def test_a_sidecar_that_never_answers_ready_fails_with_its_logs_after_the_wait(lab, onboarded):
    """The wait asks in one module run, every vm_sidecar_ready_delay seconds, up to
    vm_sidecar_ready_timeout; then the role shows the sidecar's logs and fails with the last answer."""
    url = "http://localhost:15999/healthz/ready"  # nothing listens there
    # istio-proxy owns /var/log/istio: a log swapped for a link to a file only root may read (the sidecar
    # can still append to it) must not show that file in the output
    secret = f"meshops-secret-{os.getpid()}"
    lab.ssh(1, "sh", "-c", f"umask 077; echo {secret} > /var/tmp/meshops-secret; chmod 0622 /var/tmp/meshops-secret; "
            "ln -sf /var/tmp/meshops-secret /var/log/istio/istio.err.log")
    started = time.monotonic()
    try:
        res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1",
                       "-e", f"vm_sidecar_ready_url={url}", "-e", "vm_sidecar_ready_timeout=3",
                       "-e", "vm_sidecar_ready_delay=1", "-vv", check=False)
    finally:
        lab.ssh(1, "sh", "-c", "rm -f /var/log/istio/istio.err.log /var/tmp/meshops-secret; "
                "install -o istio-proxy -g istio-proxy -m 0644 /dev/null /var/log/istio/istio.err.log")
    took = time.monotonic() - started
    out = " ".join(res.stdout.split())
    assert res.returncode != 0, out[-3000:]
    assert secret not in res.stdout, "root's file was shown through the sidecar's log link"
    assert (f"mlab-vm1: the Istio sidecar did not become ready within 3s ({url} last answered -1 "
            "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>). "
            "The end of /var/log/istio/istio.err.log, istio.log and the unit's journal is shown above.") in out, \
        out[-3000:]
    assert "==> journalctl -u istio.service <==" in out
    # asked at 0, 1, 2 and 3 s, in one module run
    assert '"attempts": 4' in task_output(res.stdout, READY_WAIT), task_output(res.stdout, READY_WAIT)[:3000]
    print(f"failed after {took:.1f} s")
    # the next rotate, with the sidecar's own URL, converges and takes the token off the controller
    res = playbook(lab, "rotate.yml", "-e", "rotate_force=true", "--limit", "mlab-vm1")
    assert recap(res.stdout)["mlab-vm1"]["failed"] == 0 and controller_tokens() == []
    assert "ok: [mlab-vm1]" in task_output(res.stdout, READY_WAIT)


def test_sidecar_comes_back_after_reboot(lab, onboarded):
    proc = Proc(lab.cfg, "vm-mlab-vm2")
    assert proc.stop(timeout=60)
    hosts.boot_vm(lab.cfg, 2, hosts.rootfs(lab.cfg))
    hosts.wait_vm(lab.cfg, 2)
    wait("istio ready after reboot", lambda: lab.ssh(2, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                     "http://localhost:15021/healthz/ready",
                                                     check=False).stdout == "200", timeout=90)
    assert lab.ssh(2, "systemctl", "is-active", "istio").stdout.strip() == "active"


def test_unreachable_vm_fails_clearly_and_a_rerun_converges(lab, onboarded, tmp_path):
    proc = Proc(lab.cfg, "vm-mlab-vm2")
    assert proc.stop(timeout=60)
    try:
        res = playbook(lab, "onboard.yml", check=False)
        counts = recap(res.stdout)
        assert res.returncode != 0 and counts["mlab-vm2"]["unreachable"] >= 1
        assert counts["mlab-vm1"]["failed"] == 0 and counts["mlab-vm1"]["unreachable"] == 0
        # verify.yml's report keeps the VM it could not reach, as not verified: a monitoring job sees it
        out = tmp_path / "verify.json"
        res = playbook(lab, "verify.yml", "-e", f"verify_report_path={out}", check=False)
        doc = json.loads(out.read_text())
        assert res.returncode != 0 and doc["summary"]["drifting"] == ["mlab-vm2"], doc["summary"]
        assert doc["summary"]["vms"] == len(lab.vms) and "1 of %d VMs drift" % len(lab.vms) in res.stdout
        (down,) = [rec for rec in doc["vms"] if rec["vm"] == "mlab-vm2"]
        assert not down["verified"] and down["drift"][0].startswith("not verified: the run could not reach this VM")
        assert row(report(res.stdout), "mlab-vm2")[1:6] == ["?"] * 5
    finally:     # the VM back for the tests after this one, whatever failed above
        hosts.boot_vm(lab.cfg, 2, hosts.rootfs(lab.cfg))
        hosts.wait_vm(lab.cfg, 2)
    counts = recap(playbook(lab, "onboard.yml").stdout)
    assert set(counts) == set(lab.vms), counts
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values())


def test_recreated_vm_gets_a_new_token_from_the_next_onboard(lab, api_client, onboarded):
    """The controller holds no token, only the record of the one mlab-vm2 had; the VM is built
    again from scratch: onboard requests a new token for it, and removes it once delivered."""
    old, vm1_token, vm1_record = record("mlab-vm2"), vm_token(lab, 1), record("mlab-vm1")
    fresh_vms(2)
    playbook(lab, "onboard.yml")
    assert_onboarded(lab, api_client)
    assert vm_token(lab, 1) == vm1_token and record("mlab-vm1") == vm1_record, "mlab-vm1 got a new token"
    new = claims_of(vm_token(lab, 2))
    assert new["sub"] == old["sub"] and new["exp"] != old["exp"] and record("mlab-vm2")["exp"] == new["exp"]
    assert controller_tokens() == []


def test_offboard_cleans_both_sides(lab, api_client, onboarded):
    playbook(lab, "offboard.yml", "--check", "--limit", "mlab-vm1")
    assert lab.ssh(1, "test", "-d", "/etc/systemd/system/istio.service.d", check=False).returncode == 0, \
        "a dry run removed a directory"
    # what the role leaves with vm_sidecar_unprivileged_port_start: 0 (the lab's bookinfo ratings VM)
    lab.ssh(1, "sh", "-c", "echo 'net.ipv4.ip_unprivileged_port_start = 0' > /etc/sysctl.d/60-meshops-istio.conf"
                           " && sysctl -q -w net.ipv4.ip_unprivileged_port_start=0")
    # a certificate of the VM's own web server in /etc/certs (a common place): the sidecar's files go, it stays
    lab.ssh(2, "sh", "-c", "echo site > /etc/certs/www.example.com.pem")
    res = playbook(lab, "offboard.yml")
    assert "TASK [meshops.istio_vm.vm_sidecar : Remove the sidecar's directories left empty] ***" in res.stdout
    assert_offboarded(lab, api_client)
    assert lab.ssh(2, "ls", "/etc/certs").stdout.split() == ["www.example.com.pem"]
    assert lab.ssh(2, "cat", "/etc/certs/www.example.com.pem").stdout == "site\n"
    assert lab.ssh(1, "test", "-e", "/etc/certs", check=False).returncode != 0, "an empty /etc/certs was left"
    assert lab.ssh(1, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout.strip() == "1024", \
        "offboarding left any user free to bind ports below 1024"
    again = recap(playbook(lab, "offboard.yml", "--limit", "mlab-vm1").stdout)
    assert again["mlab-vm1"]["changed"] == 0, "a second offboard changed something"
    # an offboard cut off after it removed the sysctl file, before the reset: the next one resets the
    # value, to what the VM's own sysctl files say (here 80); a dry run only reports it
    port_start = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
    lab.ssh(1, "sh", "-c", "echo 'net.ipv4.ip_unprivileged_port_start = 80' > /etc/sysctl.d/50-site.conf"
                           " && sysctl -q -w net.ipv4.ip_unprivileged_port_start=0")
    try:
        for check in (True, False):
            res = playbook(lab, "offboard.yml", "--limit", "mlab-vm1", "-e", "vm_sidecar_unprivileged_port_start=0",
                           *(["--check"] if check else []))
            assert recap(res.stdout)["mlab-vm1"]["changed"] == 1, res.stdout[-3000:]
            assert lab.ssh(1, "cat", port_start).stdout.strip() == ("0" if check else "80")
    finally:
        lab.ssh(1, "sh", "-c", "rm -f /etc/sysctl.d/50-site.conf && sysctl -q -w net.ipv4.ip_unprivileged_port_start=1024")
    assert not (BOOTSTRAP / "mlab-vm1").exists() or pytest.fail(
        "offboard left the VM's bundle (and its token record) on the controller")
