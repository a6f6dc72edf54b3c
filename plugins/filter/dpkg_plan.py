# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: dpkg_plan
short_description: What dpkg and apt-get must do to bring a .deb package to a version, repairs included
version_added: 0.1.0
description:
  - Reads the state of a package as C(dpkg-query --showformat='${db:Status-Abbrev}|${Version}')
    prints it, and whether dpkg was interrupted (files left in C(/var/lib/dpkg/updates)), and says
    which steps bring the package to O(version) fully installed.
  - A reboot or a killed C(dpkg) in the middle of an install leaves the package unpacked but not
    configured (C(iU), C(iF)), waiting for triggers (C(iW), C(it)), or half-installed (C(iH),
    C(iHR)), and often an unfinished journal that makes C(apt-get) refuse to run. C(dpkg
    --configure -a) finishes the journal and configures what was unpacked; a half-installed
    package, or one that needs a reinstall (flag C(R)), is installed again.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  _input:
    description: The output of C(dpkg-query --show --showformat='${db:Status-Abbrev}|${Version}' PACKAGE); empty when dpkg does not know the package.
    type: str
    required: true
  version:
    description: The version the package must have (C(dpkg-deb --field FILE Version)).
    type: str
    required: true
  interrupted:
    description: Whether dpkg's journal (C(/var/lib/dpkg/updates)) has files, the mark of an interrupted run.
    type: bool
    default: false
  depends_installed:
    description:
      - Whether every package the file depends on is installed, so that C(dpkg --install) alone installs it
        (RV(meshops.istio_vm.sidecar_package_info#module:file.depends_installed)).
      - C(dpkg --install) of a local file takes about a second less than C(apt-get install), which loads
        and solves the whole package index first. With a dependency missing, dpkg would leave the package
        unpacked and unconfigured, so apt-get installs it then.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Finish an interrupted dpkg run
  ansible.builtin.command:
    argv: [dpkg, --configure, -a]
  when: (query.stdout | meshops.istio_vm.dpkg_plan(deb_version.stdout, journal.matched > 0)).configure
"""

RETURN = r"""
_value:
  description: The steps, in this order.
  type: dict
  contains:
    state:
      description: The package's state in words (C(installed), C(not installed), C(unpacked), C(half-installed), ...).
      type: str
    configure:
      description: Run C(dpkg --configure -a) first.
      type: bool
    install:
      description: Then install the package file.
      type: bool
    reinstall:
      description: Install it with C(--reinstall) (the same version is there, but broken).
      type: bool
    installer:
      description:
        - What installs the file, C(dpkg) (C(dpkg --install), which always reinstalls) when O(depends_installed),
          else C(apt-get) (C(apt-get install), which fetches what the package depends on).
      type: str
"""

# the second letter of ${db:Status-Abbrev}: dpkg's current state of the package
_STATES = {
    "n": "not installed", "c": "config-files", "H": "half-installed", "U": "unpacked",
    "F": "half-configured", "W": "triggers-awaited", "t": "triggers-pending", "i": "installed",
}
_CONFIGURABLE = frozenset("UFWt")


def dpkg_plan(value, version, interrupted=False, depends_installed=False):
    abbrev, _sep, installed = (value or "").partition("|")
    abbrev = abbrev.ljust(3)
    state = _STATES.get(abbrev[1], "not installed")
    broken = abbrev[1] == "H" or abbrev[2] == "R"
    same = installed.strip() == str(version).strip() and abbrev[1] not in "nc "
    configure = bool(interrupted) or abbrev[1] in _CONFIGURABLE or broken
    if broken:
        install, reinstall = True, same
    elif abbrev[1] == "i" or abbrev[1] in _CONFIGURABLE:
        install, reinstall = not same, False
    else:
        install, reinstall = True, False
    return {"state": state + (", reinstall required" if abbrev[2] == "R" else ""),
            "configure": configure, "install": install, "reinstall": reinstall,
            "installer": "dpkg" if depends_installed else "apt-get"}


class FilterModule:
    def filters(self):
        return {"dpkg_plan": dpkg_plan}
