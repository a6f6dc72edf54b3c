# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secrets in the connection options never show in an AWX job: a kubeconfig given as a dictionary
(its client key, and a token of another user in it) and a proxy URL with a password, run through
ansible-runner as AWX runs a job with diff mode and verbosity 3. Every file the job leaves (job
events, stdout, the runner's other artifacts) is searched for them; only env/extravars may hold
them, the job's input. The ansible-playbook side is tests/integration/test_modules_secrets.py."""
from __future__ import annotations

import json

import yaml

from awx_runner import run

KUBECONFIG_MARKER = "Mesh0psKubec0nfigT0kenMarker"
PROXY_MARKER = "Mesh0psPr0xyPassw0rdMarker"
INPUT = "env/extravars"

# A job template's playbook: the role's first task (mesh_info) with the kubeconfig dictionary
# as mesh_workload_kubeconfig, a WorkloadEntry in check mode with --diff, one that fails its
# validation, and a cluster call through a proxy that fails.
PLAYBOOK = """
- name: Secrets in AWX job events
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the cluster credential (a kubeconfig dictionary)
      ansible.builtin.import_role:
        name: meshops.istio_vm.mesh_workload
        tasks_from: credential
      vars:
        mesh_workload_kubeconfig: "{{ job_kubeconfig }}"

    - name: A WorkloadEntry in check mode, with its diff
      meshops.istio_vm.workload_entry:
        kubeconfig: "{{ job_kubeconfig }}"
        name: awx-secrets
        namespace: "{{ job_namespace }}"
        address: 10.213.0.97
        labels: {app: awx-secrets}
        service_account: sa
      check_mode: true
      register: entry

    - name: Fail when the dry run reported no change (the dictionary must work as a credential)
      ansible.builtin.assert:
        that: entry is changed and entry.diff is defined

    - name: A WorkloadEntry that fails its validation
      meshops.istio_vm.workload_entry:
        kubeconfig: "{{ job_kubeconfig }}"
        name: awx-secrets
        namespace: "{{ job_namespace }}"
        address: not an address!
      ignore_errors: true

    - name: The cluster through a proxy with a password (nothing listens there)
      meshops.istio_vm.mesh_info:
        proxy: "{{ job_proxy }}"
      ignore_errors: true
      register: proxied

    - name: Fail when the proxy was not used
      ansible.builtin.assert:
        that: proxied is failed
"""


def test_credentials_never_show_in_awx_job_events(lab, namespace):
    kubeconfig = yaml.safe_load(lab.kubeconfig.read_text())
    key = kubeconfig["users"][0]["user"]["client-key-data"]
    kubeconfig["users"].append({"name": "unused", "user": {"token": KUBECONFIG_MARKER}})
    res = run(lab, "secrets.yml", credential=False, project_files={"playbooks/secrets.yml": PLAYBOOK},
              extravars={"job_kubeconfig": kubeconfig, "job_namespace": namespace,
                         "job_proxy": f"http://meshops:{PROXY_MARKER}@127.0.0.1:9"},
              cmdline="--diff -vvv", keep_files=True)
    assert res.rc == 0 and res.status == "successful", res.stdout[-5000:]
    events = [e for e in res.events if e.get("event") in ("runner_on_ok", "runner_on_failed")]
    tasks = {e["event_data"]["task"] for e in events}
    assert {"Check the cluster credential", "A WorkloadEntry in check mode, with its diff",
            "A WorkloadEntry that fails its validation", "The cluster through a proxy with a password "
            "(nothing listens there)"} <= tasks, tasks
    # The checks below read what they claim to: the job ran at -vvv (the invocation with the
    # module's arguments is in the events) and the input holds the markers.
    assert any('"module_args"' in json.dumps(e) and '"kubeconfig"' in json.dumps(e) for e in events)
    assert all(marker in res.files[INPUT] for marker in (KUBECONFIG_MARKER, PROXY_MARKER, key))
    assert any(name.startswith("artifacts/job/job_events/") for name in res.files)
    for marker in (KUBECONFIG_MARKER, PROXY_MARKER, key):
        leaks = sorted(name for name, text in res.files.items() if marker in text and name != INPUT)
        assert leaks == [], f"a secret shows in {leaks}"
