# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark: create, then unchanged re-apply, of N WorkloadEntries on the lab API server.

  (a) meshops.istio_vm.workload_entry, one task per object (a loop)
  (b) kubernetes.core.k8s, one task per object (a loop)
  (c) one `kubectl apply -f` of all N objects (server-side apply)
  (d) meshops.istio_vm.workload_entry batch form (`objects:`), one task

Each approach works in its own namespace. Also measures the peak RSS of one module
process (the batch form over N objects). Prints a table; writes bench/results/<time>.json.
Run through `make bench` (needs the lab: tests/lab/lab up --until istiod).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent
KUBECONFIG = REPO / ".lab" / "kubeconfig"


def entries(n: int) -> list[dict]:
    return [{"name": f"vm-{i:04d}", "address": f"10.{(i // 250) + 100}.{i % 250}.{10 + i % 200}",
             "ports": {"http": 8080}, "labels": {"app": "bench", "vm": f"vm-{i:04d}"},
             "service_account": "bench"} for i in range(n)]


def manifest(namespace: str, n: int) -> list[dict]:
    return [{"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
             "metadata": {"name": e["name"], "namespace": namespace},
             "spec": {"address": e["address"], "ports": e["ports"], "labels": e["labels"],
                      "serviceAccount": e["service_account"]}} for e in entries(n)]


def env() -> dict:
    collections = REPO / "tests" / "output" / "collections"
    link = collections / "ansible_collections" / "meshops" / "istio_vm"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), K8S_AUTH_KUBECONFIG=str(KUBECONFIG),
                KUBECONFIG=str(KUBECONFIG), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_DISPLAY_OK_HOSTS="0",
                ANSIBLE_DISPLAY_SKIPPED_HOSTS="0", ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")


def playbook(tasks: list[dict], n: int) -> Path:
    path = Path(tempfile.mkdtemp()) / "play.yml"
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "vars": {"items": entries(n)}, "tasks": tasks}], sort_keys=False))
    return path


TASK_TIMES: list[float] = []   # per ansible-playbook run: the seconds of its tasks (profile_tasks)


def timed(argv: list[str], stdin: str | None = None) -> float:
    """Wall time of the command; for ansible-playbook also records its tasks' own time (without
    Ansible's start-up, ~1 s) in TASK_TIMES."""
    started = time.monotonic()
    res = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env(), check=False)
    took = time.monotonic() - started
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv[:4])}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    recap = res.stdout.split("TASKS RECAP", 1)[-1] if "TASKS RECAP" in res.stdout else ""
    TASK_TIMES.append(sum(float(m) for m in re.findall(r" -+ +([0-9.]+)s$", recap, re.M)))
    return took


def ansible_playbook(path: Path) -> list[str]:
    return [str(VENV / "ansible-playbook"), "-i", "localhost,", str(path)]


def ours_per_task(ns: str, n: int) -> Path:
    return playbook([{"name": "one task per object", "loop": "{{ items }}",
                      "meshops.istio_vm.workload_entry": {
                          "name": "{{ item.name }}", "namespace": ns, "address": "{{ item.address }}",
                          "ports": "{{ item.ports }}", "labels": "{{ item.labels }}",
                          "service_account": "{{ item.service_account }}"}}], n)


def k8s_core_per_task(ns: str, n: int) -> Path:
    return playbook([{"name": "one task per object", "loop": "{{ items }}",
                      "kubernetes.core.k8s": {"state": "present", "definition": {
                          "apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
                          "metadata": {"name": "{{ item.name }}", "namespace": ns},
                          "spec": {"address": "{{ item.address }}", "ports": "{{ item.ports }}",
                                   "labels": "{{ item.labels }}",
                                   "serviceAccount": "{{ item.service_account }}"}}}}], n)


def ours_batch(ns: str, n: int) -> Path:
    return playbook([{"name": "one task, all objects", "meshops.istio_vm.workload_entry": {
        "namespace": ns, "objects": "{{ items }}"}}], n)


