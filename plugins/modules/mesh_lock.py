#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesh_lock
short_description: Take or give back the run lock of workload namespaces (a Lease in each)
version_added: 0.1.0
description:
  - Holds a C(coordination.k8s.io/v1) Lease named O(name) in each namespace of O(namespaces) for
    the run named O(holder), so that two runs of the playbooks on the same workloads (two AWX jobs)
    do not change them at the same time. The playbooks take it after their checks and before any
    change, and give it back at the end.
  - O(state=acquired) takes the Leases in sorted order (two runs never wait for each other in a
    circle). A Lease is created when there is none (the API server refuses a second create, so
    only one run gets it), renewed when O(holder) holds it already, and taken over when it has no
    holder or its C(renewTime) plus C(leaseDurationSeconds) has passed (an update on the
    resourceVersion read, so only one run gets it), or when O(holder) names a process on this
    controller, of the same boot and PID namespace (C(on HOST pid PID in SPACE)), that is no longer
    running. A Lease another run holds is read again
    every second, for up to O(timeout) seconds in all; then the module gives back the Leases
    this call took and fails, naming the holder and how to break a stale lock. It gives them back
    as well when any other call fails (for example a Lease it may not read), and fails with that
    error.
  - A namespace that does not exist yet is created first with O(create_namespaces) (bare; the run
    labels it later), else reported in RV(deferred) and not locked (the next O(state=acquired),
    once it exists, locks it).
  - O(state=released) deletes the Lease of each namespace that O(holder) holds, with a
    precondition on its resourceVersion; a Lease another run holds is left alone. When that is one of
    O(held), the module fails once the others are deleted. The run lost its lock on the way, and the
    other run may have changed the same workloads at the same time.
  - A namespace of O(held), whose Lease the run took before, fails the module at once, with no wait, when
    another run holds its Lease now. The run lost its lock (the Lease ran out while a play took longer
    than O(lease_duration), and another run took it over), and that run may have changed the workloads
    since. The Leases this call created or took over are given back first. A Lease of O(held) that is gone
    is created again as usual (runs that share one O(holder) give it back when the first of them ends).
  - A run that dies keeps its Leases until they expire, O(lease_duration) seconds after their last
    renewal.
  - The times of a Lease (C(acquireTime), C(renewTime)) are written, and compared, on the API server's
    clock, taken from the C(Date) header of its answers (to the second), not on the controller's, so that
    runs on controllers whose clocks differ agree on when a Lease runs out.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  namespaces:
    description:
      - The workload namespaces to lock.
    type: list
    elements: str
    required: true
  holder:
    description:
      - Who holds the lock, unique to the run and the same for all its tasks; it is shown to any
        run that has to wait, so it should say where to look, for example the AWX job ID, the
        controller and the start time.
      - With C(on HOST pid PID in SPACE) in it (the role puts the controller's host name, the PID
        of ansible-playbook and 16 hex digits from the kernel's boot ID and its PID namespace
        there), a later run on the same controller, in the same boot and PID namespace, takes the
        Lease over as soon as that process has ended, instead of waiting for the Lease to expire.
        A host name alone does not do, as two controllers (or containers) may have the same one.
    type: str
    required: true
  state:
    description:
      - V(acquired) takes or renews the Leases, V(released) gives them back.
    type: str
    choices: [acquired, released]
    default: acquired
  name:
    description:
      - Name of the Lease in each namespace.
    type: str
    default: meshops-istio-vm
  lease_duration:
    description:
      - Seconds a Lease stays held after it was last taken or renewed, unless given back; after
        that another run may take it over.
    type: int
    default: 900
  timeout:
    description:
      - Seconds to wait in all for Leases another run holds before failing.
    type: int
    default: 300
  held:
    description:
      - Namespaces whose Lease this run took before, for a later O(state=acquired) of the same run (the
        playbooks pass RV(acquired) of the run's previous one). Renewing the Lease of one of them fails at
        once when another run holds it now, instead of waiting for it; giving them back fails, after the
        others are deleted, when another run holds one. A namespace not in O(namespaces) is ignored.
      - In check mode, where no Lease was taken, leave it empty.
    type: list
    elements: str
    default: []
  create_namespaces:
    description:
      - Create a namespace of O(namespaces) that does not exist yet, to hold its Lease, for a run
        that creates it anyway (the role passes C(mesh_workload_create_identity)). Needs the
        permission to create namespaces, which a least-privilege credential does not have; its
        namespaces exist already (docs/rbac.md).
    type: bool
    default: false
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the Leases and reports which are free (RV(actions)); takes, waits for and deletes none.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: A lock is not part of the desired state; RV(actions) says what was done.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details: Acquiring again renews the Leases (a new C(renewTime)), which reports a change; releasing again changes nothing.
seealso:
  - module: meshops.istio_vm.mesh_info
"""

EXAMPLES = r"""
- name: Lock the workload namespaces of this run
  meshops.istio_vm.mesh_lock:
    namespaces: [ratings, reviews]
    holder: "awx job {{ awx_job_id | default('none') }} started {{ now(utc=true).isoformat() }}"
    timeout: 600
  run_once: true
  delegate_to: localhost

- name: Give the lock back
  meshops.istio_vm.mesh_lock:
    namespaces: [ratings, reviews]
    holder: "awx job {{ awx_job_id | default('none') }} started {{ now(utc=true).isoformat() }}"
    state: released
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
acquired:
  description: Namespaces whose Lease O(holder) holds now (in check mode, would hold).
  returned: state is acquired
  type: list
  elements: str
  sample: [ratings]
actions:
  description: Per namespace, what was done with its Lease (C(create), C(renew) or C(take)); in check
    mode what would be done, or C(wait) when another run holds it.
  returned: state is acquired
  type: dict
  sample: {ratings: create}
created_namespaces:
  description: Namespaces created to hold their Lease (O(create_namespaces)).
  returned: state is acquired
  type: list
  elements: str
  sample: []
deferred:
  description: Namespaces that do not exist yet, so not locked.
  returned: state is acquired
  type: list
  elements: str
  sample: []
waited:
  description: Seconds spent waiting for other runs' Leases.
  returned: state is acquired
  type: float
  sample: 12.3
released:
  description: Namespaces whose Lease was deleted (in check mode, would be).
  returned: state is released
  type: list
  elements: str
  sample: [ratings]
holders:
  description: Per namespace, the holder of a Lease held by another run.
  returned: always
  type: dict
  sample: {reviews: "awx job 42 on awx-task-1 started 2026-01-02T03:04:05Z run 1234"}
holder:
  description: O(holder).
  returned: always
  type: str
"""

import os
import socket

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client, _lock
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC, auth_params
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import (
    check_dns1123_label,
    check_dns1123_subdomain,
)


def check(params):
    """Pure: ValidationError for names the API server would refuse."""
    errors = ["namespaces: %s: %s" % (ns, problem) for ns in params["namespaces"]
              for problem in [check_dns1123_label(ns)] if problem]
    problem = check_dns1123_subdomain(params["name"])
    if problem:
        errors.append("name: %s" % problem)
    if not params["holder"].strip():
        errors.append("holder: must not be empty")
    for option in ("lease_duration", "timeout"):
        if params[option] < (1 if option == "lease_duration" else 0):
            errors.append("%s: %s is too small" % (option, params[option]))
    if errors:
        raise ValidationError("mesh_lock", errors)


def alive(pid):
    """Whether process ``pid`` of this host runs (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gone(holder):
    return _lock.run_gone(holder, socket.gethostname(), _lock.this_process_space(), alive)


def run(module):
    params = module.params
    check(params)
    client = _client.MeshClient.from_params(auth_params(params))
    if params["state"] == "released":
        result = _lock.release(client, params["namespaces"], params["holder"], module.check_mode, params["name"],
                               params["held"], params["lease_duration"])
    else:
        result = _lock.acquire(client, params["namespaces"], params["holder"], params["lease_duration"],
                               params["timeout"], module.check_mode, params["name"], params["create_namespaces"],
                               gone, params["held"])
    # after a wait that ended, the holders waited for are only reported
    for namespace, holder in sorted(result["holders"].items()) if module.check_mode or "released" in result else ():
        module.warn("The lock of namespace %s is held by another run: %s" % (namespace, holder))
    return result


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(
    namespaces={"type": "list", "elements": "str", "required": True},
    holder={"type": "str", "required": True},
    state={"type": "str", "default": "acquired", "choices": ["acquired", "released"]},
    name={"type": "str", "default": _lock.LEASE_NAME},
    lease_duration={"type": "int", "default": 900},
    timeout={"type": "int", "default": 300},
    create_namespaces={"type": "bool", "default": False},
    held={"type": "list", "elements": "str", "default": []},
)
SPEC = ModuleSpec("mesh_lock", ARGUMENT_SPEC, run)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()
