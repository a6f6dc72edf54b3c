# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every run of dpkg by vm_sidecar that may replace a config file of the package (sidecar.env) says up front
which to keep, so that dpkg never asks and waits (tests/integration/test_package_src.py shows the dpkg --install
path on a VM), and runs in the C locale where the role reads dpkg's or find's messages."""
from __future__ import annotations

from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "vm_sidecar"
VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))


def tasks(name):
    return {task["name"]: task for task in yaml.safe_load((ROLE / "tasks" / name).read_text(encoding="utf-8"))}


def test_the_answer_keeps_the_vms_file():
    assert VARS["__vm_sidecar_dpkg_conffiles"] == ["--force-confdef", "--force-confold"]
    assert VARS["__vm_sidecar_apt_conffiles"] == ["-o", "Dpkg::Options::=--force-confdef",
                                                  "-o", "Dpkg::Options::=--force-confold"]


def test_every_dpkg_run_that_installs_gives_the_answer():
    package = tasks("package.yml")
    raw = package["Install istio-sidecar from the .deb with dpkg"]["ansible.builtin.raw"]
    assert "dpkg ' ~ (__vm_sidecar_dpkg_conffiles | join(' '))" in raw and raw.rstrip().endswith("' </dev/null' }}")
    assert "'LC_ALL=C DEBIAN_FRONTEND=noninteractive DPKG_COLORS=never dpkg '" in raw
    configure = package["Finish an interrupted dpkg run (dpkg --configure -a)"]
    assert "['dpkg'] + __vm_sidecar_dpkg_conffiles + ['--configure', '-a']" in configure["ansible.builtin.command"]["argv"]
    apt = package["Install istio-sidecar from the .deb with apt-get (and its dependencies)"]["ansible.builtin.command"]
    assert "+ __vm_sidecar_apt_conffiles" in apt["argv"]


def test_the_messages_the_role_reads_are_in_the_c_locale():
    package, absent = tasks("package.yml"), tasks("absent.yml")
    assert package["Finish an interrupted dpkg run (dpkg --configure -a)"]["environment"]["LC_ALL"] == "C"
    assert absent["Purge istio-sidecar (.deb)"]["environment"]["LC_ALL"] == "C"
    assert absent["Remove the sidecar's directories left empty"]["environment"]["LC_ALL"] == "C"
