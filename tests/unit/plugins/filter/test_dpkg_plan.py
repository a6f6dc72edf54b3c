# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""dpkg_plan: from dpkg's view of a package to the steps that bring it to a version, repairs included."""
from __future__ import annotations

import pytest

from ansible_collections.meshops.istio_vm.plugins.filter.dpkg_plan import dpkg_plan

V = "1.30.3"


@pytest.mark.parametrize("query,interrupted,state,configure,install,reinstall", [
    ("ii |1.30.3", False, "installed", False, False, False),            # converged: nothing
    ("ii |1.29.0", False, "installed", False, True, False),             # another version: install
    ("", False, "not installed", False, True, False),                   # dpkg does not know it
    ("un |", False, "not installed", False, True, False),
    ("rc |1.30.3", False, "config-files", False, True, False),          # removed, its config kept
    # a reboot after the unpack, before the postinst: configuring finishes it
    ("iU |1.30.3", False, "unpacked", True, False, False),
    ("iF |1.30.3", False, "half-configured", True, False, False),
    ("iW |1.30.3", False, "triggers-awaited", True, False, False),
    ("it |1.30.3", False, "triggers-pending", True, False, False),
    ("iU |1.29.0", False, "unpacked", True, True, False),                # unpacked, but an older version
    # a reboot during the unpack: the files are half there, install them again
    ("iHR|1.30.3", True, "half-installed, reinstall required", True, True, True),
    ("iH |1.30.3", False, "half-installed", True, True, True),
    ("iHR|1.29.0", True, "half-installed, reinstall required", True, True, False),
    ("iUR|1.30.3", False, "unpacked, reinstall required", True, True, True),
    # an interrupted journal blocks apt-get even when this package is fine
    ("ii |1.30.3", True, "installed", True, False, False),
    ("", True, "not installed", True, True, False),
])
def test_dpkg_plan(query, interrupted, state, configure, install, reinstall):
    assert dpkg_plan(query, V, interrupted) == {"state": state, "configure": configure, "install": install,
                                                "reinstall": reinstall, "installer": "apt-get"}


def test_version_whitespace_and_default():
    expected = {"state": "installed", "configure": False, "install": False, "reinstall": False,
                "installer": "apt-get"}
    assert dpkg_plan("ii |1.30.3\n", " 1.30.3 ") == expected


@pytest.mark.parametrize("depends_installed,installer", [(True, "dpkg"), (False, "apt-get")])
def test_installer(depends_installed, installer):
    """dpkg installs the file alone only when everything it depends on is there; the steps stay the same."""
    plan = dpkg_plan("", V, False, depends_installed)
    assert plan["installer"] == installer
    assert (plan["install"], plan["configure"], plan["reinstall"]) == (True, False, False)
    assert dpkg_plan("iHR|1.30.3", V, True, depends_installed)["installer"] == installer
