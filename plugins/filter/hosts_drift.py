# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: hosts_drift
short_description: Whether a VM's /etc/hosts resolves istiod's name to the address its bundle gives now
version_added: 0.2.0
description:
  - Compares the text of a VM's C(/etc/hosts) with the C(hosts_entry) of a freshly rendered bundle
    (meshops.istio_vm.vm_bootstrap in check mode), so that C(playbooks/verify.yml) reports a VM that
    still reaches istiod through an old address, for example after the east-west gateway Service's
    load-balancer address changed, as drift.
  - The address that counts is the one the resolver uses, the first line naming istiod's host
    (names compare without case, addresses as IP addresses), whether or not it is in the block
    meshops.istio_vm.vm_sidecar writes. An entry with no address (the bundle's C(hosts) is empty) means
    the VM resolves istiod's name by DNS, so any line naming it is drift.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The content of the VM's C(/etc/hosts).
    type: str
    required: true
  entry:
    description: C(hosts_entry) of meshops.istio_vm.vm_bootstrap, C(name) and C(address) (null for none).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Report the VM's istiod address if it differs from the bundle's
  ansible.builtin.debug:
    msg: "{{ etc_hosts | meshops.istio_vm.hosts_drift({'name': 'istiod.istio-system.svc', 'address': '10.214.0.5'}) }}"
"""

RETURN = r"""
_value:
  description: One line per difference, naming the host name and both addresses (empty when none).
  type: list
  elements: str
"""

import ipaddress

from ansible.errors import AnsibleFilterError


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def first_mapping(text: str, name: str):
    """(line number, address) of the first line of a hosts file that names ``name``, or None."""
    wanted = name.lower()
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and wanted in (field.lower() for field in fields[1:]):
            return number, fields[0]
    return None


def hosts_drift(etc_hosts, entry):
    if not isinstance(etc_hosts, str) or not isinstance(entry, dict) or not entry.get("name"):
        raise AnsibleFilterError("hosts_drift: expects the text of /etc/hosts and a dict with a name, got %r and %r"
                                 % (type(etc_hosts).__name__, entry))
    name, want = entry["name"], entry.get("address") or None
    found = first_mapping(etc_hosts, name)
    if want is None:
        if found is None:
            return []
        return ["/etc/hosts maps %s to %s (line %d); the bundle has no address for it now (the VM should "
                "resolve it by DNS; run onboard.yml)" % (name, found[1], found[0])]
    if found is None:
        return ["/etc/hosts does not map %s; the bundle gives %s (istiod through the ingress or east-west "
                "gateway; run onboard.yml)" % (name, want)]
    if not _same_address(found[1], want):
        return ["/etc/hosts maps %s to %s (line %d), the bundle gives %s now (the ingress or east-west "
                "gateway's address changed; run onboard.yml)" % (name, found[1], found[0], want)]
    return []


class FilterModule:
    def filters(self):
        return {"hosts_drift": hosts_drift}
