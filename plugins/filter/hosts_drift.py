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

from ansible_collections.meshops.istio_vm.plugins.module_utils import _drift
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.filters import filter_of

hosts_drift = filter_of(_drift.hosts_drift)


class FilterModule:
    def filters(self):
        return {"hosts_drift": hosts_drift}
