# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: offboard_plan
short_description: What offboarding the play's VMs deletes, and which shared objects stay
version_added: 0.2.0
description:
  - Offboarding (role C(meshops.istio_vm.mesh_workload) with C(mesh_workload_state=absent)) deletes the static
    WorkloadEntries of the play's VMs, and the objects a workload's VMs share - its WorkloadGroup,
    ServiceEntries, Service, Sidecar and ServiceAccount - only when no VM of the group outside the play
    (C(--limit), or failed earlier) still belongs to it. This filter chooses them.
  - The VMs outside the play are read from their inventory variables (C(hostvars)), not from computed
    settings they may not have; a missing C(mesh_workload_service_account) is the workload's name (the role's
    default).
  - "A ServiceAccount stays while a workload that stays uses it: one of a VM outside the play, or of a
    workload of the play that stays for such a VM, even when another workload of the play that goes used it
    too."
  - "With O(records): the record of what the group managed, without what this offboarding removes (the
    play's VMs as they are now); a VM's older entries and bundles, recorded before a rename or a move
    without prune, stay recorded (C(older)), so that prune still finds them."
  - A ServiceEntry or Service that a workload outside the play also makes (the same namespace and name,
    from its C(mesh_workload_service_entries) or C(mesh_workload_service_name)) stays too; the checks of
    onboarding refuse two workloads that make one object, but only among the VMs of one run.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description:
      - The settings of each VM of the play (C(__mesh_workload_vm)); read are C(key), C(mode), C(namespace),
        C(service_account), C(entry_object), C(group_object), C(service_entry_objects), C(service_object) and
        C(sidecar_object).
    type: list
    elements: dict
    required: true
  others:
    description:
      - The inventory variables of each VM of the group outside the play (C(hostvars) items); read are
        C(mesh_workload_namespace), C(mesh_workload_name), C(mesh_workload_service_account),
        C(mesh_workload_service_entries), C(mesh_workload_service) and C(mesh_workload_service_name).
    type: list
    elements: dict
    default: []
  records:
    description:
      - The record of what the group managed (C(mesh_workload_state_file)); each VM of the play brings its
        own record (C(record) of its settings).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Delete the WorkloadGroups no VM uses any more
  meshops.istio_vm.workload_group:
    state: absent
    objects: "{{ __plan.groups }}"
  vars:
    __others: "{{ groups['mesh_vms'] | difference(ansible_play_hosts) | map('extract', hostvars) | list }}"
    __plan: >-
      {{ ansible_play_hosts | map('extract', hostvars, '__mesh_workload_vm') | list
         | meshops.istio_vm.offboard_plan(__others) }}
"""

RETURN = r"""
_value:
  description: What to delete (module options, for batches) and what stays.
  type: dict
  contains:
    entries:
      description:
        - The static WorkloadEntries of the play's VMs; with O(records), also the recorded static entry
          (name and namespace) of a VM of the play whose inventory has switched it to auto-registration since.
      type: list
      elements: dict
    groups:
      description: The WorkloadGroups of the workloads that go.
      type: list
      elements: dict
    service_entries:
      description: The ServiceEntries of the workloads that go.
      type: list
      elements: dict
    services:
      description: The Kubernetes Services of the workloads that go.
      type: list
      elements: dict
    sidecars:
      description: The Sidecars of the workloads that go.
      type: list
      elements: dict
    service_accounts:
      description: The ServiceAccounts (C(namespace), C(name)) of the workloads that go that no workload that stays uses.
      type: list
      elements: dict
    kept:
      description: The workloads (C(namespace/name)) that stay for VMs outside the play.
      type: list
      elements: str
    kept_objects:
      description: The ServiceEntries and Services (C(KIND namespace/name)) of workloads that go that a workload
        outside the play also makes.
      type: list
      elements: str
    records:
      description: With O(records), the record to write after the offboarding.
      type: list
      elements: dict
    older:
      description: With O(records), the records of the play's VMs that stay (older entries and bundles).
      type: list
      elements: dict
    older_notes:
      description: With O(records), one line per record of O(older) (C(HOST, WorkloadEntry NS/NAME, bundle DIR)).
      type: list
      elements: str
