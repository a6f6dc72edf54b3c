#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) meshops.istio_vm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_state_info
short_description: What a VM shows of its sidecar (certificate, token claims, files, readiness), in one module run
version_added: 0.2.0
description:
  - Reads on the VM, in one run, what checking a VM against the inventory needs, namely the workload
    certificate's SPIFFE IDs and expiry, the claims of the service account token (never the token), the
    SHA-256 of files, the text of the hosts file, and the answer of the sidecar's readiness endpoint;
    each only when its option is given. It replaces an M(ansible.builtin.stat) and C(openssl) task for
    the certificate, an M(ansible.builtin.stat) per file, an M(ansible.builtin.slurp), an
    M(ansible.builtin.uri) and a M(meshops.istio_vm.token_claims) task, each of which costs a round trip
    to the VM.
  - With O(ready_wait), it keeps asking O(ready_url) until the answer is 200 and reads the rest once it
    is (a wait in one module run, instead of an M(ansible.builtin.uri) run for each ask).
  - Changes nothing; the readiness request is a C(GET).
author:
  - meshops.istio_vm maintainers (@meshops)
options:
  cert:
    description:
      - The workload certificate (PEM). Read with C(openssl x509) when the VM has openssl, else with the
        VM's Python. A missing file is reported, not an error.
    type: path
  token:
    description:
      - The service account token file whose claims are read, as M(meshops.istio_vm.token_claims) reads
        them. The token itself is never returned.
    type: path
  checksum:
    description:
      - Files whose SHA-256 is returned. A missing or unreadable file is reported, not an error.
    type: list
    elements: path
    default: []
  hosts:
    description:
      - The hosts file whose text is returned (C(/etc/hosts)).
    type: path
  ready_url:
    description:
      - The sidecar's readiness endpoint (C(http://localhost:15021/healthz/ready)), asked with a C(GET) once,
        or for O(ready_wait) seconds until it answers 200.
      - Asked directly, never through a proxy from the environment (C(http_proxy), C(https_proxy), in
        either case), as the endpoint is on the VM itself, which a proxy elsewhere cannot reach.
    type: str
  ready_timeout:
    description:
      - Seconds to wait for each answer of O(ready_url).
    type: int
    default: 5
  ready_wait:
    description:
      - Seconds to keep asking O(ready_url) until it answers 200, O(ready_interval) apart. The other
        reads happen after the wait, so they show the VM once the sidecar is ready.
      - V(0) asks once. The module does not fail when the wait ends without a 200; C(ready.status) tells.
    type: int
    default: 0
  ready_interval:
    description:
      - Seconds between two asks during O(ready_wait), at least V(0.1). A smaller value asks every
        tenth of a second, so that the wait never spins; a negative value is refused.
    type: float
    default: 1
extends_documentation_fragment:
  - meshops.istio_vm.auth.info_attributes
seealso:
  - module: meshops.istio_vm.token_claims
  - module: meshops.istio_vm.sidecar_package_info
"""

EXAMPLES = r"""
- name: Read the VM's certificate, token claims, cluster.env, /etc/hosts and readiness
  meshops.istio_vm.vm_state_info:
    cert: /etc/certs/cert-chain.pem
    token: /var/lib/istio/tokens/istio-token
    checksum: [/var/lib/istio/envoy/cluster.env]
    hosts: /etc/hosts
    ready_url: http://localhost:15021/healthz/ready
  become: true
  register: vm_state

- name: Wait up to two minutes for the sidecar to answer ready, then read its certificate
  meshops.istio_vm.vm_state_info:
    ready_url: http://localhost:15021/healthz/ready
    ready_wait: 120
    ready_interval: 0.5
    cert: /etc/certs/cert-chain.pem
  become: true
  register: vm_ready
  failed_when: vm_ready.ready.status != 200

- name: The certificate is for the workload's service account
  ansible.builtin.assert:
    that: "'spiffe://cluster.local/ns/bookinfo/sa/ratings' in vm_state.cert.uris"