def module_peak_rss(ns: str, n: int) -> float:
    """Run the batch module directly (as AnsiballZ would) and return its peak RSS in MB."""
    args = Path(tempfile.mkdtemp()) / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"namespace": ns, "objects": entries(n),
                                                        "kubeconfig": str(KUBECONFIG)}}))
    code = ("import resource, runpy, sys; sys.argv=['m', sys.argv[1]]\n"
            "try:\n runpy.run_module('ansible_collections.meshops.istio_vm.plugins.modules.workload_entry', "
            "run_name='__main__')\nexcept SystemExit:\n pass\n"
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    e = env()
    e["PYTHONPATH"] = e["ANSIBLE_COLLECTIONS_PATH"]
    res = subprocess.run([sys.executable, "-c", code, str(args)], capture_output=True, text=True, env=e,
                         check=False)
    line = [x for x in res.stderr.splitlines() if x.startswith("RSS ")]
    if not line:
        raise SystemExit(f"module run failed: {res.stdout[-2000:]} {res.stderr[-2000:]}")
    return int(line[0].split()[1]) / 1024


def namespace(name: str) -> None:
    from kubernetes import client, config
    api = config.new_client_from_config(config_file=str(KUBECONFIG))
    core = client.CoreV1Api(api)
    try:
        core.delete_namespace(name)
        while True:
            core.read_namespace(name)
            time.sleep(0.5)
    except client.rest.ApiException as exc:
        if exc.status != 404:
            raise
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--only", default="abcd")
    args = parser.parse_args()
    n = args.n
    kubectl = VENV / "kubectl"
    results: dict[str, dict[str, float]] = {}
    plans = {
        "a": ("ours, one task per object", lambda ns: ansible_playbook(ours_per_task(ns, n))),
        "b": ("kubernetes.core.k8s, one task per object", lambda ns: ansible_playbook(k8s_core_per_task(ns, n))),
        "c": ("kubectl apply -f (server-side)", None),
        "d": ("ours, batch form (one task)", lambda ns: ansible_playbook(ours_batch(ns, n))),
    }
    for key in args.only:
        label, argv_for = plans[key]
        ns = f"bench-{key}"
        namespace(ns)
        if key == "c":
            doc = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": manifest(ns, n)})
            argv = [str(kubectl), "apply", "--server-side", "--field-manager=bench", "-f", "-"]
            create, again = timed(argv, doc), timed(argv, doc)
        else:
            argv = argv_for(ns)
            create, again = timed(argv), timed(argv)
            results[key] = {"create_task_s": round(TASK_TIMES[-2], 2), "reapply_task_s": round(TASK_TIMES[-1], 2)}
        results.setdefault(key, {}).update({
            "label": label, "create_s": round(create, 2), "reapply_s": round(again, 2),
            "per_object_create_ms": round(1000 * create / n, 1), "per_object_reapply_ms": round(1000 * again / n, 1)})
        tasks = results[key]
        inner = (f"   (tasks alone: {tasks['create_task_s']:.2f} s / {tasks['reapply_task_s']:.2f} s)"
                 if "create_task_s" in tasks else "")
        print(f"({key}) {label:42} create {create:7.1f} s   unchanged re-apply {again:7.1f} s{inner}", flush=True)
    if "d" in args.only:
        results["module_peak_rss_mb"] = round(module_peak_rss("bench-d", n), 1)
        print(f"module peak RSS (batch of {n}, unchanged): {results['module_peak_rss_mb']} MB")
    if "a" in results and "b" in results:
        results["ratio_b_over_a_reapply"] = round(results["b"]["reapply_s"] / results["a"]["reapply_s"], 2)
        print(f"(b)/(a) unchanged re-apply per task: {results['ratio_b_over_a_reapply']}x (target >= 5)")
    if "c" in results and "d" in results:
        for phase in ("create_s", "reapply_s"):
            ratio = round(results["d"][phase] / results["c"][phase], 2)
            results[f"ratio_d_over_c_{phase}"] = ratio
            print(f"(d)/(c) {phase}: {ratio}x (target <= 2)")
            task_phase = phase.replace("_s", "_task_s")
            ratio = round(results["d"][task_phase] / results["c"][phase], 2)
            results[f"ratio_d_task_over_c_{phase}"] = ratio
            print(f"(d)/(c) {phase}, the task alone (without ansible-playbook's start-up): {ratio}x")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / time.strftime("%Y%m%dT%H%M%S.json")).write_text(json.dumps({"n": n, **results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
