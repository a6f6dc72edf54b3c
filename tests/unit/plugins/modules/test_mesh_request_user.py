# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mesh_request's peer handshake as the sidecar's user: a VM without that user is a result to report
(verify.yml keeps the VM in its report), not a crash of the module."""
from __future__ import annotations

import os

import pytest

from ansible_collections.meshops.istio_vm.plugins.modules.mesh_request import _as_user


@pytest.mark.skipif(os.geteuid() != 0, reason="the handshake changes user only when run as root")
def test_a_missing_proxy_user_is_an_error_to_report():
    value, error = _as_user("meshops-no-such-user", lambda: "handshake")
    assert value is None
    assert error == "no user meshops-no-such-user on this VM (is the istio-sidecar package installed?)"


@pytest.mark.skipif(os.geteuid() != 0, reason="the handshake changes user only when run as root")
def test_the_handshake_runs_as_the_user():
    value, error = _as_user("nobody", os.geteuid)
    assert error == "" and value not in (None, 0)