"""


from ansible.module_utils.parsing.convert_bool import boolean


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _inventory_key(variables, name):
    return "%s/%s" % (variables.get("mesh_workload_namespace", ""), variables.get(name, ""))


def _made_by_others(others):
    """(kind, namespace, name) of the ServiceEntries and Services that the VMs outside the play make,
    from their inventory variables (the role's defaults: a Service named after the workload)."""
    made = set()
    for other in others:
        namespace = other.get("mesh_workload_namespace", "")
        entries = other.get("mesh_workload_service_entries") or []
        for item in entries if isinstance(entries, list) else []:
            if isinstance(item, dict) and item.get("name"):
                made.add(("ServiceEntry", item.get("namespace") or namespace, item["name"]))
        if boolean(other.get("mesh_workload_service", True), strict=False):
            made.add(("Service", namespace, other.get("mesh_workload_service_name") or other.get("mesh_workload_name", "")))
    return made


def offboard_plan(vms, others=None, records=None):
    vms, others = list(vms), list(others or [])
    made = _made_by_others(others)
    kept_keys = {_inventory_key(other, "mesh_workload_name") for other in others}
    gone, kept = [], []
    for vm in vms:
        if vm["key"] in kept_keys:
            kept.append(vm["key"])
        elif vm["key"] not in [g["key"] for g in gone]:
            gone.append(vm)
    kept_accounts = {_inventory_key(other, "mesh_workload_service_account" if "mesh_workload_service_account" in other
                                    else "mesh_workload_name") for other in others}
    kept_accounts |= {"%s/%s" % (vm["namespace"], vm["service_account"]) for vm in vms if vm["key"] in kept_keys}
    accounts = _unique({"namespace": vm["namespace"], "name": vm["service_account"]} for vm in gone)

    def shared(kind, obj):
        return (kind, obj.get("namespace", ""), obj.get("name", "")) in made

    service_entries = _unique(obj for vm in gone for obj in vm.get("service_entry_objects") or [])
    services = _unique(vm["service_object"] for vm in gone if vm.get("service_object"))
    plan = {
        "entries": [vm["entry_object"] for vm in vms if vm.get("mode") == "static"],
        "groups": [vm["group_object"] for vm in gone],
        "service_entries": [obj for obj in service_entries if not shared("ServiceEntry", obj)],
        "services": [obj for obj in services if not shared("Service", obj)],
        "sidecars": [vm["sidecar_object"] for vm in gone if vm.get("sidecar_object")],
        "service_accounts": [a for a in accounts if "%s/%s" % (a["namespace"], a["name"]) not in kept_accounts],
        "kept": _unique(kept),
        "kept_objects": ["%s %s/%s" % (kind, obj.get("namespace", ""), obj.get("name", ""))
                         for kind, objects in (("ServiceEntry", service_entries), ("Service", services))
                         for obj in objects if shared(kind, obj)],
    }
    if records is not None:
        # what this offboarding removes: each VM's entry and bundle as they are now (a record written by
        # another release may hold other fields)
        removed = [_removes(vm.get("record")) for vm in vms if vm.get("record")]
        hosts = {vm.get("host") for vm in vms}
        plan["records"] = [record for record in records if _removes(record) not in removed]
        plan["older"] = [record for record in plan["records"] if record.get("host") in hosts]
        plan["older_notes"] = [_note(record) for record in plan["older"]]
        # a VM onboarded static and switched to auto-registration since: its recorded entry goes too
        # (else the record would forget an entry still there, and a Service that stays would send to it)
        static_now = {vm.get("host") for vm in vms if vm.get("mode") == "static"}
        for record in records:
            ref = _entry_ref(record)
            entry = {"name": ref.get("name"), "namespace": ref.get("namespace")}
            if (record.get("host") not in static_now and record.get("mode", "static") == "static"
                    and ref.get("name") and _removes(record) in removed and entry not in plan["entries"]):
                plan["entries"].append(entry)
    return plan


def _entry_ref(record):
    return record.get("entry_ref") if isinstance(record.get("entry_ref"), dict) else {}


def _removes(record):
    ref = _entry_ref(record)
    return (record.get("host"), ref.get("namespace"), ref.get("name"), record.get("bootstrap_dir"))


def _note(record):
    ref = _entry_ref(record)
    parts = [str(record.get("host"))]
    if record.get("mode", "static") == "static" and ref.get("name"):
        parts.append("WorkloadEntry %s/%s" % (ref.get("namespace"), ref.get("name")))
    if record.get("bootstrap_dir"):
        parts.append("bundle %s" % record["bootstrap_dir"])
    return ", ".join(parts)


class FilterModule:
    def filters(self):
        return {"offboard_plan": offboard_plan}
