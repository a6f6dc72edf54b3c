# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: run_holder
short_description: The name of this run, the holder of its run locks
version_added: 0.2.0
description:
  - Returns the name under which a run holds the run locks of meshops.istio_vm (the Lease of
    M(meshops.istio_vm.mesh_lock) and the VMs' lock), the AWX job or C(ansible-playbook), the
    controller's host name, the process ID of C(ansible-playbook), where that ID is valid (16 hex
    digits from the kernel's boot ID and the process's PID namespace; left out where C(/proc) does
    not tell them), when the run started and a random token, for example
    C(ansible-playbook on ctl pid 4242 in 5d0c8e3b2a914f67 started 2026-01-02T03:04:05Z run 0a1b2c3d).
  - A later run on the same controller, in the same boot and PID namespace, breaks a lock whose
    C(ansible-playbook) process has ended.
  - Reads the process ID in Python (the parent of the worker process that runs the lookup), so that
    the controller, or an execution-environment image, needs no C(ps).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  job:
    description:
      - The AWX job ID (C(awx_job_id)), when the run is an AWX job.
    type: str
    default: ""
notes:
  - Call it once per run (the role meshops.istio_vm.mesh_workload keeps the result in the fact
    C(mesh_workload_lock_holder)); each call draws a new random token.
"""

EXAMPLES = r"""
- name: Name this run
  ansible.builtin.set_fact:
    mesh_workload_lock_holder: "{{ lookup('meshops.istio_vm.run_holder', job=awx_job_id | default('')) }}"
  run_once: true
"""

RETURN = r"""
_raw:
  description: The run's name, one string.
  type: list
  elements: str
"""

import datetime
import os
import secrets
import socket

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.meshops.istio_vm.plugins.module_utils._lock import holder_identity, this_process_space


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        unknown = sorted(set(kwargs) - {"job"})
        if terms or unknown:
            raise AnsibleError("lookup meshops.istio_vm.run_holder takes only the option job, not %s"
                               % ", ".join(list(map(str, terms)) + unknown))
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Tasks are templated in a worker process that ansible-playbook forked: its parent.
        return [holder_identity(socket.gethostname(), os.getppid(), started, secrets.token_hex(4),
                                job=str(kwargs.get("job") or ""), space=this_process_space())]