"""

RETURN = r"""
cert:
  description: The workload certificate of O(cert).
  returned: when O(cert) is given
  type: dict
  contains:
    exists:
      description: Whether O(cert) exists.
      type: bool
    uris:
      description: The URIs of its subject alternative names (its SPIFFE IDs).
      type: list
      elements: str
    not_after:
      description: Its expiry as openssl prints it, runs of spaces collapsed; empty when it has none.
      type: str
    seconds_left:
      description: Seconds until it expires (negative once it has); -1 when there is no certificate or expiry.
      type: int
    chain:
      description:
        - The certificates of the file, in its order, each as base64 DER (public certificates, at most 16) - the
          workload's certificate, its intermediates and the root bundle istiod appends. Empty when the file holds
          none.
        - The filters C(meshops.istio_vm.vm_token_status) and C(meshops.istio_vm.verify_drift) check on the
          controller whether one of the mesh's roots issued the workload's certificate.
      type: list
      elements: str
      version_added: 0.2.0
  sample: {"exists": true, "uris": ["spiffe://cluster.local/ns/bookinfo/sa/ratings"],
           "not_after": "Dec 3 12:00:00 2026 GMT", "seconds_left": 86012, "chain": ["MIIC...", "MIIB..."]}
claims:
  description:
    - The claims of O(token), as M(meshops.istio_vm.token_claims) returns them, C(iss), C(sub), C(left)
      (seconds until it expires) and C(token) (whether the file holds a token); only C(token) (false) when
      it holds none.
  returned: when O(token) is given
  type: dict
  sample: {"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:bookinfo:ratings", "left": 3412,
           "token": true}
checksums:
  description: The SHA-256 of each file of O(checksum), lower case, by path; empty for a file that is missing or unreadable.
  returned: always
  type: dict
  sample: {"/var/lib/istio/envoy/cluster.env": "9f86d0..."}
hosts:
  description: The text of O(hosts); empty when it cannot be read.
  returned: when O(hosts) is given
  type: str
  sample: "127.0.0.1 localhost\n10.213.0.5 istiod.istio-system.svc\n"
ready:
  description:
    - The answer of O(ready_url). C(status) is the HTTP status, -1 without an answer; C(msg) is worded as
      M(ansible.builtin.uri) words it, for any status but 200 C(Status code was 503 and not [200]) followed by the reason.
    - C(url) is O(ready_url); C(attempts) the number of asks (1 without O(ready_wait)). With O(ready_wait), the
      last answer.
  returned: when O(ready_url) is given
  type: dict
  sample: {"status": 200, "msg": "OK (unknown bytes)", "url": "http://localhost:15021/healthz/ready", "attempts": 2}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio_vm.plugins.module_utils._files import read_text
from ansible_collections.meshops.istio_vm.plugins.module_utils._token import status
from ansible_collections.meshops.istio_vm.plugins.module_utils._vmstate import ask_ready, vm_reads, wait_ready


def run(module):
    params = module.params
    # First: with a wait, the reads below show the VM once its sidecar is ready.
    ready = None
    if params["ready_url"]:
        ready = wait_ready(lambda: ask_ready(params["ready_url"], params["ready_timeout"]),
                           params["ready_wait"], params["ready_interval"])
        ready["url"] = params["ready_url"]
    now = time.time()
    result = {"changed": False, "checksums": {}}
    result.update(vm_reads(module, params["checksum"], params["cert"], params["hosts"], now=now))
    if params["token"]:
        result["claims"] = status(read_text(params["token"]), None, now)
    if ready is not None:
        result["ready"] = ready
    return result


def main():
    module = AnsibleModule(
        argument_spec={"cert": {"type": "path"},
                       "token": {"type": "path", "no_log": False},
                       "checksum": {"type": "list", "elements": "path", "default": []},
                       "hosts": {"type": "path"},
                       "ready_url": {"type": "str"},
                       "ready_timeout": {"type": "int", "default": 5},
                       "ready_wait": {"type": "int", "default": 0},
                       "ready_interval": {"type": "float", "default": 1}},
        supports_check_mode=True)
    if module.params["ready_interval"] < 0:
        module.fail_json(msg="ready_interval must not be negative, not %s" % module.params["ready_interval"])
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
