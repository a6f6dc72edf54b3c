# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""run_direct (the action plugins' path) returns what the module returns, case by case.

Each case runs the module for real (a Python process, AnsibleModule reading its arguments as
Ansible passes them) and ``run_direct`` in this process, and requires the same result. The
cases need no cluster: they end in argument validation, in the collection's own validation
before any API call, or in a test module (direct_toy.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ansible_collections
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import run_direct
from ansible_collections.meshops.istio_vm.plugins.modules import service_entry, vm_bootstrap, workload_entry, workload_group

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import direct_toy  # noqa: E402  pylint: disable=wrong-import-position

SECRET = "s3cr3t-marker-0042"

CASES = {
    "unsupported option": (workload_group, {"name": "g", "bogus": 1}, False),
    "name and objects": (workload_group, {"name": "g", "objects": []}, False),
    "neither name nor objects": (workload_group, {"namespace": "vms"}, False),
    "wrong choice": (workload_entry, {"name": "e", "address": "10.0.0.1", "wait": "soon"}, False),
    "wrong type": (workload_entry, {"name": "e", "address": "10.0.0.1", "weight": "heavy"}, False),
    "collection's validation": (workload_group, {"name": "Bad_Name", "template": {"labels": {"a b": "c"}}}, True),
    "batch validation": (workload_entry, {"objects": [{"name": "a", "address": "x y"}, {"nme": "b"}]}, False),
    "batch with wrongly typed values": (service_entry, {"objects": [
        {"name": "se", "hosts": ["*.example.com"], "resolution": "DYNAMIC_DNS", "location": "MESH_INTERNAL",
         "metadata_labels": {"istio.io/use-waypoint": 5}, "ports": [{"number": 443, "name": "tls", "protocol": 443}],
         "export_to": [["vms"]]}]}, False),
    "mutually exclusive": (vm_bootstrap, {"workload_group": "g", "dest": "/tmp/x", "internal_ip": "10.0.0.1",
                                          "external_ip": "10.0.0.2"}, False),
    "required missing": (vm_bootstrap, {"workload_group": "g"}, False),
    "secret in a failing validation": (workload_group, {"name": "g", "api_key": SECRET, "bogus": SECRET}, False),
    "kubeconfig dict secret in a failing validation": (workload_group, {"name": "g", "bogus": 1, "kubeconfig": {
        "users": [{"name": "u", "user": {"token": SECRET}}]}}, False),
    "kubeconfig dict secret with name and objects": (workload_group, {"name": "g", "objects": [], "kubeconfig": {
        "users": [{"name": "u", "user": {"token": SECRET}}]}}, False),
    "proxy password in a failing validation": (workload_entry, {"name": "e", "address": "10.0.0.1", "weight": "heavy",
                                                                "proxy": "http://user:%s@proxy:3128" % SECRET}, False),
    "toy result": (direct_toy, {"name": "n", "api_key": SECRET, "count": "7"}, False),
    "toy check mode": (direct_toy, {"name": "n", "check": True}, True),
    "toy warning": (direct_toy, {"name": "n", "warn": True}, False),
    "toy option and its alias": (direct_toy, {"name": "n", "validate_certs": True, "verify_ssl": True}, False),
    "toy failure with details": (direct_toy, {"name": "n", "fail": True, "api_key": SECRET,
                                              "proxy": "http://user:%s@proxy:3128" % SECRET}, False),
    "toy kubeconfig dict secret": (direct_toy, {"name": "n", "kubeconfig": {"users": [{"name": "u", "user": {
        "token": SECRET}}]}}, False),
    "toy secret from the environment": (direct_toy, {"name": "n"}, False),
}


def module_result(module, args, check_mode, env):
    """Run the module as a process, as Ansible does, and parse its one line of JSON."""
    internal = {"_ansible_check_mode": check_mode, "_ansible_module_name": "meshops.istio_vm." + module.SPEC.name}
    roots = [str(Path(p).parent) for p in ansible_collections.__path__] + [str(HERE)]
    code = "import sys; from %s import main; main()" % module.__name__
    res = subprocess.run([sys.executable, "-c", code, json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, **internal)})],
                         capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(roots), **env))
    result = json.loads(res.stdout.strip().splitlines()[-1])
    if "warnings" in result:   # serialized as WarningSummary objects, which the controller shows as text
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_direct_returns_what_the_module_returns(case, monkeypatch):
    module, args, check_mode = CASES[case]
    env = {"K8S_AUTH_API_KEY": SECRET} if "environment" in case else {}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    expected = module_result(module, args, check_mode, env)
    got = run_direct(module.SPEC, args, check_mode)
    assert SECRET not in json.dumps(expected)
    assert got == expected
    assert SECRET not in json.dumps(got)


def test_the_cases_cover_failure_success_warnings_and_masking():
    results = {case: run_direct(m.SPEC, a, c) for case, (m, a, c) in CASES.items()}
    assert results["toy result"]["echo"]["count"] == 7 and results["toy result"]["items"] == [1, 2]
    assert results["toy result"]["echo"]["api_key"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert results["toy check mode"]["checked"] is True and results["toy check mode"]["changed"] is False
    assert results["toy warning"]["warnings"] == ["careful with n"]
    assert results["toy failure with details"]["status"] == 409
    assert "Unsupported parameters for (meshops.istio_vm.workload_group) module: bogus" in \
        results["unsupported option"]["msg"]
    assert "Bad_Name" in results["collection's validation"]["msg"]
    assert results["batch with wrongly typed values"]["msg"] == "; ".join([
        'service_entry: objects[0] (se): metadata_labels["istio.io/use-waypoint"]: value 5 is not a string',
        "objects[0] (se): ports[0].protocol: unsupported protocol 443 (one of TCP, UDP, GRPC, GRPC-WEB, HTTP, "
        "HTTP_PROXY, HTTP2, HTTPS, TLS, MONGO, REDIS, MYSQL)",
        "objects[0] (se): export_to[0]: ['vms'] must be a string"])
    assert all(results[c].get("failed") for c in CASES if not c.startswith("toy") or "failure" in c)
    assert "invocation" in results["toy result"]


class TaggedStr(str):
    """Like the controller's templated strings: a str subclass (Ansible tags its values)."""


def test_run_sees_plain_types_as_a_module_does():
    """PyYAML's safe dumper (vm_bootstrap renders mesh.yaml with it) refuses str subclasses."""
    got = run_direct(direct_toy.SPEC, {"name": TaggedStr("n"), "kubeconfig": {"users": [TaggedStr("u")]}}, False)
    assert got.get("plain_str") is True, got
    assert module_result(direct_toy, {"name": "n"}, False, {})["plain_str"] is True
