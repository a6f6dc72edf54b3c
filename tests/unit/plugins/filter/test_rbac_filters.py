# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio_vm.plugins.filter.mesh_permissions import mesh_permissions
from ansible_collections.meshops.istio_vm.plugins.filter.rbac_objects import rbac_objects

VM = {"namespace": "vms", "workload": "db", "service_account": "db", "mode": "static",
      "service_object": None, "service_entry_objects": [], "sidecar_object": None}


def test_options_given_as_strings_are_booleans():
    # Ansible templates may hand booleans over as strings: "False" must not count as true
    plain = mesh_permissions([VM], "onboard")
    assert mesh_permissions([VM], "onboard", create_identity="False", prune="no") == plain
    assert len(mesh_permissions([VM], "onboard", create_identity="true")) > len(plain)


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="mesh_permissions: operation 'nope'"):
        mesh_permissions([VM], "nope")
    with pytest.raises(AnsibleFilterError, match="mesh_permissions"):
        mesh_permissions([{"namespace": "vms"}], "verify")
    with pytest.raises(AnsibleFilterError, match="mesh_permissions"):
        mesh_permissions([VM], "onboard", prune="maybe")


def test_round_trip_to_objects():
    objs = rbac_objects(mesh_permissions([VM], "verify"), {"kind": "Group", "name": "ops"}, name="x")
    assert {o["metadata"]["name"] for o in objs} == {"x"}
    assert objs[1]["subjects"] == [{"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}]


@pytest.mark.parametrize("subject", [None, {}, {"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": "a"}])
def test_subject_is_checked(subject):
    with pytest.raises(AnsibleFilterError, match="subject must have kind"):
        rbac_objects([], subject)
