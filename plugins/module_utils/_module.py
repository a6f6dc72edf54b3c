# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# PRIVATE module_utils: this API is internal to meshops.istio_vm and may change at any time,
# without notice and without a changelog entry. Do not import it from other collections.

"""The driver shared by every cluster-side module: argspec, validate everything, then act, once.

Each module declares one ``ModuleSpec`` (its argument spec and its ``run`` function). The same
spec runs two ways, with one code path for the logic:

* as a module (``main()`` -> ``execute``): Ansible copies it to the target and runs it there;
* in the controller's worker process (``run_direct``), from the module's action plugin
  (plugins/plugin_utils/in_process.py): the cluster tasks run ``delegate_to: localhost``, and
  there starting a Python interpreter per task cost more than the API calls themselves.

``run_direct`` validates with the same ``ArgumentSpecValidator`` that ``AnsibleModule`` uses and
returns what the module would: the same messages, ``changed``, diff, ``warnings``,
``invocation`` and no_log masking.
"""

from __future__ import annotations

import copy
import functools
import json
import traceback
import warnings
from typing import Any, Callable, Dict, List, NamedTuple, Sequence, Tuple

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError

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

COMMON = ("auth", "state", "force_conflicts", "create", "objects")


def resource_argument_spec(kind_spec: Dict[str, Any]) -> Dict[str, Any]:
    spec: Dict[str, Any] = {}
    spec.update(copy.deepcopy(AUTH_ARG_SPEC))
    spec.update(copy.deepcopy(APPLY_ARG_SPEC))
    spec.update(copy.deepcopy(METADATA_ARG_SPEC))
    spec.update(copy.deepcopy(kind_spec))
    spec["objects"] = {"type": "list", "elements": "dict"}
    return spec


