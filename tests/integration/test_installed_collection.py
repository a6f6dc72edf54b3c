# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection as users get it (issue #13): `ansible-galaxy collection build` makes the
tarball, `ansible-galaxy collection install` puts it in an empty collections path (offline,
from the file), and everything below runs from that installed copy only: ansible-doc of every
module, filter and role entry point, then onboard -> verify -> offboard on lab VMs 9 and 10
(a namespace and workload of their own), the end state read back from the cluster and the VMs.
The checkout is never on the collections path, and the run's task paths prove it."""
from __future__ import annotations

import concurrent.futures
import fnmatch
import json
import re
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ansible_run import ansible_env
from conftest import REPO
from faults import own_workload
from mesh_state import assert_offboarded, assert_onboarded, recap

BIN = REPO / ".venv" / "bin"
VMS = (9, 10)
NAME = "inst"
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py"))
ENTRY_POINTS = sorted((role.name, entry) for role in (REPO / "roles").iterdir()
                      for entry in yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"])
# What must never be in the artifact: lab state and code, controller bundles and tokens, venvs,
# caches, test and bench output, earlier builds, bytecode.
NEVER = (".lab", ".lab/*", ".ansible", "*/.ansible", ".ansible/*", "*/.ansible/*",
         ".bootstrap", "*/.bootstrap", "*/.bootstrap/*", ".bootstrap/*", ".meshops-istio-vm", "*/.meshops-istio-vm",
         ".meshops-istio-vm/*", "*/.meshops-istio-vm/*", "tests/lab", "tests/lab/*",
         ".venv*", "tests/output", "tests/output/*", "bench", "bench/*", "dist", "dist/*", "context", "context/*",
         "*.tar.gz", "*__pycache__*", "*.pyc", "*.pytest_cache*", ".git", ".git/*", "*/istio-token",
         "*.key", "*id_ed25519*", "*kubeconfig", "inventories", "inventories/*")


@dataclass
class Installed:
    tarball: Path
    collections: Path      # the collections path: only this
    root: Path             # <collections>/ansible_collections/meshops/istio_vm
    env: dict
    seconds: float


def _run(argv, env, cwd, timeout=300):
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(lab, tmp_path_factory) -> Installed:
    """Build the tarball from the checkout, install it offline into an empty collections path."""
    work = tmp_path_factory.mktemp("installed")
    started = time.monotonic()
    build = _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", work / "dist", REPO], None, work)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball, = (work / "dist").glob("*.tar.gz")
    assert tarball.name == f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    collections = work / "collections"
    collections.mkdir()
    env = dict(ansible_env(lab.kubeconfig), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="0")
    install = _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", collections, tarball],
                   env, work)
    assert install.returncode == 0, install.stdout + install.stderr
    took = time.monotonic() - started
    with tarfile.open(tarball) as tar:
        files = [m for m in tar.getmembers() if m.isfile()]
    print(f"\n{tarball.name}: {tarball.stat().st_size / 1024:.0f} KiB, {len(files)} files, "
          f"{sum(m.size for m in files) / 1024:.0f} KiB unpacked; build + install {took:.1f} s")
    return Installed(tarball, collections, collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"],
                     env, took)


def test_tarball_holds_the_collection_and_nothing_of_the_lab_or_the_build(installed):
    with tarfile.open(installed.tarball) as tar:
        names = [m.name for m in tar.getmembers()]
    leaked = sorted(n for n in names if any(fnmatch.fnmatch(n, pattern) for pattern in NEVER))
    assert leaked == []
    # nothing git ignores (lab state, caches, local output) slips in under another name
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(names),
                             capture_output=True, text=True, check=False).stdout.split()
    assert ignored == []
    with tarfile.open(installed.tarball) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member).read()
                assert not re.search(rb"-{5}BEGIN [A-Z ]*PRIVATE KEY-{5}", data), f"a private key in {member.name}"
                assert not re.search(rb"eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}", data), f"a JWT in {member.name}"
    wanted = {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "requirements.txt",
              *(f"plugins/modules/{m}.py" for m in MODULES), *(f"plugins/filter/{f}.py" for f in FILTERS),
              *(f"roles/{role}/meta/argument_specs.yml" for role in {role for role, entry in ENTRY_POINTS}),
              *(f"playbooks/{p.name}" for p in (REPO / "playbooks").glob("*.yml"))}
    assert wanted <= set(names), sorted(wanted - set(names))


def test_galaxy_lists_only_the_installed_copy(installed):
    res = _run([BIN / "ansible-galaxy", "collection", "list", FQCN, "--format", "yaml"], installed.env,
               installed.collections)
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout) == {str(installed.collections / "ansible_collections"): {
        FQCN: {"version": GALAXY["version"]}}}
    # no other collection is needed (galaxy.yml), and none else is on this path
    assert GALAXY["dependencies"] == {}
    assert [p.name for p in (installed.collections / "ansible_collections").iterdir()] == [GALAXY["namespace"]]


