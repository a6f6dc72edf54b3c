# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The driver's pure part: what state=absent sends, per kind; how one object of the batch form gets
its options (``_item_params``); and ``_run``'s order: every object validated before a client exists."""

from __future__ import annotations

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.meshops.istio_vm.plugins.module_utils._args import METADATA_ARG_SPEC
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import DirectTask, _identity, _item_params
from ansible_collections.meshops.istio_vm.plugins.modules import workload_entry


@pytest.mark.parametrize("kind, api_version", [
    ("Service", "v1"),
    ("WorkloadEntry", "networking.istio.io/v1"),
    ("Sidecar", "networking.istio.io/v1"),
])
def test_absent_identity_has_the_kinds_api_version(kind, api_version):
    obj, warnings = _identity(kind, {"name": "ratings", "namespace": "vms", "selector": None})
    assert obj == {"apiVersion": api_version, "kind": kind, "metadata": {"name": "ratings", "namespace": "vms"}}
    assert warnings == []


@pytest.mark.parametrize("kind, params, message", [
    ("Service", {"name": "ratings.vm", "namespace": "vms"}, "name: 'ratings.vm' is not a DNS-1035 label"),
    ("Service", {"name": None, "namespace": "vms"}, "name: is required"),
    ("WorkloadEntry", {"name": "vm", "namespace": "Bad_NS"}, "namespace: 'Bad_NS' is not a DNS-1123 label"),
])
def test_absent_identity_checks_the_kinds_name_rule(kind, params, message):
    with pytest.raises(ValidationError) as info:
        _identity(kind, params)
    assert message in str(info.value)


def test_absent_identity_of_a_dotted_istio_name_is_fine():
    assert _identity("WorkloadEntry", {"name": "ratings.vm", "namespace": "vms"})[0]["metadata"]["name"] == "ratings.vm"


# -- _item_params: one object of the batch form, from the module's options and its own --------

def module_params(args):
    """The options as AnsibleModule would hand them over (defaults, env fallbacks, types)."""
    result = ArgumentSpecValidator(workload_entry.SPEC.argument_spec).validate(args)
    assert not result.errors.errors, result.errors.msg
    return result.validated_parameters


@pytest.fixture
def no_credential(monkeypatch, tmp_path):
    """No cluster credential anywhere: a client built by _run fails with 'No cluster credential'."""
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "K8S_AUTH_KUBECONFIG", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY",
                 "K8S_AUTH_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_an_object_inherits_the_modules_metadata_and_kind_defaults(no_credential):
    task = DirectTask(module_params({"objects": [], "namespace": "vms", "metadata_labels": {"team": "db"},
                                     "labels": {"app": "db"}, "weight": 3}), False)
    params = _item_params(task, workload_entry.KIND_SPEC, {"name": "db-1", "address": "10.0.0.1"}, 0, "workload_entry")
    assert params["name"] == "db-1" and params["address"] == "10.0.0.1"
    assert (params["namespace"], params["metadata_labels"]) == ("vms", {"team": "db"})
    assert (params["labels"], params["weight"]) == ({"app": "db"}, 3)          # the module's spec options
    assert (params["wait"], params["wait_timeout"], params["health_checks"]) == ("none", 120, False)
    assert set(params) == set(METADATA_ARG_SPEC) | set(workload_entry.KIND_SPEC)   # no auth, state or objects


def test_an_objects_own_options_win_and_its_name_is_never_inherited(no_credential):
    task = DirectTask(module_params({"objects": [], "namespace": "vms", "labels": {"app": "db"}}), False)
    task.params["name"] = "from-the-module"      # impossible through the argspec; _item_params must not care
    params = _item_params(task, workload_entry.KIND_SPEC,
                          {"namespace": "other", "labels": {"app": "web"}, "wait": "healthy"}, 0, "workload_entry")
    assert (params["name"], params["namespace"], params["labels"], params["wait"]) == (
        None, "other", {"app": "web"}, "healthy")


def test_a_kind_default_does_not_replace_a_value_the_module_sets(no_credential):
    task = DirectTask(module_params({"objects": [], "wait": "healthy", "wait_timeout": 30}), False)
    params = _item_params(task, workload_entry.KIND_SPEC, {"name": "a"}, 0, "workload_entry")
    assert (params["wait"], params["wait_timeout"]) == ("healthy", 30)


