# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run the playbooks through ansible-runner with a private data directory laid out the way AWX
lays out a job's: env/ (envvars with the cluster credential, extravars with AWX's job
variables, ssh_key from the machine credential), inventory/hosts (an executable inventory
script printing the inventory as AWX exports it), project/ (the project checkout)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ansible_run import collections_path

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / ".venv" / "bin" / "ansible-runner"
# Tasks of meshops.istio_vm.mesh_workload that write files on the controller.
JOB_FILE_TASKS = {"Write each VM's bootstrap bundle on the controller", "Write the record of what this group manages",
                  "Remove the VM's token from the controller (the VM has it)"}


def awx_inventory(lab, hosts: list[str] | None = None) -> dict:
    """The lab inventory as AWX's inventory script data (`all`, groups, `_meta.hostvars`).

    Group variables are the lab's (inventories/lab/group_vars/all.yml) with the lab's paths
    filled in, and without mesh_workload_kubeconfig: in AWX the cluster credential comes from
    the job's credential, not from the inventory. ``hosts`` keeps only those hosts, the way
    job slicing hands each slice job an inventory of only its own hosts."""
    names = [lab.cfg.vm_name(n) for n in range(1, len(lab.vms) + 1)]
    group_vars = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all.yml").read_text())
    group_vars.pop("mesh_workload_kubeconfig")
    state = lab.cfg.state
    group_vars.update({
        "ansible_user": "root",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                   "-o ServerAliveInterval=5 -o ServerAliveCountMax=12",
        "ansible_control_path_dir": str(state / "cp"),
        "ansible_pipelining": True,
        "ansible_python_interpreter": "/usr/bin/python3",
        "meshlab_istiod_ip": "10.213.0.1",
        "meshlab_package_url": "http://10.213.0.1:8099/istio-sidecar.deb",
        "meshlab_package_sha256": (state / "www" / "istio-sidecar.deb.sha256").read_text().split()[0],
    })
    selected = [name for name in names if hosts is None or name in hosts]
    return {
        "all": {"children": ["mesh_vms", "ungrouped"], "vars": group_vars},
        "mesh_vms": {"hosts": selected},
        "_meta": {"hostvars": {name: {"ansible_host": f"10.213.0.{10 + names.index(name) + 1}"}
                               for name in selected}},
    }


def slices(hosts: list[str], count: int) -> list[list[str]]:
    """AWX's job slicing: hosts sorted by name, slice i (1-based) gets hosts[i-1::count]."""
    ordered = sorted(hosts)
    return [ordered[i::count] for i in range(count)]


@dataclass
class RunnerResult:
    rc: int
    status: str
    stdout: str
    events: list = field(default_factory=list)
    # Every file of the private data directory after the job (inputs and artifacts), by path
    # relative to it, and ansible-runner's own output; only when run() was asked (keep_files).
    files: dict = field(default_factory=dict)

    def first_failed_task(self) -> tuple[str, str] | None:
        """(task name, message) of the first failed task, from the job events AWX would show."""
        for event in self.events:
            if event.get("event") == "runner_on_failed":
                data = event["event_data"]
                return data.get("task", ""), str(data.get("res", {}).get("msg", ""))
        return None

    def changed_tasks(self, job_files: bool = True) -> list[str]:
        """'host: task' of each changed task. job_files=False leaves out the tasks that write
        the job's own files on the controller (the bundles and the record): in AWX they live
        only as long as the job, so every job writes them anew."""
        changed = []
        for event in self.events:
            data = event.get("event_data", {})
            if event.get("event") != "runner_on_ok" or not data.get("res", {}).get("changed"):
                continue
            if not job_files and data.get("task") in JOB_FILE_TASKS:
                continue
            changed.append(f"{data.get('host')}: {data.get('task')}")
        return changed


def run(lab, playbook: str, *, credential: bool = True, hosts: list[str] | None = None,
        extravars: dict | None = None, envvars: dict | None = None, project_files: dict | None = None,
        cmdline: str = "", keep_files: bool = False) -> RunnerResult:
    """One AWX-style job: `ansible-runner run <private data dir> -p playbooks/<playbook>`.

    ``project_files`` adds files to the project checkout (path relative to it: text);
    ``cmdline`` is what AWX adds to ansible-playbook's command line (``--diff -vvv`` for a job
    template with diff mode and verbosity 3)."""
    with tempfile.TemporaryDirectory(prefix="awx-job-") as tmp:
        pdd = Path(tmp)
        (pdd / "env").mkdir()
        (pdd / "inventory").mkdir()
        # The project checkout: the playbooks (the collection itself is installed in the
        # execution environment; here it is on ANSIBLE_COLLECTIONS_PATH).
        shutil.copytree(REPO / "playbooks", pdd / "project" / "playbooks")
        for name, text in (project_files or {}).items():
            (pdd / "project" / name).write_text(text)
        script = pdd / "inventory" / "hosts"
        script.write_text("#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n" % json.dumps(awx_inventory(lab, hosts), indent=1))
        script.chmod(stat.S_IRWXU)
        env = {"ANSIBLE_COLLECTIONS_PATH": str(collections_path()), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_HOST_KEY_CHECKING": "False"}
        if credential:
            env["K8S_AUTH_KUBECONFIG"] = str(lab.kubeconfig)
        env.update(envvars or {})
        (pdd / "env" / "envvars").write_text(yaml.safe_dump(env))
        job = {"awx_job_id": 4711, "tower_job_id": 4711, "awx_job_template_name": f"mesh {playbook}",
               "awx_job_launch_type": "manual"}
        job.update(extravars or {})
        (pdd / "env" / "extravars").write_text(yaml.safe_dump(job))
        # The machine credential: ansible-runner loads the key into an ssh-agent for the job.
        (pdd / "env" / "ssh_key").write_text((lab.cfg.state / "ssh" / "id_ed25519").read_text())
        proc_env = {key: value for key, value in os.environ.items()
                    if not key.startswith("K8S_AUTH_") and key not in ("KUBECONFIG", "ANSIBLE_COLLECTIONS_PATH")}
        proc_env["PATH"] = f"{REPO / '.venv' / 'bin'}:{proc_env.get('PATH', '/usr/bin:/bin')}"
        with tempfile.TemporaryFile("w+") as out:
            # Output to a file, not a pipe: ssh ControlPersist masters would keep a pipe open.
            argv = [str(RUNNER), "run", str(pdd), "-p", f"playbooks/{playbook}", "--ident", "job"]
            if cmdline:
                argv += ["--cmdline", cmdline]
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=proc_env, timeout=900, check=False)
            out.seek(0)
            runner_out = out.read()
        artifacts = pdd / "artifacts" / "job"
        events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"),
                                                            key=lambda p: int(p.name.split("-", 1)[0]))]
        stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else runner_out
        status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else "unknown"
        rc = int((artifacts / "rc").read_text()) if (artifacts / "rc").exists() else proc.returncode
        files = {}
        if keep_files:
            files = {str(p.relative_to(pdd)): p.read_text(errors="replace") for p in sorted(pdd.rglob("*"))
                     if p.is_file() and not p.is_symlink()}
            files["(ansible-runner's own output)"] = runner_out
        return RunnerResult(rc=rc, status=status, stdout=stdout, events=events, files=files)