@pytest.fixture(scope="module")
def docs(installed) -> dict:
    """ansible-doc of every module, filter and role entry point from the installed copy, by
    (type, name, entry point); all at once (each ansible-doc takes about a second)."""
    jobs = {("module", m, None): [f"{FQCN}.{m}"] for m in MODULES}
    jobs.update({("filter", f, None): ["-t", "filter", f"{FQCN}.{f}"] for f in FILTERS})
    jobs.update({("role", r, e): ["-t", "role", f"{FQCN}.{r}", "-e", e] for r, e in ENTRY_POINTS})
    env = dict(installed.env, ANSIBLE_NOCOLOR="1")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = {key: pool.submit(_run, [BIN / "ansible-doc", *argv], env, installed.collections, 120)
                   for key, argv in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_each_module_from_the_installed_copy(installed, docs, module):
    res = docs["module", module, None]
    assert res.returncode == 0, res.stderr
    assert f"{FQCN}.{module} ({installed.root}/plugins/modules/{module}.py)" in res.stdout
    for section in ("EXAMPLES:", "ATTRIBUTES:", "RETURN VALUES:"):
        assert section in res.stdout, section


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_renders_each_filter_from_the_installed_copy(installed, docs, name):
    res = docs["filter", name, None]
    assert res.returncode == 0, res.stderr
    assert f"{FQCN}.{name} ({installed.root}/plugins/filter/{name}.py)" in res.stdout
    assert "EXAMPLES:" in res.stdout and "RETURN VALUES:" in res.stdout


@pytest.mark.parametrize("role,entry", ENTRY_POINTS, ids=[f"{r}-{e}" for r, e in ENTRY_POINTS])
def test_ansible_doc_renders_each_role_entry_point_from_the_installed_copy(installed, docs, role, entry):
    res = docs["role", role, entry]
    assert res.returncode == 0, res.stderr
    # (without colour, ansible-doc marks bold as *text*)
    assert re.search(rf"^> ROLE: \*?{FQCN}.{role}\*? \({re.escape(str(installed.root))}\)$", res.stdout, re.M), \
        res.stdout[:500]
    assert re.search(rf"^ENTRY POINT: \*?{entry}\*? - \S", res.stdout, re.M), res.stdout[:2000]
    spec = yaml.safe_load((installed.root / "roles" / role / "meta" / "argument_specs.yml").read_text())
    for option in spec["argument_specs"][entry].get("options", {}):
        assert re.search(rf"^\s*(?:[-=] )?{option}\s", res.stdout, re.M), f"{option} not rendered"


@pytest.fixture(scope="module")
def workload(lab, api_client, tmp_path_factory):
    """Lab VMs 9 and 10 fresh, in an inventory of their own in a scratch directory (namespace,
    workload), with mesh_workload_bootstrap_dir and mesh_workload_state_file left to their
    defaults: where a user's run puts bundles and the record."""
    for namespace, inventory in own_workload(lab, api_client, tmp_path_factory.mktemp(NAME), VMS, NAME):
        doc = yaml.safe_load(inventory.read_text())
        for variables in doc["all"]["children"]["mesh_vms"]["hosts"].values():
            del variables["mesh_workload_bootstrap_dir"], variables["mesh_workload_state_file"]
        inventory.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield namespace, inventory


def tree(root: Path) -> dict:
    """Every file and link under ``root`` with its size and mtime, every directory; Python's bytecode
    caches (__pycache__, written by any import of the collection's Python) left out."""
    return {str(p.relative_to(root)): None if p.is_dir() else (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if "__pycache__" not in p.relative_to(root).parts}


def installed_playbook(installed, inventory, name, *extra):
    """ansible-playbook meshops.istio_vm.<name> (the installed collection's playbook, by its
    FQCN) from a scratch directory, -vv for the task paths; returns (output, seconds)."""
    argv = [BIN / "ansible-playbook", "-vv", "-i", inventory, f"{FQCN}.{name}", *extra]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryFile("w+") as out:
        # output to a file: ssh ControlPersist masters inherit pipes and keep them open
        rc = subprocess.run([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, env=installed.env,
                            cwd=cwd, timeout=900, check=False).returncode
        out.seek(0)
        text = out.read()
    took = time.monotonic() - started
    assert rc == 0, text[-6000:]
    assert all(c["failed"] == 0 and c["unreachable"] == 0 for c in recap(text).values()), text[-3000:]
    paths = set(re.findall(r"^task path: (\S+?):\d+$", text, re.M))
    assert paths, "no task path in the -vv output"
    outside = sorted(p for p in paths if not p.startswith(f"{installed.root}/"))
    assert outside == [], "tasks ran from outside the installed collection"
    return text, took


def test_onboard_verify_offboard_from_the_installed_collection(lab, api_client, installed, workload):
    namespace, inventory = workload
    state = inventory.parent / ".meshops-istio-vm"
    shipped = tree(installed.root)
    out, onboard_s = installed_playbook(installed, inventory, "onboard")
    assert_onboarded(lab, api_client, namespace, NAME, NAME, VMS)  # the ServiceAccount is named after the workload
    # the roles and the modules of the installed copy did it: the play's own files are there
    assert f"{installed.root}/playbooks/onboard.yml" in out and f"{installed.root}/roles/mesh_workload/" in out
    assert str(REPO) not in "".join(re.findall(r"^task path: .*$", out, re.M))
    # bundles and the record beside the inventory, nothing written into the installed collection
    assert tree(installed.root) == shipped, sorted(set(tree(installed.root)) ^ set(shipped))
    vms = [lab.cfg.vm_name(n) for n in VMS]
    assert all((state / vm / "istio-token.claims").is_file() for vm in vms), sorted(map(str, state.rglob("*")))
    assert sorted(r["host"] for r in json.loads((state / "mesh_vms.managed.json").read_text())) == sorted(vms)

    out, verify_s = installed_playbook(installed, inventory, "verify")
    assert all(c["changed"] == 0 for c in recap(out).values()), out[-3000:]

    out, offboard_s = installed_playbook(installed, inventory, "offboard")
    assert_offboarded(lab, api_client, namespace, NAME, VMS)
    assert tree(installed.root) == shipped, sorted(set(tree(installed.root)) ^ set(shipped))
    assert not any((state / vm).exists() for vm in vms)
    print(f"\nfrom the installed copy, VMs {VMS}: onboard {onboard_s:.1f} s, verify {verify_s:.1f} s, "
          f"offboard {offboard_s:.1f} s")
