#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_account
short_description: Manage the namespace and ServiceAccount a VM workload runs as
version_added: 0.1.0
description:
  - Makes a Kubernetes ServiceAccount (the VM workload's mesh identity,
    C(spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/NAME)) present or absent with server-side apply,
    and with O(create_namespace) its namespace too.
  - The first apply marks the ServiceAccount with the annotation C(istio-vm.meshops.io/origin), C(created) when
    this module created it and C(adopted) when it existed before (one that pods run as, for example); later
    applies keep the mark.
  - O(state=absent) deletes only the ServiceAccount, never the namespace, and only one marked C(created) or
    without the mark. One marked C(adopted) is given back instead (RV(method) C(released)); an apply of the bare
    ServiceAccount takes off the fields that only this collection set (the mark among them), and it stays.
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  name:
    description:
      - Name of the ServiceAccount.
    type: str
    required: true
  namespace:
    description:
      - Namespace of the ServiceAccount.
    type: str
    default: default
  create_namespace:
    description:
      - Also make sure of the namespace before the ServiceAccount.
      - Without O(namespace_labels) the namespace is only read, and created when it is missing; one that
        exists is left as it is. So the identity needs only C(get) of that namespace, not C(patch), which
        would let it change the namespace's labels, Pod Security Admission's among them.
    type: bool
    default: true
  namespace_labels:
    description:
      - Labels of the namespace, applied with O(create_namespace) (server-side apply), for example C(istio.io/rev).
      - Given (even empty), the namespace is applied with them; labels this module applied before and no
        longer given are taken off.
    type: dict
  metadata_labels:
    description:
      - Labels of the ServiceAccount.
    type: dict
  metadata_annotations:
    description:
      - Annotations of the ServiceAccount.
    type: dict
  state:
    description:
      - V(present) or V(absent).
    type: str
    choices: [present, absent]
    default: present
  force_conflicts:
    description:
      - Take over fields that another field manager owns instead of failing with a conflict.
    type: bool
    default: false
extends_documentation_fragment:
  - meshops.istio_vm.auth
  - meshops.istio_vm.auth.in_process
  - meshops.istio_vm.auth.attributes
seealso:
  - module: meshops.istio_vm.workload_group
"""

EXAMPLES = r"""
- name: Identity of the ratings VMs
  meshops.istio_vm.service_account:
    name: ratings-vm
    namespace: ratings
"""

RETURN = r"""
method:
  description: What happened to the ServiceAccount.
  returned: always
  type: str
  sample: created
  choices: [created, updated, unchanged, deleted, released, absent]
namespace_method:
  description: What happened to the namespace (C(skipped) without O(create_namespace) or with O(state=absent)).
  returned: always
  type: str
  sample: unchanged
result:
  description: The ServiceAccount as the API server stores it (without server-owned metadata).
  returned: always
  type: dict
diff:
  description: Before and after of the ServiceAccount, for diff mode.
  returned: always
  type: dict
"""

from ansible_collections.meshops.istio_vm.plugins.module_utils import _client
from ansible_collections.meshops.istio_vm.plugins.module_utils._args import AUTH_ARG_SPEC, auth_params
from ansible_collections.meshops.istio_vm.plugins.module_utils._errors import ValidationError
from ansible_collections.meshops.istio_vm.plugins.module_utils._module import ModuleSpec, execute
from ansible_collections.meshops.istio_vm.plugins.module_utils._runner import ensure, with_origin
from ansible_collections.meshops.istio_vm.plugins.module_utils._validate import (
    check_annotations,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_labels,
)


def build(params):
    """Pure: (namespace object, service account object), or ValidationError."""
    errors = []
    for option, check in (("name", check_dns1123_subdomain), ("namespace", check_dns1123_label)):
        problem = check(params[option])
        if problem:
            errors.append("%s: %s" % (option, problem))
    for option in ("namespace_labels", "metadata_labels"):
        if params.get(option) is not None:
            errors += check_labels(option, params[option])
    if params.get("metadata_annotations") is not None:
        errors += check_annotations("metadata_annotations", params["metadata_annotations"])
    if errors:
        raise ValidationError("service_account", errors)
    ns_meta = {"name": params["namespace"]}
    if params.get("namespace_labels"):
        ns_meta["labels"] = dict(params["namespace_labels"])
    sa_meta = {"name": params["name"], "namespace": params["namespace"]}
    for option, key in (("metadata_labels", "labels"), ("metadata_annotations", "annotations")):
        if params.get(option) is not None:
            sa_meta[key] = dict(params[option])
    return ({"apiVersion": "v1", "kind": "Namespace", "metadata": ns_meta},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta})


def ensure_namespace(client, namespace, labelled, check, force_conflicts):
    """The namespace applied when it is ``labelled`` or missing; an existing one without labels to give
    is only read (no write, so no ``patch`` of it is needed). One read either way."""
    live = client.get("Namespace", None, namespace["metadata"]["name"])
    if live is not None and not labelled:
        return {"changed": False, "method": "unchanged"}
    return ensure(client, namespace, "present", check, force_conflicts, live=live)


def run(module):
    params, check = module.params, module.check_mode
    namespace, account = build(params)
    client = _client.MeshClient.from_params(auth_params(params))
    ns_result = {"method": "skipped", "changed": False}
    if params["create_namespace"] and params["state"] == "present":
        ns_result = ensure_namespace(client, namespace, params.get("namespace_labels") is not None, check,
                                     params["force_conflicts"])
    if check and ns_result["method"] == "created":
        # the namespace does not exist yet: a dry run of the account inside it would fail
        account = with_origin(account, None)
        result = {"changed": True, "method": "created", "result": account,
                  "diff": {"before": {}, "after": account}}
    else:
        result = ensure(client, account, params["state"], check, params["force_conflicts"])
    result["changed"] = result["changed"] or ns_result["changed"]
    result["namespace_method"] = ns_result["method"]
    return result


ARGUMENT_SPEC = dict(AUTH_ARG_SPEC)
ARGUMENT_SPEC.update(
    name={"type": "str", "required": True},
    namespace={"type": "str", "default": "default"},
    create_namespace={"type": "bool", "default": True},
    namespace_labels={"type": "dict"},
    metadata_labels={"type": "dict"},
    metadata_annotations={"type": "dict"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    force_conflicts={"type": "bool", "default": False},
)
SPEC = ModuleSpec("service_account", ARGUMENT_SPEC, run)


def main():
    execute(SPEC)


if __name__ == "__main__":
    main()