def test_a_module_option_left_unset_falls_back_to_the_kinds_default(no_credential):
    task = DirectTask(module_params({"objects": []}), False)
    task.params["wait_timeout"] = None       # a caller that did not apply the argspec's defaults
    assert _item_params(task, workload_entry.KIND_SPEC, {"name": "a"}, 0, "workload_entry")["wait_timeout"] == 120


def test_unknown_options_of_an_object_are_named_with_its_index(no_credential):
    task = DirectTask(module_params({"objects": []}), False)
    with pytest.raises(ValidationError) as info:
        _item_params(task, workload_entry.KIND_SPEC, {"name": "a", "kubeconfig": "/x", "adress": "1.2.3.4"}, 2,
                     "workload_entry")
    assert info.value.errors == ["objects[2]: unknown option(s) adress, kubeconfig"]
    assert info.value.message == "workload_entry: objects[2]: unknown option(s) adress, kubeconfig"


# -- _run: everything is validated before a client exists, then the objects go out once --------

def run(args, check_mode=False):
    task = DirectTask(module_params(args), check_mode)
    return task, workload_entry.SPEC.run(task)


def test_every_object_is_validated_before_any_client_is_built(no_credential):
    # No credential: had _run built the client first, the error would be "No cluster credential".
    with pytest.raises(ValidationError) as info:
        run({"objects": [{"name": "a", "address": "x y"}, {"name": "b", "address": "10.0.0.2"},
                         {"name": "c", "address": "10.0.0.3", "ports": {"http": 70000}}]})
    assert len(info.value.errors) == 2
    assert info.value.errors[0].startswith("objects[0] (a): address: ")
    assert info.value.errors[1].startswith("objects[2] (c): ports.http: ")
    assert info.value.message.startswith("workload_entry: objects[0] (a): ")


def test_the_single_form_names_no_index(no_credential):
    with pytest.raises(ValidationError) as info:
        run({"name": "a", "namespace": "vms", "address": "x y"})
    assert info.value.errors and all(e.startswith("address: ") for e in info.value.errors)


def test_valid_objects_reach_the_client(no_credential):
    with pytest.raises(MeshError) as info:
        run({"objects": [{"name": "a", "address": "10.0.0.1"}]})
    assert not isinstance(info.value, ValidationError)
    assert info.value.message.startswith("No cluster credential")


@pytest.mark.parametrize("args", [
    {"name": "a", "namespace": "vms", "state": "absent", "address": "x y"},
    {"state": "absent", "objects": [{"name": "a", "address": "x y", "ports": {"http": 70000}}]},
])
def test_absent_checks_only_name_and_namespace(no_credential, args):
    with pytest.raises(MeshError) as info:
        run(args)
    assert info.value.message.startswith("No cluster credential")


@pytest.mark.parametrize("args, error", [
    ({"name": "A", "namespace": "vms", "state": "absent"}, "name: "),
    ({"state": "absent", "objects": [{"name": "a", "namespace": "Bad_NS"}]}, "objects[0] (a): namespace: "),
])
def test_absent_still_refuses_a_bad_identity(no_credential, args, error):
    with pytest.raises(ValidationError) as info:
        run(args)
    assert info.value.errors[0].startswith(error)


@pytest.mark.parametrize("state", ["present", "absent"])
def test_an_object_given_twice_is_refused_before_any_client_is_built(no_credential, state):
    # The batch writes in parallel: the last write of the same object would win at random.
    with pytest.raises(ValidationError) as info:
        run({"state": state, "namespace": "vms", "objects": [
            {"name": "a", "address": "10.0.0.1"}, {"name": "b", "address": "10.0.0.2"},
            {"name": "a", "address": "10.0.0.3"}, {"name": "b", "namespace": "other", "address": "10.0.0.4"},
            {"name": "a", "namespace": "vms", "address": "10.0.0.5"}]})
    assert info.value.errors == [
        "objects[2] (a): the same namespace and name (vms/a) as objects[0]; give each object once",
        "objects[4] (a): the same namespace and name (vms/a) as objects[0]; give each object once"]


def test_an_empty_batch_changes_nothing_and_calls_no_api(tmp_path, monkeypatch):
    # A real client to a port where nothing listens: any API call would fail (after its retries).
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
                  "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                  "users": [{"name": "u", "user": {"token": "t"}}],
                  "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}
    task, result = run({"objects": [], "kubeconfig": kubeconfig})
    assert result == {"changed": False, "results": [], "diff": []}
    assert task.warnings == []
