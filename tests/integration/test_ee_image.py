# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution-environment image as AWX runs it (issue #13). Part of `make test`; alone with
`make test-ee`, skipped only with MESHOPS_EE_TEST=0. The image build takes about 2 minutes cold,
40 to 50 s with the base image.

`make ee-lab` builds the image with ansible-builder and podman on a local Debian base image (no
registry here). Each job then runs the way AWX runs one in a container group: `ansible-runner
transmit` streams the private data directory into `ansible-runner worker` in a podman container
of the image, under the image's own user (uid 1000, group 0, no --user), and `ansible-runner
process` writes the job's events and output on the host. The collection comes from the image,
the cluster credential from the job's environment, the SSH key from the job's machine
credential (env/ssh_key), the bundles and the record live in the job's directory and go with it.

Onboard in the image, then offboard in the image, against lab VMs 9 and 10 in a namespace of
their own; then, with that namespace deleted, a direct `ansible-playbook` onboard of the same
inventory on the offboarded VMs, and the two end states must be equal object by object: the
cluster objects of the workload (metadata that differs on every create left out) and the files
on the VMs (path, type, mode, owner, group, sha256 of regular files whose content is not new on
every run)."""
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
from kubernetes import client

from ansible_run import ANSIBLE_PLAYBOOK, ansible_env
from conftest import LAB, REPO, delete_namespace, fresh_vms
from mesh_state import assert_offboarded, assert_onboarded, entries, healthy, recap, wait

pytestmark = pytest.mark.skipif(os.environ.get("MESHOPS_EE_TEST") == "0",
                                reason="MESHOPS_EE_TEST=0: the EE image test is switched off")

IMAGE = os.environ.get("EE_LAB_TAG", "localhost/meshops-istio-vm-ee:lab")
CONTAINERS_CONF = REPO / "tools" / "ee-containers.conf"
RUNNER = REPO / ".venv" / "bin" / "ansible-runner"
IN_IMAGE = "/usr/share/ansible/collections/ansible_collections/meshops/istio_vm"
VMS = (9, 10)
NAME = "ee"
WHO = "Read the job's user and group in the execution environment"

# The workload's Istio objects in its namespace (besides the Namespace, its ServiceAccounts and
# Services): kind, plural of networking.istio.io/v1.
ISTIO_KINDS = (("WorkloadGroup", "workloadgroups"), ("WorkloadEntry", "workloadentries"),
               ("ServiceEntry", "serviceentries"), ("Sidecar", "sidecars"))
# Set by the API server or istiod on every create or connection, never by the run.
VOLATILE_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink")
VOLATILE_ANNOTATIONS = ("istio.io/connectedAt", "istio.io/disconnectedAt")
VOLATILE_SPEC = ("clusterIP", "clusterIPs")  # a Service's, allocated on create
# What onboarding writes on a VM (the roots of vm_sidecar's files, drop-ins and cache).
VM_ROOTS = ("/etc/certs", "/etc/istio", "/var/lib/istio", "/var/run/secrets/tokens",
            "/etc/systemd/system/istio.service.d", "/etc/sysctl.d/60-meshops-istio.conf",
            "/var/cache/meshops-istio-vm", "/etc/hosts")
# Files whose content is new on every run by design (a token request, istiod signing a new
# workload certificate at each start): compared by path, mode and owner only; never read.
VM_NEW_EACH_RUN = ("/var/lib/istio/tokens/istio-token", "/var/run/secrets/tokens/istio-token",
                   "/etc/certs/cert-chain.pem", "/etc/certs/key.pem")
# Runs on the VM: one line of JSON, path -> [type, mode, owner, group, sha256 or link target].
# Only regular files are hashed (the sidecar's unix sockets and fifos cannot be read).
VM_FILES = """
import grp, hashlib, json, os, pwd, stat, sys
roots, skip = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
def entry(path):
    st = os.lstat(path)
    kind = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFSOCK: "s",
            stat.S_IFIFO: "p"}.get(stat.S_IFMT(st.st_mode), "?")
    content = None
    if kind == "f" and path not in skip:
        with open(path, "rb") as fh:
            content = hashlib.sha256(fh.read()).hexdigest()
    elif kind == "l":
        content = os.readlink(path)
    return [kind, oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name, content]
out = {}
for root in roots:
    if not os.path.lexists(root):
        out[root] = None
        continue
    out[root] = entry(root)
    if out[root][0] != "d":
        continue  # a file, or a link (the package links /etc/istio to /var/lib/istio)
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            out[os.path.join(top, name)] = entry(os.path.join(top, name))
print(json.dumps(out))
"""


def podman(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False,
                          env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)))


@pytest.fixture(scope="module")
def image():
    started = time.monotonic()
    res = subprocess.run(["make", "-s", "ee-lab", f"EE_LAB_TAG={IMAGE}"], cwd=REPO, capture_output=True, text=True,
                         check=False, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", IMAGE).stdout)
    assert config["User"] == "1000", config  # ansible-builder's default, as AWX expects
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    print(f"\nmake ee-lab: {time.monotonic() - started:.0f} s; {IMAGE}: {size / 1e6:.0f} MB")
    listed = podman("run", "--rm", "--network", "host", IMAGE, "ansible-galaxy", "collection", "list", "meshops.istio_vm")
    assert listed.returncode == 0, listed.stderr
    assert "meshops.istio_vm" in listed.stdout and str(Path(IN_IMAGE).parents[2]) in listed.stdout
    return IMAGE


@pytest.fixture(scope="module")
def job_dir(lab, api_client, tmp_path_factory):
    """An AWX-style private data directory for lab VMs 9 and 10 (fresh), paths as the job sees
    them (/runner): inventory, the cluster credential as K8S_AUTH_KUBECONFIG, the machine
    credential as env/ssh_key, a project whose playbooks import the image's playbooks. The
    bundles and the record take their defaults: beside the inventory, in the job's directory."""
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
        "meshlab_istiod_ip": lab.cfg.host_ip,
        "meshlab_package_url": lab.cfg.pkg_url,
        "meshlab_package_sha256": (lab.cfg.state / "www" / "istio-sidecar.deb.sha256").read_text().split()[0],
        "mesh_workload_namespace": namespace,
        "mesh_workload_name": NAME,
    })
    hosts = {lab.cfg.vm_name(n): {"ansible_host": lab.cfg.vm_ip(n)} for n in VMS}
    # The VMs' Python only: localhost keeps the controller's (the image's or the venv's).
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"mesh_vms": {"hosts": hosts, "vars": {"ansible_python_interpreter": "/usr/bin/python3"}}},
                 "vars": group_vars}}, sort_keys=False))
    who = {"name": "Who runs the job", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": WHO, "ansible.builtin.command": {"argv": ["sh", "-c", "id -u; id -g"]}, "changed_when": False}]}
    for name in ("onboard", "offboard"):
        (pdd / "project" / f"{name}.yml").write_text(yaml.safe_dump([
            who, {"name": f"The collection's {name} playbook", "ansible.builtin.import_playbook": f"meshops.istio_vm.{name}"}],
            sort_keys=False))
    yield namespace, pdd
    delete_namespace(api_client, namespace)
    for n in VMS:
        subprocess.run([str(LAB), "vm", "remove", str(n)], capture_output=True, check=False)


def job_event(artifacts: Path, event: str, task: str) -> dict:
    """The event_data of the runner event ``event`` of task ``task`` (artifacts/job_events)."""
    for path in sorted((artifacts / "job_events").glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("event") == event and data.get("event_data", {}).get("task") == task:
            return data["event_data"]
    raise AssertionError(f"no {event} event of task {task!r} in {artifacts / 'job_events'}")


def run_in_image(image, pdd: Path, playbook: str) -> tuple[str, float]:
    """One job as AWX runs it in a container group: ansible-runner transmit | ansible-runner worker
    in a podman container of the image (its own user; host network for the lab's addresses) |
    ansible-runner process. Returns the job's output and its wall time."""
    transmit = [str(RUNNER), "transmit", str(pdd), "-p", f"{playbook}.yml", "--ident", playbook, "--cmdline=-vv"]
    worker = ["podman", "run", "--rm", "--interactive", "--network=host", image,
              "ansible-runner", "worker", "--private-data-dir=/runner"]
    process = [str(RUNNER), "process", str(pdd), "--ident", playbook]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_")) and k != "KUBECONFIG"}
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    log = pdd / f"{playbook}.runner.log"
    started = time.monotonic()
    # the job's output also in a file beside it, for a run that stops before its artifacts
    with open(log, "w+") as out, subprocess.Popen(transmit, stdout=subprocess.PIPE, env=env) as sender, \
            subprocess.Popen(worker, stdin=sender.stdout, stdout=subprocess.PIPE, env=env) as job, \
            subprocess.Popen(process, stdin=job.stdout, stdout=out, stderr=subprocess.STDOUT, env=env) as receiver:
        sender.stdout.close()  # only the next stage reads each pipe
        job.stdout.close()
        codes = [receiver.wait(timeout=900), job.wait(timeout=60), sender.wait(timeout=60)]
    took = time.monotonic() - started
    artifacts = pdd / "artifacts" / playbook
    stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else log.read_text()
    status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else "(none)"
    assert codes == [0, 0, 0] and status == "successful", f"{codes} {status}\n{stdout[-6000:]}"
    # in the image, under the image's user (uid 1000, group 0), with the machine credential's key
    who = job_event(artifacts, "runner_on_ok", WHO)
    assert who["host"] == "localhost" and who["res"]["stdout"].split() == ["1000", "0"], who["res"]
    command = json.loads((artifacts / "command").read_text())["command"]
    assert command[0] == "ssh-agent" and "ansible-playbook" in command[-1], command
    assert recap(stdout) and all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(stdout).values())
    # the tasks came from the collection inside the image
    assert f"task path: {IN_IMAGE}/roles/mesh_workload/tasks/" in stdout
    assert str(REPO) not in stdout
    return stdout, took


def run_direct(lab, pdd: Path, playbook: str) -> float:
    """The same job with ansible-playbook on the host: the same inventory and project, the
    checkout's collection, the cluster credential and the SSH key as host paths."""
    env = dict(ansible_env(pdd / "kubeconfig"), ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_PRIVATE_KEY_FILE=str(lab.cfg.state / "ssh" / "id_ed25519"))
    env.pop("ANSIBLE_PYTHON_INTERPRETER")  # as in the image: the inventory's for the VMs
    started = time.monotonic()
    with open(pdd / f"{playbook}.direct.log", "w+") as out:
        proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(pdd / "inventory" / "hosts.yml"),
                               str(pdd / "project" / f"{playbook}.yml")], cwd=pdd / "project",
                              stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900, check=False)
        out.seek(0)
        output = out.read()
    assert proc.returncode == 0, output[-6000:]
    return time.monotonic() - started


def _plain(obj: dict) -> dict:
    """An object without what the API server or istiod set differently on every create."""
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata", {})
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    for key in VOLATILE_ANNOTATIONS:
        meta.get("annotations", {}).pop(key, None)
    for key in VOLATILE_SPEC:
        obj.get("spec", {}).pop(key, None)
    for owner in meta.get("ownerReferences", []):
        owner.pop("uid", None)
    for cond in obj.get("status", {}).get("conditions", []) or []:
        for key in ("lastProbeTime", "lastTransitionTime", "lastUpdateTime"):
            cond.pop(key, None)
    return obj


def cluster_objects(api_client, namespace: str) -> dict:
    """The Namespace and the workload's objects in it, by 'Kind/name'."""
    core, custom = client.CoreV1Api(api_client), client.CustomObjectsApi(api_client)
    plain = api_client.sanitize_for_serialization
    out = {f"Namespace/{namespace}": _plain(plain(core.read_namespace(namespace)))}
    for kind, listed in (("ServiceAccount", core.list_namespaced_service_account(namespace).items),
                         ("Service", core.list_namespaced_service(namespace).items)):
        for obj in listed:
            out[f"{kind}/{obj.metadata.name}"] = _plain(plain(obj))
    for kind, plural in ISTIO_KINDS:
        for obj in custom.list_namespaced_custom_object("networking.istio.io", "v1", namespace, plural)["items"]:
            out[f"{kind}/{obj['metadata']['name']}"] = _plain(obj)
    return out


def vm_files(lab, n: int) -> dict:
    res = lab.ssh(n, "python3", "-c", VM_FILES, json.dumps(VM_ROOTS), json.dumps(VM_NEW_EACH_RUN))
    return json.loads(res.stdout)


def end_state(lab, api_client, namespace: str) -> dict:
    """Everything onboarding leaves, flattened to 'where: key' -> value, once istiod has
    registered each VM and probed it (so that the entries' health is settled)."""
    wait("the VMs registered and probed", lambda: len(entries(api_client, namespace)) == len(VMS)
         and all(healthy(e) for e in entries(api_client, namespace)), timeout=90)
    state = {}
    for key, obj in cluster_objects(api_client, namespace).items():
        state.update(_flatten(f"cluster {key}", obj))
    for n in VMS:
        name = lab.cfg.vm_name(n)
        for path, value in vm_files(lab, n).items():
            state[f"{name} {path}"] = value
        service = lab.ssh(n, "systemctl", "is-active", "istio", "is-enabled", "istio", check=False).stdout.split()
        state[f"{name} istio.service"] = service
        state[f"{name} istio-sidecar package"] = lab.ssh(n, "dpkg-query", "-W", "-f", "${Version} ${Status}",
                                                         "istio-sidecar", check=False).stdout
    return state


def _flatten(prefix: str, value, path: str = "") -> dict:
    """Nested dicts as 'prefix: a.b.c' -> value (lists stay values)."""
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(prefix, item, f"{path}.{key}" if path else key))
        return out
    return {f"{prefix}: {path}": value}


def differences(one: dict, other: dict) -> list[str]:
    return [f"{key}: {one.get(key, '(missing)')!r} != {other.get(key, '(missing)')!r}"
            for key in sorted(set(one) | set(other)) if one.get(key, "(missing)") != other.get(key, "(missing)")]


def test_onboard_and_offboard_in_the_image_as_a_direct_run(lab, api_client, image, job_dir):
    namespace, pdd = job_dir
    started = time.monotonic()
    onboard_s = run_in_image(image, pdd, "onboard")[1]
    assert_onboarded(lab, api_client, namespace, NAME, NAME, VMS)
    in_image = end_state(lab, api_client, namespace)
    offboard_s = run_in_image(image, pdd, "offboard")[1]
    assert_offboarded(lab, api_client, namespace, NAME, VMS)

    # The same inventory directly, from an empty namespace: what the image left, object by object.
    delete_namespace(api_client, namespace)
    direct_s = run_direct(lab, pdd, "onboard")
    direct = end_state(lab, api_client, namespace)
    files = sum(1 for key in in_image if not key.startswith("cluster "))
    objects = len({key.split(":")[0] for key in in_image if key.startswith("cluster ")})
    print(f"\nin the image (uid 1000), VMs {VMS}: onboard {onboard_s:.1f} s, offboard {offboard_s:.1f} s; "
          f"direct onboard {direct_s:.1f} s; compared {objects} cluster objects and {files} VM paths "
          f"({len(in_image)} values) in {time.monotonic() - started:.0f} s")
    assert not differences(in_image, direct), "\n".join(differences(in_image, direct))
