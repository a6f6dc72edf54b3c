# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The seed scenarios' objects, exactly as Istio's docs write them, through the modules: each
object read back from the API server equals the pasted one field by field (seed_objects.yml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest
import yaml

from ansible_run import run_module
from mesh_state import istio_object

SEEDS = yaml.safe_load((Path(__file__).with_name("seed_objects.yml")).read_text())
PLURALS = {"WorkloadEntry": "workloadentries", "WorkloadGroup": "workloadgroups", "ServiceEntry": "serviceentries",
           "Sidecar": "sidecars"}


def fields(value: Any, path: str = "") -> Iterator[Tuple[str, Any]]:
    """Every leaf of ``value`` as (path, value); empty dicts and lists are leaves too."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from fields(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from fields(item, f"{path}[{index}]")
    else:
        yield path, value


def test_the_seeds_cover_the_four_kinds():
    assert sorted(seed["object"]["kind"] for seed in SEEDS) == sorted(PLURALS)


@pytest.mark.parametrize("seed", SEEDS, ids=[seed["object"]["kind"] for seed in SEEDS])
def test_seed_object_written_exactly_as_pasted(seed: Dict[str, Any], lab, api_client, namespace):
    wanted = seed["object"]
    result = run_module(lab.kubeconfig, seed["module"], dict(seed["options"], namespace=namespace))
    assert not result["failed"], result.get("msg")
    assert result["changed"] and result["method"] == "created"
    warnings = result.get("warnings", [])
    if seed.get("warning"):
        assert any(seed["warning"] in w for w in warnings), warnings
    else:
        assert not warnings

    live = istio_object(api_client, PLURALS[wanted["kind"]], namespace, wanted["metadata"]["name"])
    assert live is not None
    assert (live["apiVersion"], live["kind"]) == (wanted["apiVersion"], wanted["kind"])
    got, want = dict(fields(live["spec"])), dict(fields(wanted["spec"]))
    assert [(path, got.get(path, "<missing>"), value) for path, value in want.items() if got.get(path) != value] == []
    assert sorted(set(got) - set(want)) == [], "fields the seed does not have"
