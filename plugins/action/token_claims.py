# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Runs meshops.istio_vm.token_claims in the controller's process (plugins/plugin_utils/in_process.py)."""

from __future__ import annotations

from ansible_collections.meshops.istio_vm.plugins.modules.token_claims import SPEC
from ansible_collections.meshops.istio_vm.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    SPEC = SPEC
