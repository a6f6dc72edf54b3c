# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""announced_ip: the IP a VM's sidecar announces (ISTIO_SVC_IP)."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.announced_ip import FilterModule


def announced_ip(*args):
    return FilterModule().filters()["announced_ip"](*args)


@pytest.mark.parametrize("address,internal_ip,ip", [
    ("10.213.0.11", "", "10.213.0.11"),
    ("fd00::21", "", "fd00::21"),
    # as pilot-agent hands it to istiod (Go's netip.Addr.String()), which names the entry after it
    ("2001:db8::1.2.3.4", "", "2001:db8::102:304"),
    ("fd00:10:0:0::5", "", "fd00:10::5"),
    ("fd00:0010::5", "", "fd00:10::5"),
    ("FD00:10::5", "", "fd00:10::5"),
    ("2001:0:0:1:0:0:0:1", "", "2001:0:0:1::1"),        # the longest run of zero groups
    ("2001:db8:0:1:1:1:1:1", "", "2001:db8:0:1:1:1:1:1"),  # a single zero group stays
    ("::ffff:10.0.0.1", "", "::ffff:10.0.0.1"),          # IPv4-mapped: dotted, as Go writes it
    ("vm1.lab.example", "FD00::0:21", "fd00::21"),
    ("vm1.lab.example", "10.213.0.50", "10.213.0.50"),
    ("10.213.0.11", "10.213.0.50", "10.213.0.50"),  # the internal IP wins
    ("vm1.lab.example", "", ""),
    ("", "", ""),
    (None, None, ""),
    ("10.0.0", "", ""),
    ("010.0.0.1", "", ""),  # leading zeros: not an IP (Go's netip, the old regex)
    ("256.0.0.1", "", ""),
    (":::", "", ""),
    ("fe80::1%eth0", "", ""),  # a zone is no address to announce
    ("10.213.0.11:22", "", ""),
])
def test_address_and_internal_ip(address, internal_ip, ip):
    assert announced_ip(address, internal_ip) == ip


def test_internal_ip_defaults_to_none():
    assert announced_ip("10.213.0.11") == "10.213.0.11"
