# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The driver shared by the resource modules: argspec, validate everything, then act, once."""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable, Dict, List

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import (
    APPLY_ARG_SPEC,
    AUTH_ARG_SPEC,
    METADATA_ARG_SPEC,
    auth_params,
    secret_values,
)
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import MeshError, ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import ensure, ensure_many
from ansible_collections.meshops.istio_vm.plugins.module_utils._specs import API_VERSIONS, build, check_name
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import check_dns1123_label

COMMON = ("auth", "state", "force_conflicts", "objects")


def resource_argument_spec(kind_spec: Dict[str, Any]) -> Dict[str, Any]:
    spec: Dict[str, Any] = {}
    spec.update(copy.deepcopy(AUTH_ARG_SPEC))
    spec.update(copy.deepcopy(APPLY_ARG_SPEC))
    spec.update(copy.deepcopy(METADATA_ARG_SPEC))
    spec.update(copy.deepcopy(kind_spec))
    spec["objects"] = {"type": "list", "elements": "dict"}
    return spec


def _item_params(module: AnsibleModule, kind_spec: Dict[str, Any], item: Dict[str, Any], index: int,
                 prefix: str) -> Dict[str, Any]:
    allowed = set(METADATA_ARG_SPEC) | set(kind_spec)
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValidationError(prefix, ["objects[%d]: unknown option(s) %s" % (index, ", ".join(unknown))])
    params = {key: module.params.get(key) for key in allowed}
    params["name"] = None
    for key, spec in kind_spec.items():
        if "default" in spec and module.params.get(key) is None:
            params[key] = spec["default"]
    params.update(item)
    return params


def execute(module: AnsibleModule, run: Callable[[AnsibleModule], Dict[str, Any]],
            libraries: Dict[str, bool] = None) -> None:
    """The body of every module's main(): check the libraries, run, and turn the one error type
    into fail_json, once."""
    missing = [] if _client.HAS_KUBERNETES else ["kubernetes"]
    missing += [name for name, present in (libraries or {}).items() if not present]
    if missing:
        module.fail_json(msg=missing_required_lib(" and ".join(missing)),
                         exception=str(_client.KUBERNETES_IMPORT_ERROR or ""))
    module.no_log_values.update(secret_values(module.params))
    try:
        module.exit_json(**run(module))
    except MeshError as exc:
        module.fail_json(msg=exc.message, **exc.details)


def run_resource(kind: str, prefix: str, kind_spec: Dict[str, Any],
                 after: Callable[[Any, Dict[str, Any], Dict[str, Any], bool], Dict[str, Any]] = None) -> None:
    """main() of workload_entry, workload_group, service_entry, sidecar and workload_service."""
    module = AnsibleModule(argument_spec=resource_argument_spec(kind_spec), supports_check_mode=True,
                           mutually_exclusive=[("name", "objects")], required_one_of=[("name", "objects")])
    execute(module, lambda m: _run(m, kind, prefix, kind_spec, after))


def _identity(kind: str, params: Dict[str, Any]) -> tuple:
    """For state=absent only the name and namespace matter: (object, warnings), or ValidationError."""
    errors = []
    for option, check in (("name", functools.partial(check_name, kind)), ("namespace", check_dns1123_label)):
        problem = "is required" if params.get(option) is None else check(params[option])
        if problem:
            errors.append("%s: %s" % (option, problem))
    if errors:
        raise ValidationError(kind, errors)
    return {"apiVersion": API_VERSIONS[kind], "kind": kind,
            "metadata": {"name": params["name"], "namespace": params["namespace"]}}, []


def _run(module: AnsibleModule, kind: str, prefix: str, kind_spec: Dict[str, Any], after) -> Dict[str, Any]:
    state, check = module.params["state"], module.check_mode
    force = module.params["force_conflicts"]
    if module.params["objects"] is not None:
        param_sets = [_item_params(module, kind_spec, item, i, prefix)
                      for i, item in enumerate(module.params["objects"])]
    else:
        param_sets = [dict(module.params)]
    objects: List[Dict[str, Any]] = []
    warnings: List[str] = []
    errors: List[str] = []
    for i, params in enumerate(param_sets):       # validate everything before any write
        try:
            obj, warns = _identity(kind, params) if state == "absent" else build(kind, params)
        except ValidationError as exc:
            where = "objects[%d] (%s): " % (i, params.get("name")) if module.params["objects"] is not None else ""
            errors.extend(where + e for e in exc.errors)
            continue
        objects.append(obj)
        warnings.extend(warns)
    if errors:
        raise ValidationError(prefix, errors)
    client = _client.MeshClient.from_params(auth_params(module.params))
    for warning in warnings:
        module.warn(warning)
    if module.params["objects"] is None:
        result = ensure(client, objects[0], state, check, force)
        if after is not None:
            result = after(client, module.params, result, check)
        return result
    if not objects:
        return {"changed": False, "results": [], "diff": []}
    results = ensure_many(client, objects, state, check, force)
    return {"changed": any(r["changed"] for r in results),
            "results": [dict(r, name=o["metadata"]["name"], namespace=o["metadata"]["namespace"])
                        for r, o in zip(results, objects)],
            "diff": [r["diff"] for r in results]}
