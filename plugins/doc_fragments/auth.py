# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Cluster connection options, shared by every module that talks to the Kubernetes API.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary. The credentials inside a
        dictionary (C(token), C(client-key-data), C(password) and the like of C(users[].user), the values of
        an exec plugin's C(env), and the user and password of a C(clusters[].cluster.proxy-url)) are masked in
        results, diffs, errors and the invocation shown at C(-vvv).
      - Defaults to C(~/.kube/config), then to the in-cluster service account.
      - Can also be set with E(K8S_AUTH_KUBECONFIG).
    type: raw
  context:
    description:
      - The kubeconfig context to use. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA bundle that signs the API server's certificate. Can also be set with E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate file. Can also be set with E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Client key file. Can also be set with E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for the API server connection. Can also be set with E(K8S_AUTH_PROXY).
      - User and password in the URL (C(http://user:password@proxy:3128)) are masked in results and errors.
    type: str
requirements:
  - kubernetes >= 30 (Python library)
"""

    # Options of the modules that make one Istio object present or absent.
    APPLY = r"""
options:
  name:
    description:
      - Name of the object. Required unless O(objects) is given.
    type: str
  namespace:
    description:
      - Namespace of the object.
    type: str
    default: default
  metadata_labels:
    description:
      - Labels of the object itself (C(metadata.labels)).
    type: dict
  metadata_annotations:
    description:
      - Annotations of the object itself (C(metadata.annotations)).
    type: dict
  state:
    description:
      - V(present) applies the object with server-side apply (field manager C(meshops.istio_vm)).
      - V(absent) deletes it when it is this collection's, applied by its field manager or labelled
        C(app.kubernetes.io/managed-by=meshops.istio_vm). Any other, made by hand, by C(istioctl) or
        by another tool under the same name, stays as it is, with a warning (RV(method) V(kept) for the
        Istio kinds).
    type: str
    choices: [present, absent]
    default: present
  force_conflicts:
    description:
      - Take over fields that another field manager owns instead of failing with a conflict.
    type: bool
    default: false
  create:
    description:
      - With O(state=present), V(false) changes only an object that exists and never creates one, for objects
        that another controller creates and owns (istiod's auto-registered WorkloadEntries). The write carries
        the UID of the object read, so an object deleted since is not made again, nor one of the same name
        that took its place. RV(method) is then V(missing), with no change.
    type: bool
    default: true
    version_added: 0.2.0
  objects:
    description:
      - Batch form. A list of dictionaries, each holding the options of one object (the same
        names as this module's options, including O(name) and O(namespace)).
      - All objects are validated before any is written; each namespace and name may be given
        only once. One LIST per namespace reads them, only the objects that differ are written,
        several at a time.
      - Every object is tried. When some fail, the task fails naming each, and still returns
        C(changed) and the C(results) of all objects (those that failed with C(failed) and C(msg)).
      - Mutually exclusive with O(name).
    type: list
    elements: dict
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Uses the API server's dry run (C(dryRun=All)), so admission and validation run as for real.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before and after as the API server stores them, without server-owned metadata.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

    # The modules that only read (mesh_info, workload_entry_info).
    INFO_ATTRIBUTES = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: Read-only; nothing to diff.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
"""

    # The cluster-side modules: run by their action plugin in the controller's process.
    IN_PROCESS = r"""
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - On the controller (C(delegate_to=localhost), connection C(local), no C(become)) the action plugin runs the
        module's code in Ansible's worker process, with the same options, results, check and diff mode. Elsewhere,
        or with E(MESHOPS_ISTIO_VM_IN_PROCESS=0) on the controller, the module runs on the target as usual.
  action_group:
    description: Use C(group/meshops.istio_vm.k8s) in C(module_defaults) to set defaults for this module.
    support: full
    details: Member of the action group C(meshops.istio_vm.k8s) (C(meta/runtime.yml)).
    membership:
      - meshops.istio_vm.k8s
"""
