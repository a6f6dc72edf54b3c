# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""`lab up` on a running lab is harmless; `status` and `env` describe it."""
from __future__ import annotations

import subprocess

from conftest import LAB

from meshlab.core import Proc


def _pids(cfg) -> dict[str, int]:
    return {p.stem: Proc(cfg, p.stem).pid() for p in cfg.pids.glob("*.json")}


def test_up_twice_is_harmless(lab):
    before = _pids(lab.cfg)
    res = subprocess.run([str(LAB), "up", "--vms", str(len(lab.vms))], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "starting" not in res.stdout and "booting" not in res.stdout
    assert _pids(lab.cfg) == before


def test_status_and_env(lab):
    res = subprocess.run([str(LAB), "status"], capture_output=True, text=True, check=False)
    assert res.returncode == 0
    assert "https://10.213.0.1:6443" in res.stdout and "10.213.0.11:22" in res.stdout
    env = subprocess.run([str(LAB), "env"], capture_output=True, text=True, check=False).stdout
    assert f"export KUBECONFIG={lab.kubeconfig}" in env
