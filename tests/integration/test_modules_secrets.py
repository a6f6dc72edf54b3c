# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secrets in the connection options never show: a kubeconfig given as a dictionary (its client
key) and a proxy URL with a password, in results, errors, diffs and at -vvv."""
from __future__ import annotations

import json

import yaml

from ansible_run import run_module

PROXY_PASSWORD = "Mesh0psPr0xyMarker"


def test_kubeconfig_dictionary_credentials_are_masked(lab, namespace):
    kubeconfig = yaml.safe_load(lab.kubeconfig.read_text())
    key = kubeconfig["users"][0]["user"]["client-key-data"]
    args = {"kubeconfig": kubeconfig, "name": "secret-check", "namespace": namespace,
            "address": "10.213.0.98", "labels": {"app": "secret-check"}, "service_account": "sa"}
    r = run_module(None, "workload_entry", args, verbosity=3)
    assert r["changed"] and not r["failed"], r.get("msg")     # the dictionary works as a credential
    assert key not in r["_stdout"] and key not in json.dumps(r)
    assert '"module_args"' in r["_stdout"], "-vvv shows the invocation: the check above read it"
    failed = run_module(None, "workload_entry", dict(args, address="not an address!"), verbosity=3)
    assert failed["failed"] and key not in failed["_stdout"]


def test_proxy_password_is_masked(lab):
    r = run_module(lab.kubeconfig, "mesh_info", {"proxy": f"http://meshops:{PROXY_PASSWORD}@127.0.0.1:9"},
                   verbosity=3)
    assert r["failed"], "a dead proxy must fail the task"
    assert PROXY_PASSWORD not in r["_stdout"] and PROXY_PASSWORD not in json.dumps(r)
