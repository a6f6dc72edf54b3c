# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A module for test_in_process.py: what run() may do, without a cluster."""

from __future__ import annotations

from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute


def run(module):
    params = module.params
    if params["fail"]:
        raise MeshError("failed with %s" % params["api_key"], {"status": 409, "proxy": params["proxy"]})
    if params["warn"]:
        module.warn("careful with %s" % params["name"])
    return {"changed": params["check"] != module.check_mode, "echo": dict(params), "items": (1, 2),
            "checked": module.check_mode, "plain_str": type(params["name"]).__name__ == "str"}


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(name={"type": "str", "required": True}, count={"type": "int", "default": 3},
                     fail={"type": "bool", "default": False}, warn={"type": "bool", "default": False},
                     check={"type": "bool", "default": False}, other={"type": "str"})
SPEC = ModuleSpec("direct_toy", ARGUMENT_SPEC, run, mutually_exclusive=[("name", "other")])


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()