def _item_params(module: Any, kind_spec: Dict[str, Any], item: Dict[str, Any], index: int,
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


class ModuleSpec(NamedTuple):
    """What a module is: its options and the function that does its work.

    ``run(module)`` reads ``module.params`` and ``module.check_mode``, may call ``module.warn``,
    returns the result dictionary and raises ``MeshError`` for any failure.
    """
    name: str
    argument_spec: Dict[str, Any]
    run: Callable[[Any], Dict[str, Any]]
    mutually_exclusive: Sequence[Sequence[str]] = ()
    required_one_of: Sequence[Sequence[str]] = ()
    libraries: Tuple[Tuple[str, bool], ...] = ()
    needs_kubernetes: bool = True

    @property
    def fqcn(self) -> str:
        return "meshops.istio_vm." + self.name


def missing_libraries(spec: ModuleSpec) -> List[str]:
    missing = ["kubernetes"] if spec.needs_kubernetes and not _client.HAS_KUBERNETES else []
    return missing + [name for name, present in spec.libraries if not present]


class _MeshModule(AnsibleModule):
    """AnsibleModule that masks ``secret_values()`` (the credentials in a kubeconfig given as a
    dictionary, a proxy's password) in everything it reports, also when the argument validation
    in its constructor fails."""

    def _load_params(self) -> None:
        super()._load_params()
        # before the constructor validates, logs the invocation or fails
        self.no_log_values.update(secret_values(self.params))

    def _add_secret_values(self) -> None:
        # again after validation: the options' values may come from the environment
        self.no_log_values.update(secret_values(getattr(self, "params", None) or {}))

    def exit_json(self, **kwargs):
        self._add_secret_values()
        super().exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        self._add_secret_values()
        super().fail_json(msg, **kwargs)


def execute(spec: ModuleSpec) -> None:
    """The body of every module's main(): check the libraries, run, and turn the one error type
    into fail_json, once."""
    module = _MeshModule(argument_spec=spec.argument_spec, supports_check_mode=True,
                         mutually_exclusive=[list(group) for group in spec.mutually_exclusive],
                         required_one_of=[list(group) for group in spec.required_one_of])
    missing = missing_libraries(spec)
    if missing:
        module.fail_json(msg=missing_required_lib(" and ".join(missing)),
                         exception=str(_client.KUBERNETES_IMPORT_ERROR or ""))
    try:
        module.exit_json(**spec.run(module))
    except MeshError as exc:
        module.fail_json(msg=exc.message, **exc.details)


class DirectTask:
    """What ``run`` sees of AnsibleModule when it runs in the controller's process."""

    def __init__(self, params: Dict[str, Any], check_mode: bool, diff: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode
        self._diff = diff   # AnsibleModule's name for it: whether the task runs with --diff
        self.warnings: List[str] = []

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)


def _masked(result: Dict[str, Any], secrets: set) -> Dict[str, Any]:
    """As AnsibleModule returns it: JSON types, no_log values masked, booleans and None kept."""
    result = json.loads(json.dumps(result, default=str))
    kept = {key: value for key, value in result.items() if value is None or isinstance(value, bool)}
    result = remove_values(result, secrets)
    result.update(kept)
    return result


def run_direct(spec: ModuleSpec, args: Dict[str, Any], check_mode: bool, diff: bool = False) -> Dict[str, Any]:
    """Run ``spec`` in this process as Ansible would run the module: the module's result.

    The arguments go through JSON as they do on their way to a module: plain ``str``, ``dict``
    and ``list`` (the controller's templated values are subclasses that carry Ansible's tags,
    which PyYAML's safe dumper, for one, refuses)."""
    raw = json.loads(json.dumps(args, default=str))
    validation = ArgumentSpecValidator(
        spec.argument_spec, mutually_exclusive=[list(group) for group in spec.mutually_exclusive],
        required_one_of=[list(group) for group in spec.required_one_of]).validate(raw)
    params = validation.validated_parameters
    # the no_log option values, including those set from the environment: AnsibleModule reads the
    # same attribute (ansible-core has no public accessor for it); and the secrets inside options,
    # of the arguments as given and as validated, before any of the returns below
    secrets = set(validation._no_log_values)  # pylint: disable=protected-access
    secrets |= secret_values(raw) | secret_values(params)
    invocation = {"module_args": params}
    try:
        first_error = validation.errors[0]
    except IndexError:
        first_error = None
    if first_error is not None:
        msg = validation.errors.msg
        if isinstance(first_error, UnsupportedError):
            msg = "Unsupported parameters for (%s) module: %s" % (spec.fqcn, msg)
        return _masked({"failed": True, "msg": msg, "invocation": invocation}, secrets)
    missing = missing_libraries(spec)
    if missing:
        return _masked({"failed": True, "msg": missing_required_lib(" and ".join(missing)),
                        "exception": str(_client.KUBERNETES_IMPORT_ERROR or ""), "invocation": invocation}, secrets)
    task = DirectTask(params, check_mode, diff)
    # what AnsibleModule's validator warns of (ModuleArgumentSpecValidator): an option and its alias both set
    task.warnings.extend("Both option {option} and its alias {alias} are set.".format(**found)
                         for found in validation._warnings)  # pylint: disable=protected-access
    try:
        with warnings.catch_warnings():     # a module's Python warnings go to its stderr, unseen
            warnings.simplefilter("ignore")
            result = spec.run(task)
    except MeshError as exc:
        result = dict(exc.details, failed=True, msg=exc.message)
    except Exception as exc:  # pylint: disable=broad-except  # a module would fail the same way
        result = {"failed": True, "msg": "%s: %s" % (type(exc).__name__, exc), "exception": traceback.format_exc()}
    if task.warnings:
        result["warnings"] = task.warnings
    result["invocation"] = invocation
    return _masked(result, secrets)


def resource_spec(kind: str, prefix: str, kind_spec: Dict[str, Any],
                  after: Callable[[Any, Dict[str, Any], Dict[str, Any], bool], Dict[str, Any]] = None,
                  after_many: Callable[[Any, Dict[str, Any], List[Dict[str, Any]], Dict[str, Any], bool], Dict[str, Any]] = None
                  ) -> ModuleSpec:
    """The spec of workload_entry, workload_group, service_entry, sidecar and workload_service.

    ``after`` (one object) and ``after_many`` (the batch form: the module's options, every
    object's options and the batch result) run once the objects are written, for example to wait
    for them."""
    return ModuleSpec(prefix, resource_argument_spec(kind_spec),
                      lambda m: _run(m, kind, prefix, kind_spec, after, after_many),
                      mutually_exclusive=[("name", "objects")], required_one_of=[("name", "objects")])


def _warn_kept(module: Any, objects: List[Dict[str, Any]], results: List[Dict[str, Any]]) -> None:
    """Say which objects state=absent left because this collection never applied them."""
    for obj, result in zip(objects, results):
        if result.get("method") == "kept":
            module.warn("%s %s/%s was not deleted: it is not this collection's (no apply entry of field manager %s, "
                        "no label app.kubernetes.io/managed-by=%s); it was made by hand or by another tool, delete it "
                        "yourself if it must go" % (obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"],
                                                    _client.FIELD_MANAGER, _client.FIELD_MANAGER))


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


def _run(module: Any, kind: str, prefix: str, kind_spec: Dict[str, Any], after, after_many) -> Dict[str, Any]:
    state, check = module.params["state"], module.check_mode
    force, create = module.params["force_conflicts"], module.params["create"]
    if module.params["objects"] is not None:
        param_sets = [_item_params(module, kind_spec, item, i, prefix)
                      for i, item in enumerate(module.params["objects"])]
    else:
        param_sets = [dict(module.params)]
    objects: List[Dict[str, Any]] = []
    warnings: List[str] = []
    errors: List[str] = []
    first: Dict[Tuple[str, str], int] = {}      # (namespace, name) -> the index of the object that has it
    for i, params in enumerate(param_sets):       # validate everything before any write
        try:
            obj, warns = _identity(kind, params) if state == "absent" else build(kind, params)
        except ValidationError as exc:
            where = "objects[%d] (%s): " % (i, params.get("name")) if module.params["objects"] is not None else ""
            errors.extend(where + e for e in exc.errors)
            continue
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        if key in first:    # the batch writes in parallel: which of the two would win is chance
            errors.append("objects[%d] (%s): the same namespace and name (%s/%s) as objects[%d]; give each object "
                          "once" % (i, key[1], key[0], key[1], first[key]))
            continue
        first[key] = i
        objects.append(obj)
        warnings.extend(warns)
    if errors:
        raise ValidationError(prefix, errors)
    client = _client.MeshClient.from_params(auth_params(module.params))
    for warning in warnings:
        module.warn(warning)
    if module.params["objects"] is None:
        result = ensure(client, objects[0], state, check, force, create=create)
        _warn_kept(module, objects[:1], [result])
        if after is not None:
            result = after(client, module.params, result, check)
        return result
    if not objects:
        return {"changed": False, "results": [], "diff": []}
    results = ensure_many(client, objects, state, check, force, create=create)
    _warn_kept(module, objects, results)
    result = {"changed": any(r["changed"] for r in results),
              "results": [dict(r, name=o["metadata"]["name"], namespace=o["metadata"]["namespace"])
                          for r, o in zip(results, objects)],
              "diff": [r["diff"] for r in results]}
    if after_many is not None:
        result = after_many(client, module.params, param_sets, result, check)
    return result
