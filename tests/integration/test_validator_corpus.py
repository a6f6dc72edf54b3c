# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Our validators against the lab's API server: the same verdict on every object of a corpus.

Each case of validator_corpus.yml goes through ``_specs.VALIDATORS`` in-process and, as the object
``_specs.BUILDERS`` makes of it, through the API server as a create with ``dryRun=All`` (the Istio
CRD schemas and istiod's validating webhook run, nothing is stored). Both must accept or both
refuse, as the case's ``accept`` says; a case with ``stricter_reason`` is one that ours refuses on
purpose while the server accepts it. The report of the stricter cases is printed (``-s``)."""
from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml
from kubernetes import client

from ansible_collections.meshops.istio_vm.plugins.module_utils import _specs
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError

CORPUS = yaml.safe_load((Path(__file__).with_name("validator_corpus.yml")).read_text())
PLURALS = {"WorkloadEntry": "workloadentries", "WorkloadGroup": "workloadgroups", "ServiceEntry": "serviceentries",
           "Sidecar": "sidecars"}
REFUSED = (400, 422)  # 422: schema or CEL rule (Invalid); 400: istiod's webhook denied it


def cases() -> List[Tuple[str, Dict[str, Any]]]:
    return [(kind, case) for kind in CORPUS for case in CORPUS[kind]]


def ours(kind: str, params: Dict[str, Any]) -> Tuple[bool, str]:
    try:
        _specs.VALIDATORS[kind](params)
    except ValidationError as exc:
        return False, "; ".join(exc.errors)
    return True, ""


def server(api: client.CustomObjectsApi, kind: str, namespace: str, obj: Dict[str, Any]) -> Tuple[bool, str]:
    try:
        api.create_namespaced_custom_object("networking.istio.io", "v1", namespace, PLURALS[kind], obj, dry_run="All")
    except client.rest.ApiException as exc:
        if exc.status not in REFUSED:
            raise
        return False, json.loads(exc.body).get("message", exc.body)
    return True, ""


def test_corpus_is_broad():
    per_kind = collections.Counter(kind for kind, _case in cases())
    assert set(per_kind) == set(PLURALS) and min(per_kind.values()) >= 10, per_kind
    verdicts = collections.Counter(case["accept"] for _kind, case in cases())
    assert verdicts[True] >= 15 and verdicts[False] >= 25, verdicts
    names = [case["name"] for _kind, case in cases()]
    assert len(names) == len(set(names))
    assert all(case["accept"] for _kind, case in cases() if case.get("stricter_reason"))


def test_our_verdict_is_the_servers(api_client, namespace):
    api = client.CustomObjectsApi(api_client)
    wrong, stricter = [], []
    for kind, case in cases():
        params = dict(case["options"], name=case["name"], namespace=namespace)
        our_ok, our_why = ours(kind, params)
        server_ok, server_why = server(api, kind, namespace, _specs.BUILDERS[kind](params))
        want_ours = case["accept"] and not case.get("stricter_reason")
        if server_ok != case["accept"] or our_ok != want_ours:
            wrong.append(f"{kind} {case['name']}: corpus says accept={case['accept']}"
                         f"{' (ours stricter)' if case.get('stricter_reason') else ''}; server "
                         f"{'accepts' if server_ok else 'refuses: ' + server_why}; ours "
                         f"{'accepts' if our_ok else 'refuses: ' + our_why}")
        elif case.get("stricter_reason"):
            stricter.append(f"{kind} {case['name']}: {our_why}\n    why: {case['stricter_reason'].strip()}")
    print("\nOurs is stricter than the API server on purpose (%d):\n  %s" % (len(stricter), "\n  ".join(stricter)))
    assert wrong == [], "\n".join(wrong)
    assert len(stricter) == sum(1 for _kind, case in cases() if case.get("stricter_reason"))
