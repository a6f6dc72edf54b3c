# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The batch form's logic over an in-memory API: partial failures and one wait for all.

The lab proves the same against the real API server (test_modules_ladder.py); these cases pin
the bookkeeping: which results come back, in which order, and what changed.
"""

from __future__ import annotations

import copy

import pytest

from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import ensure_many
from ansible_collections.meshops.istio_vm.plugins.modules.workload_entry import wait_healthy, wait_healthy_many


class MemoryApi:
    """Objects in a dict; ``refuse`` names objects whose write fails; ``healthy_after`` counts LISTs."""

    def __init__(self, refuse=(), healthy_after=None):
        self.objects, self.refuse, self.lists, self.healthy_after = {}, set(refuse), 0, healthy_after or {}

    def list(self, kind, namespace, selector=""):
        self.lists += 1
        out = []
        for (ns, name), obj in sorted(self.objects.items()):
            if ns == namespace:
                obj = copy.deepcopy(obj)
                if self.healthy_after.get(name, 10 ** 6) <= self.lists:
                    obj["status"] = {"conditions": [{"type": "Healthy", "status": "True"}]}
                out.append(obj)
        return out

    def apply(self, desired, dry_run=False, force=False):
        meta = desired["metadata"]
        if meta["name"] in self.refuse:
            raise MeshError("conflict with another field manager on .spec.labels.app")
        obj = copy.deepcopy(desired)
        obj["metadata"]["managedFields"] = [{"manager": "meshops.istio_vm", "operation": "Apply", "fieldsV1": {
            "f:spec": {"f:address": {}}}}]
        if not dry_run:
            self.objects[(meta["namespace"], meta["name"])] = obj
        return obj


def entry(name, address):
    return {"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry",
            "metadata": {"name": name, "namespace": "vms"}, "spec": {"address": address}}


def test_every_object_is_tried_and_each_result_returned_with_the_failure():
    api = MemoryApi(refuse={"b"})
    with pytest.raises(MeshError) as info:
        ensure_many(api, [entry("a", "10.0.0.1"), entry("b", "10.0.0.2"), entry("c", "10.0.0.3")],
                    "present", False, False)
    details = info.value.details
    assert "1 of 3 WorkloadEntry objects failed" in info.value.message and "vms/b: conflict" in info.value.message
    methods = [(r["name"], r["method"]) for r in details["results"]]
    assert methods == [("a", "created"), ("b", "failed"), ("c", "created")]
    assert details["changed"] is True and details["results"][1]["failed"]
    assert sorted(api.objects) == [("vms", "a"), ("vms", "c")]


def test_a_batch_that_writes_nothing_before_failing_reports_no_change():
    api = MemoryApi(refuse={"a"})
    with pytest.raises(MeshError) as info:
        ensure_many(api, [entry("a", "10.0.0.1")], "present", False, False)
    assert info.value.details["changed"] is False and not api.objects


PRESENT = {"state": "present"}


def params(name, wait="healthy", timeout=2):
    return {"namespace": "vms", "name": name, "wait": wait, "wait_timeout": timeout}


def batch_result(*names):
    return {"changed": True, "diff": [], "results": [{"name": n, "namespace": "vms", "result": {}} for n in names]}


def test_one_wait_for_all_entries_returns_their_status():
    api = MemoryApi(healthy_after={"a": 2, "b": 3})
    api.objects = {("vms", n): entry(n, "10.0.0.1") for n in ("a", "b", "c")}
    out = wait_healthy_many(api, PRESENT, [params("a"), params("b"), params("c", wait="none")], batch_result("a", "b", "c"),
                            False)
    assert api.lists == 3    # one LIST per poll for the namespace, not one read per entry
    assert out["results"][0]["result"]["status"]["conditions"][0]["status"] == "True"
    assert "status" not in out["results"][2]["result"]


def test_the_wait_names_the_entries_that_stay_unhealthy():
    api = MemoryApi(healthy_after={"a": 1})
    api.objects = {("vms", n): entry(n, "10.0.0.1") for n in ("a", "b")}
    with pytest.raises(MeshError) as info:
        wait_healthy_many(api, PRESENT, [params("a", timeout=0), params("b", timeout=0)], batch_result("a", "b"), False)
    assert "1 of 2 WorkloadEntries to be Healthy: vms/b" in info.value.message
    assert info.value.details["unhealthy"] == ["vms/b"] and len(info.value.details["results"]) == 2


def test_no_wait_in_check_mode_or_without_healthy():
    api = MemoryApi()
    assert wait_healthy_many(api, PRESENT, [params("a")], batch_result("a"), True) == batch_result("a")
    assert wait_healthy_many(api, PRESENT, [params("a", wait="none")], batch_result("a"), False) == batch_result("a")
    assert api.lists == 0


def test_no_wait_for_absent():
    api = MemoryApi()
    assert wait_healthy_many(api, {"state": "absent"}, [params("a")], batch_result("a"), False) == batch_result("a")
    assert api.lists == 0


class Forbidden(MemoryApi):
    def list(self, kind, namespace, selector=""):
        self.lists += 1
        raise MeshError("Failed to list WorkloadEntry in namespace vms: forbidden")

    def get(self, kind, namespace, name):
        raise MeshError("Failed to read WorkloadEntry vms/%s: forbidden" % name)


def test_an_api_error_in_the_wait_is_that_error_not_a_timeout_and_keeps_what_was_written():
    api = Forbidden()
    with pytest.raises(MeshError) as info:
        wait_healthy_many(api, PRESENT, [params("a", timeout=60)], batch_result("a"), False)
    assert info.value.message == ("Failed to list WorkloadEntry in namespace vms: forbidden "
                                  "(the entries are applied, see results)") and api.lists == 1
    assert info.value.details == batch_result("a")
    written = {"changed": True, "method": "created", "result": {}}
    with pytest.raises(MeshError) as info:
        wait_healthy(api, dict(params("a", timeout=60), state="present"), written, False)
    assert info.value.message == "Failed to read WorkloadEntry vms/a: forbidden (the entry is applied, see result)"
    assert info.value.details == written


def test_the_single_forms_timeout_keeps_what_was_written():
    class Unhealthy(MemoryApi):
        def get(self, kind, namespace, name):
            return entry(name, "10.0.0.1")

    written = {"changed": True, "method": "created", "result": entry("a", "10.0.0.1"),
               "diff": {"before": {}, "after": {"spec": {"address": "10.0.0.1"}}}}
    with pytest.raises(MeshError) as info:
        wait_healthy(Unhealthy(), dict(params("a", timeout=0), state="present"), written, False)
    assert info.value.message == ("Timed out after 0s waiting for WorkloadEntry vms/a to be Healthy "
                                  "(the entry is applied, see result)")
    assert info.value.details == written


def test_no_wait_for_an_entry_that_create_false_did_not_make():
    """method missing (create: false): nothing to wait for; the others are waited for as before."""
    api = Forbidden()      # a read would fail the test
    missing = {"changed": False, "method": "missing", "result": {}}
    assert wait_healthy(api, dict(params("a", timeout=60), state="present"), missing, False) == missing
    result = batch_result("a")
    result["results"][0]["method"] = "missing"
    assert wait_healthy_many(api, PRESENT, [params("a", timeout=60)], result, False) == result and api.lists == 0
    api = MemoryApi(healthy_after={"b": 1})
    api.objects = {("vms", "b"): entry("b", "10.0.0.1")}
    result = batch_result("a", "b")
    result["results"][0]["method"] = "missing"
    out = wait_healthy_many(api, PRESENT, [params("a", timeout=0), params("b", timeout=0)], result, False)
    assert out["results"][1]["result"]["status"]["conditions"][0]["status"] == "True"
