# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs last (pytest orders files by name): `lab down` leaves no lab process and no lab link behind."""
from __future__ import annotations

import os
import subprocess

from conftest import LAB

from meshlab import hosts
from meshlab.core import Proc


def test_down_leaves_nothing(lab):
    pids = {}
    for path in lab.cfg.pids.glob("*.json"):
        pid = Proc(lab.cfg, path.stem).pid()
        if pid:
            pids[path.stem] = pid
    assert {"kube-apiserver", "istiod", "pkg-server"} <= set(pids)
    res = subprocess.run([str(LAB), "down"], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    for name, pid in pids.items():
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", name
    assert hosts.lab_links(lab.cfg) == []
    assert subprocess.run([str(LAB), "status"], capture_output=True, check=False).returncode != 0
