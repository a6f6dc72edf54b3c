# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run this collection's modules through real Ansible (ad-hoc, json callback) for the tests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "tests" / "output" / "collections"
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"


def collections_path() -> Path:
    """tests/output/collections/ansible_collections/meshops/istio_vm -> the checkout."""
    link = COLLECTIONS / "ansible_collections" / "meshops" / "istio_vm"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    return COLLECTIONS


def ansible_env(kubeconfig: Path | None) -> dict:
    """The environment of an Ansible run; kubeconfig None runs with no cluster credential at all."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("K8S_AUTH_") and key != "KUBECONFIG"}
    if kubeconfig is not None:
        env["K8S_AUTH_KUBECONFIG"] = str(kubeconfig)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_PYTHON_INTERPRETER": str(REPO / ".venv" / "bin" / "python"),
    })
    return env


def run_module(kubeconfig: Path, module: str, args: dict, check: bool = False, diff: bool = True,
               verbosity: int = 0, in_process: bool = True) -> dict:
    """One task of meshops.istio_vm.<module> on localhost through ansible-playbook; returns the
    registered result (with 'diff'), plus '_stdout' (everything Ansible printed).

    ``in_process=False`` makes the module's action plugin run the module itself (as a Python
    process, as on a delegated host) instead of its code in the controller's process."""
    return run_modules(kubeconfig, [(module, args)], check=check, diff=diff, verbosity=verbosity,
                       in_process=in_process)[0]


def run_modules(kubeconfig: Path, tasks: list[tuple[str, dict]], check: bool = False, diff: bool = True,
                verbosity: int = 0, in_process: bool = True) -> list[dict]:
    """Several tasks, (module, args) each, in one ansible-playbook run (one start of Ansible for
    all); a failed task does not stop the others. Returns each task's result as run_module does."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        steps = [{"name": f"module under test {i}", f"meshops.istio_vm.{module}": args, "register": f"r{i}",
                  "ignore_errors": True} for i, (module, args) in enumerate(tasks)]
        registered = ", ".join(f"r{i}" for i in range(len(tasks)))
        steps.append({"name": "save the results", "ansible.builtin.copy": {
            "content": f"{{{{ [{registered}] | to_json }}}}", "dest": str(out)},
            "check_mode": False, "diff": False, "no_log": True})
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": steps}]))
        argv = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if verbosity:
            argv.append("-" + "v" * verbosity)
        env = dict(ansible_env(kubeconfig), MESHOPS_ISTIO_VM_IN_PROCESS="1" if in_process else "0")
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        if not out.exists():
            raise AssertionError(f"ansible-playbook failed (rc {res.returncode}):\n{res.stdout}\n{res.stderr}")
        results = json.loads(out.read_text())
    for result in results:
        result.setdefault("failed", False)
        result["_stdout"] = res.stdout + res.stderr
    return results


def playbook_argv(inventory: Path, name: str, extra) -> list:
    return [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(REPO / "playbooks" / name), *extra]


def playbook_result(argv: list, returncode: int, out, err, check: bool) -> subprocess.CompletedProcess:
    """The run's CompletedProcess from the files it wrote its output to; asserts success if ``check``."""
    out.seek(0)
    err.seek(0)
    stdout = out.read()
    res = subprocess.CompletedProcess(argv, returncode, stdout.decode() if isinstance(stdout, bytes) else stdout,
                                      err.read())
    if check:
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    return res


def run_playbook(inventory: Path, kubeconfig: Path, name: str, *extra: str,
                 check: bool = True) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/<name> against ``inventory``; asserts success unless check=False."""
    argv = playbook_argv(inventory, name, extra)
    # Output to files, not pipes: ssh ControlPersist masters inherit the pipes and would keep
    # them open long after ansible-playbook exits.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(argv, stdout=out, stderr=err, env=ansible_env(kubeconfig), check=False,
                              timeout=900)
        return playbook_result(argv, proc.returncode, out, err, check)


def run_playbook_acting(inventory: Path, kubeconfig: Path, name: str, *extra: str, once_said: str,
                        act, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """run_playbook that calls ``act()`` once, as soon as the run has printed ``once_said`` (read
    from its output every 0.1 s while it runs): a test that must change something on a VM at one
    point of a run, not after a guessed time. ``act`` is not called if the run never says it; the
    whole run (its process group) is killed after ``timeout`` seconds."""
    argv = playbook_argv(inventory, name, extra)
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=ansible_env(kubeconfig), start_new_session=True)
        try:
            said, read, wanted = False, 0, once_said.encode()
            while proc.poll() is None and not said and time.monotonic() < deadline:
                # pread: the run writes at the file offset it shares with ``out``; reading must not move it
                chunk = os.pread(out.fileno(), 1 << 20, read)
                whole = chunk[:chunk.rfind(b"\n") + 1]      # whole lines only; the rest is read again
                said, read = wanted in whole, read + len(whole)
                if not said:
                    time.sleep(0.1)
            if said:
                act()
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return playbook_result(argv, proc.returncode, out, err, check)


def vm_play(lab, tasks: list, *extra: str) -> tuple:
    """``tasks`` on the first lab VM with become; returns (results of the tasks named r0.., output)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        names = [task.get("register") for task in tasks if task.get("register")]
        save = {"name": "save results", "ansible.builtin.copy": {
            "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}", "dest": str(out)},
            "delegate_to": "localhost", "become": False, "check_mode": False, "diff": False, "no_log": True}
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps([{"hosts": lab.vms[0], "gather_facts": False, "become": True,
                                         "tasks": tasks + [save]}]))
        res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(lab.inventory), str(playbook), "--diff", *extra],
                             capture_output=True, text=True, env=ansible_env(None), timeout=300, check=False)
        assert out.exists(), res.stdout[-5000:] + res.stderr[-2000:]
        return json.loads(out.read_text()), res.stdout + res.stderr


def cluster_side_inventory(lab, path: Path, group: str, hosts: dict, namespace: str, workload: str, state: Path,
                           kubeconfig: Path | None = None) -> Path:
    """Write an inventory of static VMs that exist only in it (``hosts``: name -> host variables), for
    plays of mesh_workload alone, which run on the controller (connection local): the lab's cluster,
    the workload ``namespace/workload``, and the bundles and record under ``state``."""
    doc = {"all": {"children": {group: {"hosts": hosts}},
                   "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(REPO / ".venv" / "bin" / "python"),
                            "mesh_workload_group": group, "mesh_workload_kubeconfig": str(kubeconfig or lab.kubeconfig),
                            "mesh_workload_cluster_id": "meshlab", "mesh_workload_network": "meshlab-net",
                            "mesh_workload_ingress_ip": lab.cfg.host_ip, "mesh_workload_mode": "static",
                            "mesh_workload_create_identity": True, "mesh_workload_namespace": namespace,
                            "mesh_workload_name": workload, "mesh_workload_ports": {"http": 8080},
                            "mesh_workload_bootstrap_dir": str(state) + "/{{ inventory_hostname }}",
                            "mesh_workload_state_file": str(state / "managed.json")}}}
    path.write_text(json.dumps(doc))
    return path
